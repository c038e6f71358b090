"""Text turn latency over the call websocket (send `text` -> receive `customer`), p50/p99,
with 1 and with 50 concurrent calls, against a real `callcoach serve` on loopback.

Two load shapes: *paced* (each trainee sends a turn, then thinks --think seconds, as people do:
this is the latency a trainee feels) and *saturated* (every caller fires its next turn the moment
the reply lands: this measures capacity, and its latency is queueing, 50 / turns_per_s).

    python benchmarks/text_turn_latency.py [--turns 700] [--think 1.0] [--db sqlite|URL]

Writes benchmarks/results/text_turn_latency.json. A benchmark, not a test: it reports numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server  # noqa: E402
from tests.personas.test_director import GOOD_ZH  # noqa: E402
from tests.wsclient import CallClient  # noqa: E402

LINES = GOOD_ZH  # the exemplary parcel call (tests/personas/test_director.py)


async def caller(url: str, turns: int, out: list[float], think: float = 0.0, k: int = 0) -> None:
    done = 0
    while done < turns:
        c = await CallClient.connect(url)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "mode": "exam", "language": "zh"})
        await c.recv_until("started", timeout=30)
        for line in LINES:
            if think:
                await asyncio.sleep(think * (0.5 + ((k * 7919 + done * 104729) % 1000) / 1000))
            t0 = time.perf_counter()
            await c.send({"type": "text", "text": line})
            msg = await c.recv_until("customer", "ended", timeout=30)
            out.append((time.perf_counter() - t0) * 1000)
            done += 1
            if msg["type"] == "ended" or done >= turns:
                break
        await c.close()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def measure(url: str, concurrency: int, turns_per_call: int, think: float = 0.0) -> dict:
    lat: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(caller(url, turns_per_call, lat, think, k) for k in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"concurrent_calls": concurrency, "load": "paced" if think else "saturated", "think_s": think,
            "turns": len(lat), "p50_ms": round(pct(lat, 50), 2),
            "p99_ms": round(pct(lat, 99), 2), "mean_ms": round(statistics.mean(lat), 2),
            "turns_per_s": round(len(lat) / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=400, help="turns per concurrency level")
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--think", type=float, default=1.0, help="mean seconds a paced trainee waits between turns")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
        srv = start_server(Path(tmp), db)
        try:
            results = []
            for n, think in ((1, 0.0), (50, args.think), (50, 0.0)):
                r = asyncio.run(measure(srv.ws, n, max(7, args.turns // n), think))
                r["database"] = "sqlite" if args.db == "sqlite" else "postgresql"
                results.append(r)
                print(json.dumps(r))
        finally:
            srv.stop()
    out = ROOT / "benchmarks" / "results" / f"text_turn_latency_{results[0]['database']}.json"
    out.write_text(json.dumps({"command": "python benchmarks/text_turn_latency.py", "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
