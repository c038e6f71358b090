"""The director: a deterministic state machine that decides what the customer does.

It moves only on detected acts and call events (silence, interruption), by the persona's rules.
No randomness lives here: the same agent turns always give the same moves, so a call is fair to
grade. Wording (which may vary by seed) is the engine's job.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from grading.acts.detector import ActDetector, Detection, ScenarioMatcher, default_detector
from grading.acts.labels import ANSWER_OBJECTION, JARGON, Act, Breach
from personas.moves import Move, MoveKind
from personas.schema import Direction, Scenario, Temperament

IDENTITY_TOPICS = ("name", "phone", "dob", "address", "id_number", "account_number")


class DirectorState(BaseModel):
    """Everything the director knows about the call so far; stored with every turn."""

    anger: int
    trust: int
    patience: int
    turn: int = 0  # agent turns so far
    verified: bool = False
    revealed: list[str] = Field(default_factory=list)  # fact ids the customer has said
    said_identity: list[str] = Field(default_factory=list)  # identity values the customer has said
    objections_raised: list[str] = Field(default_factory=list)
    objections_answered: list[str] = Field(default_factory=list)
    offers_made: list[str] = Field(default_factory=list)
    pitched: bool = False  # sales: an acceptable offer was put forward
    resolution: str = "open"  # open | doubted | accepted | confirmed
    accepted_offer: str | None = None
    empathy_count: int = 0
    apology_count: int = 0
    paraphrase_count: int = 0
    explain_count: int = 0
    questions: dict[str, int] = Field(default_factory=dict)  # topic -> times asked
    manager_demanded: bool = False
    regulator_threatened: bool = False
    abuse_warnings: int = 0
    abusing: bool = False
    holding: bool = False
    interruptions: int = 0
    silences: int = 0
    breaches: int = 0
    last_move: str | None = None
    ended: bool = False
    end_reason: str | None = None  # resolved | customer_hung_up | agent_ended | time_limit | abandoned

    def public(self) -> dict:
        """The mood meter a trainee sees in practice mode: no facts, no objections' content."""
        return {
            "anger": self.anger,
            "trust": self.trust,
            "patience": self.patience,
            "turn": self.turn,
            "verified": self.verified,
            "resolution": self.resolution,
            "objections_open": len([o for o in self.objections_raised if o not in self.objections_answered]),
            "ended": self.ended,
            "end_reason": self.end_reason,
        }


def _clamp(v: int) -> int:
    return max(0, min(100, v))


class Director:
    """One per call. `step` takes the agent's detected acts and returns the customer's move."""

    def __init__(self, scenario: Scenario, language: str, state: DirectorState | None = None,
                 detector: ActDetector | None = None):
        self.scenario = scenario
        self.persona = scenario.persona
        self.rules = scenario.persona.rules
        self.language = language
        self.detector = detector or default_detector()
        self.matcher = build_matcher(scenario, language)
        m = self.persona.mood
        self.state = state or DirectorState(anger=m.anger, trust=m.trust, patience=m.patience)

    # ------------------------------------------------------------------ detection
    def detect(self, text: str) -> Detection:
        """Label an agent utterance in the context of this call (verification state, what was said)."""
        s = self.state
        return self.detector.detect(
            text,
            self.language,
            self.matcher,
            verified=s.verified or not self.scenario.requires_verification,
            said=frozenset(s.said_identity),
        )

    def opening(self) -> Move:
        self.state.last_move = MoveKind.OPENING.value
        return Move(kind=MoveKind.OPENING, reason="the customer opens the call")

    # ------------------------------------------------------------------ events
    def on_silence(self) -> Move:
        s = self.state
        s.silences += 1
        s.anger = _clamp(s.anger + self.rules.silence_anger)
        s.patience -= 1
        if s.anger >= self.rules.hangup_anger or s.patience <= 0 or s.silences >= 3:
            return self._end(MoveKind.HANG_UP, "customer_hung_up", "the agent went silent too long")
        return self._move(MoveKind.ARE_YOU_THERE, reason="the agent has been silent")

    def on_time_limit(self) -> None:
        if not self.state.ended:
            self.state.ended = True
            self.state.end_reason = "time_limit"

    def on_agent_end(self) -> None:
        if not self.state.ended:
            self.state.ended = True
            self.state.end_reason = "resolved" if self.state.resolution in ("accepted", "confirmed") else "agent_ended"

    # ------------------------------------------------------------------ the turn
    def step(self, det: Detection, interrupted: bool = False) -> Move:
        """Apply one agent turn and decide the customer's reply."""
        s, r = self.state, self.rules
        if s.ended:
            raise RuntimeError("the call has ended")
        s.turn += 1
        labels = det.labels
        progress = False
        s.holding = False

        # --- mood effects of the agent's behaviour
        if s.turn == 1 and (Act.GREET in labels or Act.SELF_IDENTIFY in labels):
            progress = True
            s.trust = _clamp(s.trust + 3 * ((Act.GREET in labels) + (Act.SELF_IDENTIFY in labels)))
        rude = (Breach.FORBIDDEN_PHRASE in labels or Breach.BLAME_CUSTOMER in labels
                or Breach.ABUSE in labels)
        if Breach.FORBIDDEN_PHRASE in labels:
            s.anger = _clamp(s.anger + r.forbidden_anger)
            s.trust = _clamp(s.trust - 10)
        if Breach.BLAME_CUSTOMER in labels:
            s.anger = _clamp(s.anger + r.blame_anger)
            s.trust = _clamp(s.trust - 15)
        if Breach.ABUSE in labels:
            s.anger = _clamp(s.anger + r.insult_anger)
            s.trust = _clamp(s.trust - 30)
        asks_secret = Breach.ASK_SECRET in labels
        if asks_secret:
            s.anger = _clamp(s.anger + r.secret_anger)
            s.trust = _clamp(s.trust - 30)
        if rude:
            s.breaches += 1
        if Breach.FILLER in labels:
            s.anger = _clamp(s.anger + r.filler_anger)
        if interrupted:
            s.interruptions += 1
            s.anger = _clamp(s.anger + r.interrupt_anger)
        if Act.EMPATHISE in labels and not rude:
            calm = r.empathy_calm if s.empathy_count == 0 else (r.empathy_calm // 2 if s.empathy_count < 3 else 2)
            s.anger = _clamp(s.anger - calm)
            s.trust = _clamp(s.trust + 5)
            s.empathy_count += 1
            progress = progress or s.empathy_count <= 2
        if Act.APOLOGISE in labels and not rude:
            s.apology_count += 1
            if s.apology_count <= 2:
                s.anger = _clamp(s.anger - r.apology_calm)
            elif s.apology_count > 3:
                s.anger = _clamp(s.anger + 3)  # "stop apologising and fix it"
        if Act.PARAPHRASE in labels and not rude:
            s.paraphrase_count += 1
            if s.paraphrase_count == 1:
                s.anger = _clamp(s.anger - r.paraphrase_calm)
                s.trust = _clamp(s.trust + 10)
                progress = True
        if Act.EXPLAIN in labels and not rude:
            s.explain_count += 1
            if s.explain_count <= 3:
                s.anger = _clamp(s.anger - r.explain_calm)
                s.trust = _clamp(s.trust + 5)
                progress = True
        if Act.WARN_ABUSE in labels:
            s.abuse_warnings += 1
            if s.abusing and not rude:
                s.abusing = False
                s.anger = _clamp(s.anger - 10)
        repeated = self._count_questions(det)
        if repeated:
            s.anger = _clamp(s.anger + r.repeat_anger)

        answered_now = [o for o in det.refs(ANSWER_OBJECTION) if o not in s.objections_answered]
        for o in answered_now:
            s.objections_answered.append(o)
            s.trust = _clamp(s.trust + r.objection_trust)
            s.anger = _clamp(s.anger - 3)
            progress = True

        # --- decide the move, most urgent first
        if s.anger >= r.hangup_anger:
            return self._end(MoveKind.HANG_UP, "customer_hung_up", "anger reached the hang-up threshold")
        if s.turn > r.max_turns:
            return self._end(MoveKind.HANG_UP, "customer_hung_up", "the call dragged on too long")
        if rude:
            s.patience -= 1
            return self._after_escalation_checks(MoveKind.REACT_RUDE, "the agent was rude, insulting or blamed the customer")
        if asks_secret:  # the customer never says a password or code, and now doubts who is calling
            s.patience -= 1
            return self._after_escalation_checks(MoveKind.SUSPICIOUS, "the agent asked for a password or verification code")
        if interrupted and s.anger >= 40:
            return self._move(MoveKind.OBJECT_INTERRUPTION, reason="the agent talked over the customer")

        # "thank you for calling X" opens a call too: on the first turn a greeting is not a goodbye
        closing = Act.CLOSE in labels and (Act.GREET not in labels or s.turn > 1)
        if closing and Act.CONFIRM_SATISFACTION not in labels:
            if s.resolution in ("accepted", "confirmed"):
                return self._end(MoveKind.GOODBYE, "resolved", "the problem is solved and the agent closed politely")
            if self.persona.temperament == Temperament.ABUSIVE and s.abuse_warnings >= 2:
                return self._end(MoveKind.HANG_UP, "agent_ended", "the agent ended an abusive call after warnings")
            s.anger = _clamp(s.anger + r.not_done_anger)
            s.patience -= 1
            if s.anger >= r.hangup_anger or s.patience <= 0:
                return self._end(MoveKind.HANG_UP, "customer_hung_up", "the agent tried to end the call unresolved")
            return self._move(MoveKind.NOT_DONE, reason="the agent tried to close before solving the problem")

        confused = self._confused(det)
        if confused:
            s.trust = _clamp(s.trust - 3)
            s.patience -= 1
            if s.patience <= 0:
                return self._end(MoveKind.HANG_UP, "customer_hung_up", "the caller gave up, not understanding")
            return self._move(MoveKind.CONFUSED, reason="the caller did not follow (too long or jargon)")

        offer_move = self._offer_move(det, decisive=bool(
            answered_now or Act.VERIFY_IDENTITY in labels or Act.WARN_ABUSE in labels or Act.PARAPHRASE in labels
            or (Act.ASK_QUESTION in labels and det.topics)))
        if offer_move is not None:
            return offer_move

        if answered_now:
            nxt = self._next_objection()
            if nxt is not None and s.pitched:
                s.objections_raised.append(nxt)
                return self._move(MoveKind.RAISE_OBJECTION, objection_id=nxt, reason="answered; next concern")
            if nxt is None and s.pitched and self._mood_allows_accept() and not self._missing_required():
                return self._accept(s.offers_made[-1] if s.offers_made else None, "all concerns answered")
            return self._move(MoveKind.OBJECTION_SATISFIED, objection_id=answered_now[-1], reason="that concern is answered")

        if s.resolution in ("accepted", "confirmed") and Act.CONFIRM_SATISFACTION in labels:
            s.resolution = "confirmed"
            if closing:
                return self._end(MoveKind.GOODBYE, "resolved", "satisfied, and the agent closed")
            return self._move(MoveKind.CONFIRM_SATISFIED, reason="the customer is satisfied")

        if Act.VERIFY_IDENTITY in labels:
            s.verified = True
            s.trust = _clamp(s.trust + 5)
            for value in self.persona.identity.secret_values() + [self.persona.identity.name]:
                if value not in s.said_identity:
                    s.said_identity.append(value)
            return self._move(MoveKind.GIVE_IDENTITY, reason="the agent asked to verify identity")

        if Act.HOLD_REQUEST in labels:
            s.holding = True
            return self._move(MoveKind.AGREE_HOLD, reason="the agent asked to hold")

        if Act.WARN_ABUSE in labels and self.persona.temperament == Temperament.ABUSIVE:
            return self._move(MoveKind.CALM_AFTER_WARNING, reason="warned politely, the caller tones down")

        if Act.ASK_QUESTION in labels and det.topics:
            fact = self._unlockable_fact(det.topics)
            if fact is not None:
                s.revealed.append(fact)
                return self._move(MoveKind.REVEAL_FACT, fact_id=fact, reason="the agent asked the right question")
            known = self._known_fact(det.topics)
            if known is not None and repeated:
                return self._move(MoveKind.REPEAT_FACT, fact_id=known, reason="asked again for something already said")

        if Act.PARAPHRASE in labels and s.paraphrase_count == 1:
            return self._after_escalation_checks(MoveKind.CONFIRM_PARAPHRASE, "the agent restated the problem correctly")

        # nothing decisive: the turn is productive or it is not
        if Act.THANK_WAITING in labels or Act.ASK_QUESTION in labels or Act.EXPLAIN in labels:
            progress = True
        if not progress:
            s.patience -= 1
        if s.patience <= 0:
            return self._end(MoveKind.HANG_UP, "customer_hung_up", "the customer ran out of patience")

        if s.resolution in ("accepted", "confirmed"):
            return self._move(MoveKind.ACKNOWLEDGE, reason="already agreed; waiting for the agent to wrap up")
        if Act.EMPATHISE in labels:
            return self._after_escalation_checks(MoveKind.PRESS_FOR_SOLUTION, "empathy heard; now wants a solution")
        if Act.APOLOGISE in labels and not progress:
            return self._after_escalation_checks(MoveKind.IMPATIENT, "apologies without progress")
        if Act.ASK_QUESTION in labels:
            return self._after_escalation_checks(MoveKind.ANSWER, "answers the question")
        if Act.GREET in labels and s.turn == 1 and self.scenario.direction == Direction.OUTBOUND:
            return self._move(MoveKind.ANSWER, reason="picks up the outbound call")
        kind = MoveKind.COMPLAIN if s.anger >= 40 else MoveKind.ACKNOWLEDGE
        return self._after_escalation_checks(kind, "nothing useful happened" if not progress else "listening")

    # ------------------------------------------------------------------ helpers
    def _move(self, kind: MoveKind, reason: str = "", **kw) -> Move:
        self.state.last_move = kind.value
        return Move(kind=kind, reason=reason, **kw)

    def _end(self, kind: MoveKind, end_reason: str, reason: str) -> Move:
        self.state.ended = True
        self.state.end_reason = end_reason
        return self._move(kind, reason=reason)

    def _after_escalation_checks(self, default: MoveKind, reason: str) -> Move:
        """Escalations (abuse, manager, regulator) replace a default reaction when the mood calls for it."""
        s, r = self.state, self.rules
        if s.patience <= 0:
            return self._end(MoveKind.HANG_UP, "customer_hung_up", "the customer ran out of patience")
        unresolved = s.resolution not in ("accepted", "confirmed")
        if (self.persona.temperament == Temperament.ABUSIVE and r.abuse_anger is not None
                and s.anger >= r.abuse_anger and s.abuse_warnings == 0 and unresolved):
            s.abusing = True
            return self._move(MoveKind.ABUSE, reason="abusive caller; no warning yet")
        if (not s.manager_demanded and unresolved and (
                (r.demand_manager_anger is not None and s.anger >= r.demand_manager_anger)
                or (r.demand_manager_turn is not None and s.turn >= r.demand_manager_turn))):
            s.manager_demanded = True
            return self._move(MoveKind.DEMAND_MANAGER, reason="wants someone with authority")
        if (not s.regulator_threatened and unresolved and r.threaten_regulator_anger is not None
                and s.anger >= r.threaten_regulator_anger and s.turn >= 2):
            s.regulator_threatened = True
            return self._move(MoveKind.THREATEN_REGULATOR, reason="threatens to complain to the regulator")
        return self._move(default, reason=reason)

    def _count_questions(self, det: Detection) -> bool:
        """Counts questions per topic; True when the agent asks the customer for the same thing a 3rd time
        (or a second time for something the customer already gave)."""
        if Act.ASK_QUESTION not in det.labels and Act.VERIFY_IDENTITY not in det.labels:
            return False
        repeated = False
        for t in det.topics:
            n = self.state.questions.get(t, 0) + 1
            self.state.questions[t] = n
            # asked again for something already given, with nothing new behind the question
            already_given = (self._known_fact([t]) is not None and self._unlockable_fact([t]) is None) or (
                t in IDENTITY_TOPICS and self.state.verified)
            if n >= 3 or (already_given and n >= 2):
                repeated = True
        return repeated

    def _unlockable_fact(self, topics: list[str]) -> str | None:
        for f in self.persona.facts:
            if f.id not in self.state.revealed and any(t in f.unlock for t in topics):
                return f.id
        return None

    def _known_fact(self, topics: list[str]) -> str | None:
        for f in self.persona.facts:
            if f.id in self.state.revealed and any(t in f.unlock for t in topics):
                return f.id
        return None

    def _confused(self, det: Detection) -> bool:
        if self.persona.temperament != Temperament.CONFUSED:
            return False
        if det.has(JARGON):
            return True
        text = det.text
        if self.language == "zh":
            return len(text) > self.rules.confuse_chars_zh
        return len(text.split()) > self.rules.confuse_words_en

    def _next_objection(self) -> str | None:
        for o in self.persona.objections:
            if o.id not in self.state.objections_answered and o.id not in self.state.objections_raised:
                return o.id
        for o in self.persona.objections:
            if o.id not in self.state.objections_answered:
                return o.id
        return None

    def _mood_allows_accept(self) -> bool:
        s, r = self.state, self.rules
        if s.anger > r.accept_anger_max or s.trust < r.accept_trust_min:
            return False
        if self.persona.needs_empathy() and s.empathy_count == 0:
            return False
        return True

    def _accept(self, offer_id: str | None, reason: str) -> Move:
        s = self.state
        s.resolution = "accepted"
        s.accepted_offer = offer_id
        s.anger = _clamp(s.anger - 10)
        s.trust = _clamp(s.trust + 10)
        return self._move(MoveKind.ACCEPT, offer_id=offer_id, reason=reason)

    def _offer_move(self, det: Detection, decisive: bool = False) -> Move | None:
        """The customer's reaction to an offer, if the agent made one. A generic offer-like phrase that
        matches none of the scenario's offers yields to anything more decisive in the same turn."""
        s = self.state
        if Act.OFFER not in det.labels or s.resolution in ("accepted", "confirmed"):
            return None
        refs = det.refs(Act.OFFER)
        offers = [self.scenario.offer(ref) for ref in refs]
        offers = [o for o in offers if o is not None]
        if not offers and decisive:
            return None
        if not offers:
            s.patience -= 1
            if s.patience <= 0:
                return self._end(MoveKind.HANG_UP, "customer_hung_up", "vague promises, no concrete fix")
            return self._move(MoveKind.PUSH_BACK_VAGUE, reason="the offer was vague: nothing concrete")
        for o in offers:
            if o.id not in s.offers_made:
                s.offers_made.append(o.id)
        acceptable = [o for o in offers if o.acceptable]
        if not acceptable:
            s.patience -= 1
            s.anger = _clamp(s.anger + 5)
            if s.patience <= 0 or s.anger >= self.rules.hangup_anger:
                return self._end(MoveKind.HANG_UP, "customer_hung_up", "only offers the customer refuses")
            return self._after_escalation_checks_offer(offers[0].id)
        offer = acceptable[0]
        if self.scenario.direction == Direction.OUTBOUND or self.persona.objections:
            s.pitched = True
            nxt = self._next_objection()
            if nxt is not None:
                if nxt in s.objections_raised:  # pitching again over an open concern: pushy
                    s.patience -= 1
                    s.anger = _clamp(s.anger + 3)
                    if s.patience <= 0:
                        return self._end(MoveKind.HANG_UP, "customer_hung_up", "a pushy pitch that ignores concerns")
                else:
                    s.objections_raised.append(nxt)
                return self._move(MoveKind.RAISE_OBJECTION, objection_id=nxt, offer_id=offer.id,
                                  reason="not convinced yet: raises a concern")
        missing = self._missing_required()
        if missing:
            s.patience -= 1
            return self._move(MoveKind.PUSH_BACK_MISSING, offer_id=offer.id, fact_id=missing[0],
                              reason="the agent offers a fix without asking what happened")
        if not self._mood_allows_accept():
            s.resolution = "doubted"
            s.anger = _clamp(s.anger - 5)
            return self._move(MoveKind.DOUBT, offer_id=offer.id,
                              reason="acceptable offer, but the customer is still upset or distrustful")
        return self._accept(offer.id, "an acceptable offer, and the customer feels heard")

    def _missing_required(self) -> list[str]:
        return [f.id for f in self.persona.facts if f.required_for_offer and f.id not in self.state.revealed]

    def _after_escalation_checks_offer(self, offer_id: str) -> Move:
        move = self._after_escalation_checks(MoveKind.PUSH_BACK, "the offer is outside what the customer will accept")
        move.offer_id = offer_id
        return move


def build_matcher(scenario: Scenario, language: str) -> ScenarioMatcher:
    p = scenario.persona
    return ScenarioMatcher.build(
        offers={o.id: o.patterns.get(language) for o in scenario.offers},
        objection_answers={o.id: o.answers.get(language) for o in p.objections},
        secrets=p.identity.secret_values(),
        jargon=p.jargon.get(language),
    )
