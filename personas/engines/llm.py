"""The LLM engine: an OpenAI-compatible chat model words the director's move.

The director still decides what the customer does; the model only gets the persona's role card,
the director's move, the mood, and the facts the director has released (hidden facts are never in
the prompt). Every sentence passes the guard rails before it is streamed; a failing reply is
regenerated once, then replaced by the scripted line. Errors and timeouts fall back to the scripted
engine for that turn, silently for the trainee but recorded as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from personas.engines.base import Engine, EngineContext, EngineEvent
from personas.engines.guard import (
    PUSHING_BACK,
    GuardContext,
    check_reply,
    check_sentence,
    is_injection,
    secret_markers,
    split_sentences,
)
from personas.engines.scripted import ScriptedEngine, template_slots
from personas.moves import MoveKind

PROMPTS_PATH = Path(__file__).resolve().parent.parent / "llm_prompts.yaml"
HISTORY_TURNS = 8
log = logging.getLogger("callcoach.llm")


@lru_cache(maxsize=1)
def prompts() -> dict[str, Any]:
    return yaml.safe_load(PROMPTS_PATH.read_text(encoding="utf-8"))


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""


class LLMFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def build_messages(ctx: EngineContext, reference: str) -> list[dict[str, str]]:
    """The prompt for one customer turn. Only released facts and already-said identity data appear."""
    lang = ctx.language
    p = prompts()[lang]
    persona = ctx.scenario.persona
    slots = _Slots(template_slots(ctx.scenario, lang, ctx))
    slots.update(
        temperament=p["temperaments"].get(persona.temperament.value, persona.temperament.value),
        style=persona.voice.style or "",
        anger=str(ctx.state.anger),
        trust=str(ctx.state.trust),
        reference=reference,
    )
    # identity values are the customer's to say only when asked to verify (or already said)
    ident = persona.identity
    for key, value in (("phone", ident.phone), ("phone_last4", ident.phone[-4:]), ("account_no", ident.account_no),
                       ("dob", ident.dob), ("address", ident.address), ("id_last4", ident.id_last4)):
        if ctx.move.kind != MoveKind.GIVE_IDENTITY and value and value not in ctx.state.said_identity:
            slots[key] = ""
    system = p["system"].format_map(slots)
    facts = [f.text.get(lang) for f in persona.facts if f.id in ctx.released_fact_ids()]
    if ctx.move.kind == MoveKind.GIVE_IDENTITY:
        facts.append(" / ".join(v for v in (persona.name.get(lang), ident.phone, ident.account_no) if v))
    slots["instruction"] = p["moves"].get(ctx.move.kind.value, "").format_map(slots)
    slots["facts"] = "；".join(facts) if facts else p["no_facts"]
    turn = p["turn"].format_map(slots)
    messages = [{"role": "system", "content": system}]
    history = ctx.history[-HISTORY_TURNS:]
    for h in history[:-1] if history and history[-1].speaker == "agent" else history:
        messages.append({"role": "user" if h.speaker == "agent" else "assistant", "content": h.text})
    last_agent = history[-1].text if history and history[-1].speaker == "agent" else ""
    note = ""
    if last_agent and is_injection(last_agent, lang):
        note = p["injection_note"] + "\n"
    content = (last_agent + "\n\n" if last_agent else "") + note + turn
    messages.append({"role": "user", "content": content})
    return messages


def hidden_markers(ctx: EngineContext, shown: str) -> list[str]:
    """Markers of what the model must not say: unreleased facts and unsaid identity values."""
    lang = ctx.language
    persona = ctx.scenario.persona
    released = set(ctx.released_fact_ids())
    marks: list[str] = []
    for f in persona.facts:
        if f.id not in released:
            marks += secret_markers(f.text.get(lang), shown)
    if ctx.move.kind != MoveKind.GIVE_IDENTITY:
        for value in persona.identity.secret_values():
            if value not in ctx.state.said_identity and value not in shown:
                marks.append(value)
    return marks


def needs_whole_reply(ctx: EngineContext, guard: GuardContext) -> bool:
    """Moves whose content is checked on the whole reply are held back until it is complete."""
    return bool(guard.required) or ctx.move.kind in PUSHING_BACK


def required_markers(ctx: EngineContext) -> list[str] | None:
    """What a reply must contain to do its move: the revealed fact's markers, or identity data."""
    persona = ctx.scenario.persona
    if ctx.move.kind == MoveKind.REVEAL_FACT and ctx.move.fact_id:
        fact = next((f for f in persona.facts if f.id == ctx.move.fact_id), None)
        if fact is not None:
            return secret_markers(fact.text.get(ctx.language), "") or None
    if ctx.move.kind == MoveKind.GIVE_IDENTITY:
        ident = persona.identity
        return [v for v in (ident.name, persona.name.get(ctx.language), ident.phone, ident.phone[-4:], ident.account_no) if v]
    return None


class LLMEngine(Engine):
    name = "llm"

    def __init__(self, settings, fallback: ScriptedEngine | None = None, client: Any = None):
        self.settings = settings
        self.fallback = fallback or ScriptedEngine()
        self.model = settings.llm_model
        if client is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none",
                                 timeout=settings.llm_total_timeout_s, max_retries=0)
        self.client = client
        self.prompt_log: Path | None = getattr(settings, "llm_prompt_log", None)

    async def warm(self, ctx: EngineContext) -> None:
        """Prime the server's prompt cache with this persona's fixed prefix (max_tokens=1), so the first
        real turn does not pay for reading the whole role card. Failures are ignored."""
        try:
            messages = build_messages(ctx, self.fallback.line(ctx))[:1]
            messages.append({"role": "user", "content": "..."})
            await asyncio.wait_for(
                self.client.chat.completions.create(model=self.model, messages=messages, max_tokens=1, stream=False),
                timeout=self.settings.llm_total_timeout_s * 3,
            )
        except Exception as exc:  # the call goes on; the first turn may fall back
            log.info("LLM warm-up failed: %s", exc)

    async def stream(self, ctx: EngineContext) -> AsyncIterator[str]:
        if ctx.move.kind == MoveKind.OPENING:  # instant: the call should not start by waiting for a model
            ctx.spoken_by = self.fallback.name
            yield self.fallback.line(ctx)
            return
        reference = self.fallback.line(ctx)
        messages = build_messages(ctx, reference)
        shown = json.dumps(messages, ensure_ascii=False)
        self._log_prompt(ctx, messages)
        guard = GuardContext(ctx.language, ctx.move.kind, self.settings.llm_max_chars, hidden_markers(ctx, shown),
                             required=required_markers(ctx),
                             said_before=frozenset(h.text for h in ctx.history if h.speaker == "customer"))
        emitted: list[str] = []
        for attempt in (1, 2):
            guard.reply_so_far = ""
            try:
                if needs_whole_reply(ctx, guard):  # the move's content is checked on the whole reply
                    sentences = [s async for s in self._guarded(messages, guard, ctx, attempt)]
                    reply = (" " if ctx.language == "en" else "").join(sentences)
                    reason = check_reply(reply, guard) if sentences else "empty"
                    if reason:
                        raise LLMFailure(reason)
                    ctx.spoken_by = self.name
                    yield reply
                    return
                async for sentence in self._guarded(messages, guard, ctx, attempt):
                    piece = (" " if emitted and ctx.language == "en" else "") + sentence
                    emitted.append(piece)
                    guard.reply_so_far += piece
                    ctx.spoken_by = self.name
                    yield piece
                if emitted:
                    return
                raise LLMFailure("empty")
            except LLMFailure as exc:
                if emitted:  # a later sentence failed: keep what was said, stop there
                    ctx.events.append(EngineEvent("truncated", exc.reason))
                    return
                ctx.events.append(EngineEvent("guard_fail" if exc.reason in GUARD_REASONS else "llm_error", exc.reason))
                if exc.reason in GUARD_REASONS and attempt == 1:
                    ctx.events.append(EngineEvent("regenerate", exc.reason))
                    continue
                break
        ctx.events.append(EngineEvent("fallback", "scripted"))
        ctx.spoken_by = self.fallback.name
        yield reference

    async def _guarded(self, messages: list[dict], guard: GuardContext, ctx: EngineContext,
                       attempt: int) -> AsyncIterator[str]:
        buffer = ""
        pending: list[str] = []
        async for delta in self._deltas(messages, ctx, attempt):
            buffer += delta
            sentences, buffer = split_sentences(buffer)
            pending.extend(sentences)
            while pending:
                sentence = pending.pop(0)
                reason = check_sentence(sentence, guard)
                if reason:
                    raise LLMFailure(reason)
                guard.reply_so_far += sentence if needs_whole_reply(ctx, guard) else ""
                yield sentence
        rest = buffer.strip()
        if rest:
            reason = check_sentence(rest, guard)
            if reason:
                raise LLMFailure(reason)
            yield rest

    async def _deltas(self, messages: list[dict], ctx: EngineContext, attempt: int) -> AsyncIterator[str]:
        """Text deltas from the server, with a first-token and a total deadline. The HTTP stream runs in
        its own task so a timeout can cancel it cleanly (and close the connection)."""
        s = self.settings
        deadline = time.monotonic() + s.llm_total_timeout_s
        queue: asyncio.Queue = asyncio.Queue()

        async def produce() -> None:
            try:
                stream = await self.client.chat.completions.create(
                    model=self.model, messages=messages, stream=True, temperature=0.7 if attempt == 1 else 0.3,
                    max_tokens=120, seed=(ctx.seed * 1000 + ctx.turn_index) * 2 + attempt,
                )
                async with stream:
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            await queue.put(chunk.choices[0].delta.content)
                await queue.put(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, 429, 5xx, malformed stream: the call goes on
                await queue.put(exc)

        task = asyncio.create_task(produce())
        try:
            first = True
            while True:
                budget = deadline - time.monotonic()
                timeout = min(s.llm_first_token_timeout_s, budget) if first else budget
                if timeout <= 0:
                    raise LLMFailure("timeout_total")
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=timeout)
                except asyncio.TimeoutError:
                    raise LLMFailure("timeout_first_token" if first else "timeout_total") from None
                if item is None:
                    return
                if isinstance(item, Exception):
                    log.warning("LLM error (%s): %s", type(item).__name__, item)
                    raise LLMFailure(f"error:{type(item).__name__}")
                first = False
                yield item
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _log_prompt(self, ctx: EngineContext, messages: list[dict]) -> None:
        if not self.prompt_log:
            return
        record = {"scenario": ctx.scenario.id, "turn": ctx.turn_index, "move": ctx.move.kind.value,
                  "revealed": list(ctx.state.revealed), "said_identity": list(ctx.state.said_identity),
                  "messages": messages}
        with open(self.prompt_log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


GUARD_REASONS = frozenset({"role_swap", "language", "unreleased_fact", "accept_when_refusing", "too_long", "empty",
                           "repeat", "off_move", "no_push_back"})
