"""Director archetypes: who wins, who loses, and why. Driven through the shared act detector."""

from __future__ import annotations

import pytest
import yaml

from personas.director import Director
from personas.library import BUILTIN_DIR, load_library
from personas.moves import MoveKind
from personas.schema import Scenario


def play(scenario: Scenario, lang: str, lines: list[str]) -> tuple[Director, list[MoveKind]]:
    d = Director(scenario, lang)
    d.opening()
    moves = []
    for line in lines:
        if d.state.ended:
            break
        moves.append(d.step(d.detect(line)).kind)
    return d, moves


@pytest.fixture(scope="module")
def parcel() -> Scenario:
    return load_library().get("parcel-late-angry")


GOOD_ZH = [
    "您好，顺达快递客服中心，工号3021，很高兴为您服务。",
    "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？",
    "非常抱歉，我完全理解您现在着急的心情。请问具体是什么情况呢？",
    "您的意思是快件三天没动，之前还承诺过第二天到，对吗？",
    "这样，我马上为您安排免费加急重发，明天送到，您看可以吗？",
    "请问还有其他可以帮您的吗？",
    "感谢您的来电，祝您生活愉快，再见。",
]
GOOD_EN = [
    "Good morning, thank you for calling SwiftPost, my name is Anna, agent ID 4471.",
    "For security, could you confirm your full name and the last four digits of your phone number?",
    "I'm so sorry. I completely understand how frustrating this must be. Could you tell me what happened?",
    "So if I understand correctly, the parcel hasn't moved for three days and you were promised next-day delivery, is that right?",
    "Here's what I can do: I'll arrange a free express reship today so it arrives tomorrow. Would that work?",
    "Is there anything else I can help you with today?",
    "Thank you for calling SwiftPost, have a lovely day. Goodbye.",
]


@pytest.mark.parametrize("lang,lines", [("zh", GOOD_ZH), ("en", GOOD_EN)])
def test_good_call_reaches_a_satisfied_close(parcel, lang, lines):
    d, moves = play(parcel, lang, lines)
    assert d.state.end_reason == "resolved", moves
    assert MoveKind.ACCEPT in moves and moves[-1] == MoveKind.GOODBYE
    assert d.state.anger < parcel.persona.mood.anger


@pytest.mark.parametrize("lang,line", [("zh", "非常抱歉，真的对不起。"), ("en", "I'm really sorry about that.")])
def test_apology_only_never_gets_a_satisfied_close(parcel, lang, line):
    d, moves = play(parcel, lang, [line] * 30)
    assert d.state.ended and d.state.end_reason == "customer_hung_up"
    assert MoveKind.ACCEPT not in moves
    assert MoveKind.IMPATIENT in moves


@pytest.mark.parametrize("lang,lines", [
    ("zh", ["喂。", "这是规定，我也没办法。", "是您自己没看清楚。"]),
    ("en", ["Yeah?", "That's the policy, there's nothing I can do.", "It's your own fault, you should have read the terms."]),
])
def test_rude_agent_makes_the_customer_hang_up(parcel, lang, lines):
    d, moves = play(parcel, lang, lines)
    assert d.state.end_reason == "customer_hung_up"
    assert moves[-1] == MoveKind.HANG_UP


@pytest.mark.parametrize("lang,insult", [("zh", "你有病吧，闭嘴听我说。"), ("en", "Shut up, you idiot.")])
def test_an_insult_makes_the_angry_customer_hang_up(lang, insult):
    """Abuse is the shared detector's label: the director reacts to the same words the grader fails."""
    scenario = load_library().get("parcel-late-angry")
    d = Director(scenario, lang)
    d.opening()
    d.step(d.detect(GOOD_ZH[0] if lang == "zh" else GOOD_EN[0]))
    before_anger, before_trust = d.state.anger, d.state.trust
    move = d.step(d.detect(insult))
    rules = scenario.persona.rules
    assert move.kind in (MoveKind.REACT_RUDE, MoveKind.HANG_UP)
    assert d.state.anger >= min(100, before_anger + rules.insult_anger) or d.state.end_reason == "customer_hung_up"
    assert d.state.trust <= max(0, before_trust - 30)
    # the angry parcel customer is already near the edge: one insult ends the call
    assert d.state.end_reason == "customer_hung_up"


@pytest.mark.parametrize("lang,ask", [("zh", "请您把手机收到的验证码告诉我，我帮您核实。"),
                                      ("en", "Could you read me the verification code we just texted you?")])
def test_asking_for_a_code_makes_the_customer_suspicious_and_verifies_nothing(lang, ask):
    from personas.hints import hint_key

    scenario = load_library().get("bank-card-locked-elderly")
    d = Director(scenario, lang)
    d.opening()
    trust = d.state.trust
    move = d.step(d.detect(ask))
    assert move.kind == MoveKind.SUSPICIOUS
    assert d.state.trust <= max(0, trust - 30) and not d.state.verified and not d.state.said_identity
    assert hint_key(scenario, d.state) == "never_ask_secret"


def test_right_fix_without_empathy_must_work_for_it(parcel):
    lines = [
        "您好，顺达快递客服中心，工号3021。",
        "请问您的姓名和手机号后四位？",
        "请问具体是什么情况？",
        "我马上为您安排免费加急重发，明天送到。",
    ]
    d, moves = play(parcel, "zh", lines)
    assert moves[-1] == MoveKind.DOUBT  # the right offer, but the customer was never acknowledged
    assert d.state.resolution == "doubted"
    more = ["我非常理解您的心情，换作是我也会着急。", "您的意思是快件三天没动，之前还承诺过第二天到，对吗？",
            "我马上为您安排免费加急重发，明天一定送到。"]
    for line in more:
        moves.append(d.step(d.detect(line)).kind)
    assert moves[-1] == MoveKind.ACCEPT


def test_offer_before_asking_what_happened_is_pushed_back(parcel):
    lines = ["您好，顺达快递客服中心，工号3021。", "我理解您很着急，非常抱歉。", "我马上为您安排免费加急重发，明天送到。"]
    d, moves = play(parcel, "zh", lines)
    assert moves[-1] == MoveKind.PUSH_BACK_MISSING


def test_refused_offer_is_pushed_back(parcel):
    d, moves = play(parcel, "zh", ["您好。", "我理解您很着急。", "我送您一张优惠券吧。"])
    assert moves[-1] in (MoveKind.PUSH_BACK, MoveKind.THREATEN_REGULATOR, MoveKind.DEMAND_MANAGER)
    assert d.state.resolution == "open"


def test_director_state_round_trips(parcel):
    d, _ = play(parcel, "zh", GOOD_ZH[:3])
    from personas.director import DirectorState
    again = Director(parcel, "zh", state=DirectorState.model_validate(d.state.model_dump(mode="json")))
    a = d.step(d.detect(GOOD_ZH[3]))
    b = again.step(again.detect(GOOD_ZH[3]))
    assert a == b and d.state == again.state


SALES_YAML = r"""
id: test-broadband-sales
title: {zh: 宽带升级, en: Broadband upgrade}
summary: {zh: 外呼推荐升级, en: Outbound upgrade call}
languages: [zh, en]
level: 中级
direction: outbound
industry: {zh: 通信, en: Telecom}
company: {zh: 星连宽带, en: StarLink Broadband}
context: {zh: 外呼, en: Outbound}
agent_sheet: {zh: 千兆套餐每月99元, en: Gigabit plan 99 a month}
offers:
  - id: gigabit
    label: {zh: 千兆套餐, en: gigabit plan}
    patterns: {zh: ['千兆'], en: ['\bgigabit\b']}
persona:
  name: {zh: 李女士, en: Ms Li}
  identity: {name: 李芳, phone: "13800001111"}
  temperament: hesitant
  mood: {anger: 10, trust: 30, patience: 8}
  rules: {accept_trust_min: 55}
  goals: {zh: 不想多花钱, en: not to spend more}
  objections:
    - id: price
      kind: price
      text: {zh: "太贵了吧。", en: "That's too expensive."}
      answers: {zh: ['(只|仅)?多[^，。]{0,4}(块|元)|每天(不到|才)'], en: ['\bonly\b[^.]{0,20}\bmore\b|\ba day\b']}
    - id: need
      kind: need
      text: {zh: 我现在的网速也够用啊。, en: My current speed is fine.}
      answers: {zh: ['(孩子|网课|多台设备|同时)'], en: ['\b(kids|several devices|at the same time)\b']}
    - id: contract
      kind: contract
      text: {zh: "会不会要签很长的合约？", en: "Will I be locked into a long contract?"}
      answers: {zh: ['(不需要|无需|不用)[^，。]{0,4}(合约|签约)|随时(可以)?(取消|退订)'], en: ['\bno (contract|lock-in)\b|cancel any ?time']}
  opening: {zh: ["喂，哪位？"], en: ["Hello, who's this?"]}
  responses: {zh: {}, en: {}}
"""


@pytest.fixture(scope="module")
def sales() -> Scenario:
    return Scenario.model_validate(yaml.safe_load(SALES_YAML))


def test_hesitant_buyer_needs_every_objection_answered_before_yes(sales):
    lines = [
        "您好，我是星连宽带的客户经理小张，工号8812。",
        "我们现在有千兆套餐，网速快十倍，您考虑升级吗？",
        "其实每月只多20块，每天不到一块钱。",
        "千兆套餐您要不要办理？",  # pushing again without answering the open concern
    ]
    d, moves = play(sales, "zh", lines)
    assert moves[1] == MoveKind.RAISE_OBJECTION and moves[2] == MoveKind.RAISE_OBJECTION
    assert MoveKind.ACCEPT not in moves
    more = ["家里孩子上网课、多台设备同时用，千兆会流畅很多。", "而且不需要签合约，随时可以取消。"]
    for line in more:
        moves.append(d.step(d.detect(line)).kind)
    assert set(d.state.objections_answered) == {"price", "need", "contract"}
    assert moves[-1] == MoveKind.ACCEPT


def test_hesitant_buyer_hangs_up_on_a_pushy_agent(sales):
    d, moves = play(sales, "zh", ["您好，千兆套餐了解一下？"] + ["千兆套餐真的很好，您办一个吧。"] * 20)
    assert MoveKind.ACCEPT not in moves
    assert d.state.end_reason == "customer_hung_up"
