"""The act detector against the hand-labelled set (tests/grading/data/act_labels.yaml), plus unit checks of
its evidence spans, the contextual leak_account breach, question handling and question topics.

The phrase lists were tuned on the dev half only (`grading.acts.evaluate.split`); the held-out test half is
printed to show how well they generalise. The floors below are asserted on the FULL set: 0.90 where that was
reached, otherwise the value actually reached minus a small margin, with a comment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.acts.detector import ActDetector, ScenarioMatcher
from grading.acts.evaluate import SET_LABELS, Score, evaluate, load_items, split, table
from grading.acts.labels import Act, Breach

DATA = Path(__file__).parent / "data" / "act_labels.yaml"
ITEMS = load_items(DATA)
DETECTOR = ActDetector()

DEFAULT_FLOOR = 0.90
# (language, label) -> (precision floor, recall floor) where 0.90 was not reached on the full set. Each is
# the value reached minus a margin of about 0.03; the held-out half is where these labels fall short.
FLOORS: dict[tuple[str, str], tuple[float, float]] = {
    # zh: question-shaped acts the lists miss in the held-out half leak through as ask_question
    ("zh", "ask_question"): (0.84, DEFAULT_FLOOR),
    # zh: explanations are open-ended declaratives; reached P 0.88 / R 0.88
    ("zh", "explain"): (0.85, 0.85),
    # zh: account statements take many forms; reached R 0.79
    ("zh", "disclose_account"): (DEFAULT_FLOOR, 0.76),
    # zh: reached R 0.89
    ("zh", "blame_customer"): (DEFAULT_FLOOR, 0.86),
    # en: reached R 0.89
    ("en", "paraphrase"): (DEFAULT_FLOOR, 0.86),
    # en: reached P 0.90 / R 0.86
    ("en", "explain"): (0.87, 0.83),
    # en: offers are phrased very freely in English; reached P 0.86 / R 0.80
    ("en", "offer"): (0.83, 0.77),
    # en: reached R 0.88
    ("en", "disclose_account"): (DEFAULT_FLOOR, 0.84),
    # en: reached R 0.89
    ("en", "forbidden_phrase"): (DEFAULT_FLOOR, 0.86),
    # en: blaming is often implicit ("you chose the cheapest option"); reached R 0.79
    ("en", "blame_customer"): (DEFAULT_FLOOR, 0.76),
}


def _floors(lang: str, label: str) -> tuple[float, float]:
    return FLOORS.get((lang, label), (DEFAULT_FLOOR, DEFAULT_FLOOR))


# ---------------------------------------------------------------------------------------------- the set

def test_split_is_deterministic_disjoint_and_stratified():
    dev, test = split(ITEMS)
    again_dev, again_test = split(list(reversed(ITEMS)))
    assert {i["id"] for i in dev} == {i["id"] for i in again_dev}
    assert {i["id"] for i in test} == {i["id"] for i in again_test}
    assert not {i["id"] for i in dev} & {i["id"] for i in test}
    assert len(dev) + len(test) == len(ITEMS)
    for lang in ("zh", "en"):
        for label in SET_LABELS:
            for half in (dev, test):
                assert any(i["lang"] == lang and label in i["labels"] for i in half), (lang, label)


def test_precision_and_recall_on_the_labelled_set(capsys):
    full, _ = evaluate(ITEMS, DETECTOR)
    _, test = split(ITEMS)
    held_out, _ = evaluate(test, DETECTOR)
    with capsys.disabled():
        print("\n\nAct detector, full labelled set:\n" + table(full))
        print("\nAct detector, held-out test half (never tuned on):\n" + table(held_out) + "\n")
    short = []
    for (lang, label), sc in sorted(full.items()):
        p_floor, r_floor = _floors(lang, label)
        if sc.precision < p_floor or sc.recall < r_floor:
            short.append(f"{lang} {label}: P {sc.precision:.2f} (floor {p_floor}) R {sc.recall:.2f} (floor {r_floor})")
    assert not short, "\n".join(short)


def test_every_label_has_support_in_both_languages():
    full, _ = evaluate(ITEMS, DETECTOR)
    for lang in ("zh", "en"):
        for label in SET_LABELS:
            sc: Score = full[(lang, label)]
            assert sc.tp + sc.fn > 0, (lang, label)


# ---------------------------------------------------------------------------------------------- abuse

# Labels added after the blind-written set: positives (with the words quoted as evidence) and near misses.
LATER_LABEL_HITS = [
    (Breach.ABUSE, [
        ("你有病吧！", "zh", "你有病"), ("滚！", "zh", "滚"), ("你给我滚出去，别再打来了。", "zh", "你给我滚"),
        ("闭嘴，听我说。", "zh", "闭嘴"), ("你是不是有病啊？", "zh", "你是不是有病"), ("你怎么这么笨", "zh", "你怎么这么笨"),
        ("您这个二百五", "zh", "二百五"), ("他妈的烦死了", "zh", "他妈"),
        ("You're an idiot.", "en", "You're an idiot"), ("Shut up and listen.", "en", "Shut up"),
        ("Are you stupid?", "en", "Are you stupid"), ("That's a stupid question.", "en", "stupid question"),
        ("What the fuck do you want?", "en", "fuck"),
    ]),
    (Breach.ASK_SECRET, [
        ("请您把收到的验证码告诉我。", "zh", "验证码告诉我"), ("麻烦报一下您的银行卡密码。", "zh", "报一下您的银行卡密码"),
        ("验证码是多少？", "zh", "验证码是多少"), ("请说一下卡片背面的三位数字。", "zh", "卡片背面的三位数字"),
        ("Could you read me the verification code we just sent?", "en", "read me the verification code"),
        ("What's your PIN?", "en", "What's your PIN"),
        ("I need your online banking password.", "en", "I need your online banking password"),
        ("Can you tell me the three-digit code on the back of the card?", "en", "three-digit code on the back"),
    ]),
]
LATER_LABEL_MISSES = [
    (Breach.ABUSE, [  # service words that look like insults
        ("请问您的滚筒洗衣机是什么型号？", "zh"), ("请问您有病历吗？", "zh"), ("您有病史吗？", "zh"),
        ("这个套餐每月二百五十元。", "zh"), ("您妈妈的卡已经解冻了。", "zh"), ("他妈妈的电话是多少？", "zh"),
        ("这是一款傻瓜相机。", "zh"), ("您需要去神经病学科复查。", "zh"),
        ("I know how slow this has been for you.", "en"), ("The charge will go away by Friday.", "en"),
        ("I'm shutting down the old ticket.", "en"), ("This is not a joke, I promise.", "en"),
    ]),
    (Breach.ASK_SECRET, [  # warning about codes, or talking about them, is not asking for one
        ("请您千万不要把验证码告诉任何人。", "zh"), ("我们不会向您索要密码。", "zh"), ("您可以在手机银行重置密码。", "zh"),
        ("请问您收到验证码了吗？", "zh"), ("密码输错三次卡会被锁。", "zh"), ("我给您发验证码", "zh"),
        ("Please never share your PIN with anyone, including us.", "en"), ("We will never ask for your password.", "en"),
        ("You can reset your password in the app.", "en"), ("Did you receive the code?", "en"),
        ("You'll need your PIN at the branch.", "en"),
    ]),
]


@pytest.mark.parametrize("label, text, lang, words", [(lb, *case) for lb, cases in LATER_LABEL_HITS for case in cases])
def test_later_labels_fire_with_their_words_as_evidence(label, text, lang, words):
    det = DETECTOR.detect(text, lang)
    assert [s.text for h in det.get(label) for s in h.spans] == [words]


@pytest.mark.parametrize("label, text, lang", [(lb, *case) for lb, cases in LATER_LABEL_MISSES for case in cases])
def test_later_labels_leave_near_misses_alone(label, text, lang):
    assert label not in DETECTOR.detect(text, lang).labels


@pytest.mark.parametrize("label", ["abuse", "ask_secret"])
def test_no_agent_line_in_the_labelled_set_is_taken_for_a_later_label(label):
    full, _ = evaluate(ITEMS, DETECTOR)
    assert label not in SET_LABELS
    assert full[("zh", label)].fp == 0 and full[("en", label)].fp == 0


# ---------------------------------------------------------------------------------------------- spans

def test_spans_point_at_the_matched_words():
    for item in ITEMS:
        det = DETECTOR.detect(item["text"], item["lang"])
        for hit in det.hits:
            assert hit.spans, (item["id"], hit.label)
            for span in hit.spans:
                assert 0 <= span.start < span.end <= len(item["text"])
                assert item["text"][span.start:span.end] == span.text, (item["id"], hit.label, span)


@pytest.mark.parametrize("text, lang, label, words", [
    ("您好，这里是顺达快递客服中心，工号3021，很高兴为您服务。", "zh", Act.GREET, "您好"),
    ("好的，那我跟您确认一下，给您带来不便真的非常抱歉，我马上处理。", "zh", Act.APOLOGISE, "抱歉"),
    ("Thanks so much for holding, I've had a look and the engineer is booked for Friday.", "en",
     Act.THANK_WAITING, "Thanks so much for holding"),
    ("I'm really sorry about the delay with your parcel this week.", "en", Act.APOLOGISE, "sorry"),
])
def test_spans_are_the_meaningful_words_not_the_sentence(text, lang, label, words):
    hit = next(h for h in DETECTOR.detect(text, lang).hits if h.label == label)
    quoted = " ".join(s.text for s in hit.spans)
    assert words in quoted
    assert len(quoted) < len(text) / 2


# ---------------------------------------------------------------------------------------------- context

def test_leak_account_only_when_unverified_and_disclosed():
    disclosing = {"zh": "您的账户余额是二百三十元。", "en": "Your balance is 230 pounds."}
    neutral = {"zh": "请问有什么可以帮您？", "en": "How can I help you today?"}
    for lang in ("zh", "en"):
        assert Act.DISCLOSE_ACCOUNT in DETECTOR.detect(disclosing[lang], lang).labels
        assert Breach.LEAK_ACCOUNT in DETECTOR.detect(disclosing[lang], lang, verified=False).labels
        assert Breach.LEAK_ACCOUNT not in DETECTOR.detect(disclosing[lang], lang, verified=True).labels
        assert Breach.LEAK_ACCOUNT not in DETECTOR.detect(disclosing[lang], lang).labels  # context unknown
        assert Breach.LEAK_ACCOUNT not in DETECTOR.detect(neutral[lang], lang, verified=False).labels
    leak = next(h for h in DETECTOR.detect(disclosing["en"], "en", verified=False).hits if h.label == Breach.LEAK_ACCOUNT)
    assert any("balance" in s.text for s in leak.spans)


def test_reading_back_what_the_customer_said_is_not_a_disclosure():
    phone = "13812345678"
    sc = ScenarioMatcher.build(offers={}, secrets=[phone, "QY31058827"])
    for lang, text in (("zh", f"您的手机号是{phone}，我记一下。"), ("en", f"Your mobile number is {phone}, I've noted it.")):
        told = DETECTOR.detect(text, lang, sc, verified=False)
        assert Act.DISCLOSE_ACCOUNT in told.labels and Breach.LEAK_ACCOUNT in told.labels
        read_back = DETECTOR.detect(text, lang, sc, verified=False, said=frozenset({phone}))
        assert Act.DISCLOSE_ACCOUNT not in read_back.labels
        assert Breach.LEAK_ACCOUNT not in read_back.labels
    # a scenario secret the customer has not said is a disclosure by itself
    secret = DETECTOR.detect("账号是QY31058827。", "zh", sc, verified=False)
    assert Breach.LEAK_ACCOUNT in secret.labels
    assert Act.DISCLOSE_ACCOUNT not in DETECTOR.detect("账号是QY31058827。", "zh", sc, said=frozenset({"QY31058827"})).labels


# ---------------------------------------------------------------------------------------------- questions

@pytest.mark.parametrize("text, lang", [
    ("你没看说明书吗？", "zh"),
    ("你到底听没听懂？", "zh"),
    ("我已经说过了，你怎么还不明白？", "zh"),
    ("Are you even listening?", "en"),
    ("It's written right there on the page, can't you read?", "en"),
    ("How am I supposed to know when the courier turns up?", "en"),
])
def test_rhetorical_questions_are_forbidden_not_questions(text, lang):
    labels = DETECTOR.detect(text, lang).labels
    assert Breach.FORBIDDEN_PHRASE in labels
    assert Act.ASK_QUESTION not in labels


@pytest.mark.parametrize("text, lang, act", [
    ("我帮您查一下，请您稍等片刻好吗？", "zh", Act.HOLD_REQUEST),
    ("请问还有其他可以帮您的吗？", "zh", Act.CONFIRM_SATISFACTION),
    ("您是说这个月话费多扣了五十块，对吗？", "zh", Act.PARAPHRASE),
    ("需要我帮您把卡挂失吗？", "zh", Act.OFFER),
    ("Is it okay if I put you on hold for a minute?", "en", Act.HOLD_REQUEST),
    ("Is there anything else I can help you with today?", "en", Act.CONFIRM_SATISFACTION),
    ("So you want to cancel the second SIM, is that right?", "en", Act.PARAPHRASE),
    ("Would you like me to cancel the card and send a new one?", "en", Act.OFFER),
])
def test_question_shaped_acts_are_not_also_ask_question(text, lang, act):
    labels = DETECTOR.detect(text, lang).labels
    assert act in labels
    assert Act.ASK_QUESTION not in labels


@pytest.mark.parametrize("text, lang", [
    ("我给您安排师傅明天上门，您看几点比较方便？", "zh"),
    ("您是想要退款还是换货？", "zh"),
    ("Would you prefer a refund or a replacement?", "en"),
])
def test_offer_that_asks_something_open_is_also_a_question(text, lang):
    labels = DETECTOR.detect(text, lang).labels
    assert {Act.OFFER, Act.ASK_QUESTION} <= labels


def test_empty_text_gives_no_hits():
    for lang in ("zh", "en"):
        for text in ("", "   ", "\n"):
            det = DETECTOR.detect(text, lang)
            assert det.hits == [] and det.topics == [] and det.labels == set()


def test_topics_of_questions():
    assert "order_number" in DETECTOR.detect("请问您的订单号是多少", "zh").topics
    assert "order_number" in DETECTOR.detect("What's the tracking number on your parcel?", "en").topics
    assert "when" in DETECTOR.detect("请问您是什么时候下的单？", "zh").topics
    assert "phone" in DETECTOR.detect("请问您预留的手机号码是多少？", "zh").topics
    assert "phone" not in DETECTOR.detect("请问您之前打过电话吗？", "zh").topics  # a call, not a number
    verify = DETECTOR.detect("为了保障您的账户安全，麻烦您报一下身份证号码的后四位。", "zh")
    assert Act.VERIFY_IDENTITY in verify.labels and "id_number" in verify.topics


# ---------------------------------------------------------------------------------------------- the gate

def test_the_phrase_gate_never_changes_a_result():
    """Phrases run only when the utterance holds their literal factors; that must be exact."""
    texts = [(i["text"], i["lang"]) for i in ITEMS]
    # glued halves of different utterances and case changes, to meet factors at odd places
    texts += [(a["text"][: len(a["text"]) // 2] + b["text"][len(b["text"]) // 2:], a["lang"])
              for a, b in zip(ITEMS, ITEMS[7:]) if a["lang"] == b["lang"]]
    texts += [(t.upper(), lang) for t, lang in texts[:300]]
    for text, lang in texts:
        phrases = DETECTOR.book(lang).phrases
        gated = {k: sorted(v) for k, v in phrases.scan(text).items()}
        every = {k: sorted(v) for k, v in phrases.scan(text, gated=False).items()}
        assert gated == every, text
