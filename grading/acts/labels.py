"""The vocabulary of agent acts, shared by the detector, the director and the grader.

Kept as plain string enums so they serialise unchanged into the database, the websocket
and scorecards.
"""

from __future__ import annotations

from enum import StrEnum


class Act(StrEnum):
    """What an agent utterance does (good practice)."""

    GREET = "greet"  # 您好 / hello, good morning
    SELF_IDENTIFY = "self_identify"  # company name and/or agent name or staff ID (工号)
    VERIFY_IDENTITY = "verify_identity"  # asks for identity data to check the caller (name, phone, DOB, ID digits)
    ASK_QUESTION = "ask_question"  # asks the customer something (any information-seeking question)
    PARAPHRASE = "paraphrase"  # restates / confirms understanding of the customer's problem
    APOLOGISE = "apologise"  # 抱歉 / sorry
    EMPATHISE = "empathise"  # names the customer's feeling or situation (我理解您很着急)
    EXPLAIN = "explain"  # explains a cause, policy, process or product fact
    OFFER = "offer"  # proposes a concrete solution / product / next step for the customer
    HOLD_REQUEST = "hold_request"  # asks permission before putting on hold (请您稍等)
    THANK_WAITING = "thank_waiting"  # thanks for waiting after a hold
    CONFIRM_SATISFACTION = "confirm_satisfaction"  # 请问还有其他可以帮您的吗 / is there anything else / satisfied?
    CLOSE = "close"  # closing line: 感谢来电，再见 / thank you for calling, goodbye
    WARN_ABUSE = "warn_abuse"  # polite warning to an abusive caller (请您文明用语)
    DISCLOSE_ACCOUNT = "disclose_account"  # states an account detail (balance, address, transactions...)


class Breach(StrEnum):
    """What an agent utterance must not do."""

    FORBIDDEN_PHRASE = "forbidden_phrase"  # 服务禁语: 不知道, 不归我们管, 这是规定, rhetorical questions...
    BLAME_CUSTOMER = "blame_customer"  # 是您自己没看清楚 / that's your own fault
    FILLER = "filler"  # colloquial filler the norm bans (嗯嗯, 哎呀, 搞定, yeah yeah, gonna)
    LEAK_ACCOUNT = "leak_account"  # disclose_account before identity verified (contextual)
    ABUSE = "abuse"  # insults or swears at the customer (a compliance blocker; the customer reacts at once)
    ASK_SECRET = "ask_secret"  # asks for a password, PIN, SMS/verification code or CVV: never allowed (fraud pattern)


ALL_LABELS: tuple[str, ...] = tuple(a.value for a in Act) + tuple(b.value for b in Breach)
# Labels that can be judged from the utterance alone (leak_account needs call context).
UTTERANCE_LABELS: tuple[str, ...] = tuple(a for a in ALL_LABELS if a != Breach.LEAK_ACCOUNT.value)

# Scenario-specific labels: they need the scenario's own phrasings (see ScenarioMatcher).
ANSWER_OBJECTION = "answer_objection"  # handles one of the persona's sales objections (ref = objection id)
JARGON = "jargon"  # a term the persona does not understand (confused callers)
