"""The LLM customer, measured against a real OpenAI-compatible server.

Per turn: time to first token, time to the first complete sentence, total; role swaps in the raw
model output (before the guard rails) and in what was used (after); and how often offers are pushed
back: the director's decisions (what the guarded LLM customer does) versus the bare model asked to
react to the same offer with no director (how over-cooperative an unsteered LLM customer is).

    python benchmarks/llm_customer.py --base-url http://127.0.0.1:8081/v1 [--turns 100]

Agent inputs are the scripted win/lose calls in tests/personas/data/calls/. Writes
benchmarks/results/llm_customer.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grading.acts.labels import Act  # noqa: E402
from personas.director import Director  # noqa: E402
from personas.engines.base import EngineContext, HistoryTurn  # noqa: E402
from personas.engines.guard import GuardContext, check_sentence, patterns  # noqa: E402
from personas.engines.llm import LLMEngine, prompts  # noqa: E402
from personas.library import load_library  # noqa: E402
from personas.moves import MoveKind  # noqa: E402
from server.settings import Settings  # noqa: E402

PUSH_BACK = {MoveKind.PUSH_BACK, MoveKind.PUSH_BACK_VAGUE, MoveKind.PUSH_BACK_MISSING, MoveKind.DOUBT,
             MoveKind.RAISE_OBJECTION}


class TimingClient:
    """Wraps AsyncOpenAI: records first-token time and raw text of every completion."""

    def __init__(self, inner):
        self.inner = inner
        self.records: list[dict] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    async def create(self, **kw):
        rec = {"t0": time.perf_counter(), "first": None, "text": ""}
        self.records.append(rec)
        stream = await self.inner.chat.completions.create(**kw)
        outer = self

        class Wrapped:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *exc):
                await stream.close()
                return False

            def __aiter__(self):
                return self._gen()

            async def _gen(self):
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        if rec["first"] is None:
                            rec["first"] = time.perf_counter() - rec["t0"]
                        rec["text"] += chunk.choices[0].delta.content
                    yield chunk
                rec["total"] = time.perf_counter() - rec["t0"]

        del outer
        return Wrapped()


def agent_scripts() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in sorted((ROOT / "tests" / "personas" / "data" / "calls").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for lang, calls in data.items():
            for kind in ("win", "lose"):
                if calls.get(kind):
                    out.append((path.stem, lang, calls[kind]))
    return out


async def bare_reaction(client, lang: str, scenario, history: list[HistoryTurn]) -> str:
    """The model as a customer with only a role card: no director move, no guard rails."""
    p = prompts()[lang]
    persona = scenario.persona
    system = p["system"].split("\n")[0].format(name=persona.name.get(lang), company=scenario.company.get(lang))
    msgs = [{"role": "system", "content": system + "\n" + persona.goals.get(lang)}]
    for h in history[-8:]:
        msgs.append({"role": "user" if h.speaker == "agent" else "assistant", "content": h.text})
    r = await client.chat.completions.create(model="x", messages=msgs, max_tokens=80, temperature=0.7)
    return r.choices[0].message.content or ""


def pushes_back(text: str, lang: str) -> bool:
    """A reply pushes back when it challenges or refuses (guard `refusal` cues) without agreeing."""
    pats = patterns(lang)
    return any(p.search(text) for p in pats.refusal) and not any(p.search(text) for p in pats.accept)


async def run(base_url: str, max_turns: int, bare_only: bool = False) -> dict:
    from openai import AsyncOpenAI

    settings = Settings(llm_base_url=base_url, llm_first_token_timeout_s=60, llm_total_timeout_s=120)
    raw_client = AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=180)
    client = TimingClient(raw_client)
    engine = LLMEngine(settings, client=client)
    lib = load_library()
    turns, offers = [], {"director_push_back": 0, "bare_llm_push_back": 0, "offers": 0}
    raw_role_swaps = raw_total = 0
    for scenario_id, lang, lines in agent_scripts():
        if len(turns) >= max_turns:
            break
        scenario = lib.get(scenario_id)
        d = Director(scenario, lang)
        history: list[HistoryTurn] = []
        move = d.opening()
        for line in [None] + lines:
            if line is not None:
                if d.state.ended or len(turns) >= max_turns:
                    break
                det = d.detect(line)
                move = d.step(det)
                history.append(HistoryTurn("agent", line))
                if det.has(Act.OFFER):
                    offers["offers"] += 1
                    offers["director_push_back"] += move.kind in PUSH_BACK
                    bare = await bare_reaction(raw_client, lang, scenario, history)
                    offers["bare_llm_push_back"] += pushes_back(bare, lang)
                    offers.setdefault("bare_samples", []).append(bare)
            if bare_only:  # the customer's side comes from the scripted engine: fast and the same every run
                history.append(HistoryTurn("customer", engine.fallback.line(
                    EngineContext(scenario, lang, move, d.state, len(history), 1, list(history)))))
                continue
            ctx = EngineContext(scenario, lang, move, d.state, len(history), 1, list(history))
            n0 = len(client.records)
            t0 = time.perf_counter()
            first_sentence = None
            parts = []
            async for piece in engine.stream(ctx):
                if first_sentence is None:
                    first_sentence = time.perf_counter() - t0
                parts.append(piece)
            total = time.perf_counter() - t0
            text = "".join(parts)
            new = client.records[n0:]
            for rec in new:
                raw_total += 1
                g = GuardContext(lang, move.kind, 10_000, hidden=[])
                raw_role_swaps += any(check_sentence(s, g) == "role_swap" for s in [rec["text"]])
            used_swap = ctx.spoken_by == "llm" and check_sentence(text, GuardContext(lang, move.kind, 10_000, [])) == "role_swap"
            turns.append({
                "scenario": scenario_id, "lang": lang, "move": move.kind.value, "engine": ctx.spoken_by,
                "ttft_s": new[0]["first"] if new and new[0]["first"] is not None else None,
                "first_sentence_s": first_sentence, "total_s": total,
                "events": [f"{e.kind}:{e.detail}" for e in ctx.events], "used_role_swap": used_swap,
            })
            history.append(HistoryTurn("customer", text))
            print(f"{len(turns):4d} {scenario_id:32} {lang} {move.kind.value:20} {ctx.spoken_by:8} "
                  f"{total:5.2f}s {text[:60]!r}", flush=True)

    def stats(key: str) -> dict:
        vals = sorted(t[key] for t in turns if t[key] is not None)
        if not vals:
            return {}
        return {"p50": round(statistics.median(vals), 3), "p95": round(vals[int(0.95 * (len(vals) - 1))], 3),
                "mean": round(statistics.mean(vals), 3)}

    n_offers = max(1, offers["offers"])
    summary = {
        "turns": len(turns),
        "ttft_s": stats("ttft_s"),
        "first_sentence_s": stats("first_sentence_s"),
        "total_s": stats("total_s"),
        "spoken_by_llm": sum(t["engine"] == "llm" for t in turns),
        "regenerations": sum(e.startswith("regenerate") for t in turns for e in t["events"]),
        "fallbacks": sum(e.startswith("fallback") for t in turns for e in t["events"]),
        "role_swap_rate_raw": round(raw_role_swaps / max(1, raw_total), 3),
        "role_swap_rate_used": round(sum(t["used_role_swap"] for t in turns) / max(1, len(turns)), 3),
        "offers": offers["offers"],
        "push_back_share_director": round(offers["director_push_back"] / n_offers, 3),
        "push_back_share_bare_llm": round(offers["bare_llm_push_back"] / n_offers, 3),
        "bare_llm_samples": offers.get("bare_samples", [])[:20],
        "guard_failures": {},
    }
    for t in turns:
        for e in t["events"]:
            if e.startswith("guard_fail"):
                summary["guard_failures"][e] = summary["guard_failures"].get(e, 0) + 1
    return {"summary": summary, "turns": turns}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", default="http://127.0.0.1:8081/v1")
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--bare-only", action="store_true", help="only the offer push-back comparison (fast)")
    args = ap.parse_args()
    result = asyncio.run(run(args.base_url, args.turns, args.bare_only))
    print(json.dumps(result["summary"], indent=2, ensure_ascii=False))
    out = ROOT / "benchmarks" / "results" / ("llm_customer_offers.json" if args.bare_only else "llm_customer.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["command"] = f"python benchmarks/llm_customer.py --base-url {args.base_url} --turns {args.turns}"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
