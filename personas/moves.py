"""What the customer does next: the director chooses a move, an engine puts it into words."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class MoveKind(StrEnum):
    OPENING = "opening"  # the first line of the call
    COMPLAIN = "complain"  # restate the grievance; nothing useful happened
    GIVE_IDENTITY = "give_identity"  # answer a verification question with identity data
    REVEAL_FACT = "reveal_fact"  # a hidden fact, unlocked by the right kind of question
    REPEAT_FACT = "repeat_fact"  # "I already told you ..." (asked again)
    ANSWER = "answer"  # a question with nothing hidden behind it
    CONFIRM_PARAPHRASE = "confirm_paraphrase"  # "yes, that's it"
    PRESS_FOR_SOLUTION = "press_for_solution"  # after empathy: "so what will you do about it?"
    IMPATIENT = "impatient"  # apology spam, stalling: "stop apologising and fix it"
    CONFUSED = "confused"  # elderly / non-expert caller did not follow
    REACT_RUDE = "react_rude"  # agent used a forbidden phrase or blamed the customer
    SUSPICIOUS = "suspicious"  # agent asked for a password / verification code: "are you a scammer?"
    OBJECT_INTERRUPTION = "object_interruption"  # agent talked over the customer
    PUSH_BACK = "push_back"  # offer outside what the customer accepts
    PUSH_BACK_VAGUE = "push_back_vague"  # "be concrete: what exactly will you do?"
    PUSH_BACK_MISSING = "push_back_missing"  # "you haven't even asked me what happened"
    DOUBT = "doubt"  # acceptable offer while still angry / distrustful
    RAISE_OBJECTION = "raise_objection"  # sales: the next objection
    OBJECTION_SATISFIED = "objection_satisfied"  # sales: that answer works, (maybe) next concern
    DEMAND_MANAGER = "demand_manager"
    THREATEN_REGULATOR = "threaten_regulator"  # 12315 / 工信部
    ABUSE = "abuse"  # abusive caller insults the agent
    CALM_AFTER_WARNING = "calm_after_warning"  # abusive caller tones down after a polite warning
    AGREE_HOLD = "agree_hold"
    ACKNOWLEDGE = "acknowledge"  # neutral "ok"
    ACCEPT = "accept"  # accepts the offer
    CONFIRM_SATISFIED = "confirm_satisfied"  # "no, that's all, thanks"
    NOT_DONE = "not_done"  # agent tries to close before the problem is solved
    ARE_YOU_THERE = "are_you_there"  # long silence from the agent
    GOODBYE = "goodbye"  # satisfied close (ends the call)
    HANG_UP = "hang_up"  # angry or fed-up hang-up (ends the call)


ENDING_MOVES = frozenset({MoveKind.GOODBYE, MoveKind.HANG_UP})


class Move(BaseModel):
    """The director's decision for one customer turn; `reason` is for teachers and the LLM prompt."""

    kind: MoveKind
    fact_id: str | None = None
    objection_id: str | None = None
    offer_id: str | None = None
    reason: str = ""

    @property
    def ends_call(self) -> bool:
        return self.kind in ENDING_MOVES
