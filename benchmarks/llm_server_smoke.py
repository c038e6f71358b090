"""Smoke test + speed numbers of the local LLM server (streaming chat completions, Chinese and English).

    bash scripts/start_llm_server.sh            # or any OpenAI-compatible server
    python benchmarks/llm_server_smoke.py [--base-url http://127.0.0.1:8081/v1] [--runs 3] [--json]

Each language plays a short call: system prompt (the customer persona), then one agent line per
request, the customer's previous replies kept in the history, as the llm engine does. The first
request is "cold" (nothing of its prompt is in the server's KV cache); the next ones are "warm":
llama.cpp reuses the cached prefix and only evaluates the new turn.
Prints time to first token (TTFT), decode speed (tokens/s after the first token) and the reply.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from openai import OpenAI

SYSTEM = {
    "zh": (
        "你是一位打进客服热线的顾客，名叫王丽。你上周在网上买的电饭煲收到后无法加热，"
        "你很生气，想要退货并且要求尽快处理。只用中文回答，每次一到两句话，像打电话一样口语化。"
        "你只扮演顾客，不要扮演客服。"
    ),
    "en": (
        "You are a customer calling a support hotline. Your name is Linda. The rice cooker you "
        "bought online last week does not heat up; you are annoyed and want a refund quickly. "
        "Answer in English, one or two short spoken sentences. Play only the customer, never the agent."
    ),
}


#: what the agent says, one line per request: the system prompt stays, the user line changes
AGENT_LINES = {
    "zh": [
        "您好，这里是家电客服中心，我是客服小张，请问有什么可以帮您？",
        "非常抱歉给您带来不便，请问您的订单号是多少？",
        "好的，我帮您查一下，请您稍等。",
        "感谢您的耐心等待，我们可以为您办理退货，您看可以吗？",
    ],
    "en": [
        "Hello, thank you for calling the appliance service centre, this is Sam. How can I help you?",
        "I'm sorry about that. May I have your order number, please?",
        "Thank you. Let me check that for you, please hold for a moment.",
        "Thanks for waiting. We can arrange a full refund for you. Would that be all right?",
    ],
}


def stream_once(client: OpenAI, model: str, messages: list[dict], max_tokens: int) -> dict:
    t0 = time.perf_counter()
    t_first = t_last = None
    pieces: list[str] = []
    n_chunks = 0
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, temperature=0.7, seed=1, stream=True
    )
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta.content or ""
        if delta:
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            t_last = now
            n_chunks += 1  # llama-cpp-python streams one token per chunk
            pieces.append(delta)
    t_end = time.perf_counter()
    decode_s = (t_last - t_first) if t_first is not None else 0.0
    return {
        "ttft_s": (t_first - t0) if t_first is not None else None,
        "total_s": t_end - t0,
        "tokens": n_chunks,
        "tok_per_s": (n_chunks - 1) / decode_s if decode_s > 0 and n_chunks > 1 else None,
        "text": "".join(pieces),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default=os.environ.get("CALLCOACH_LLM_BASE_URL", "http://127.0.0.1:8081/v1"))
    ap.add_argument("--model", default=os.environ.get("CALLCOACH_LLM_MODEL", "qwen2.5-coder-1.5b-instruct"))
    ap.add_argument("--turns", type=int, default=4, help="requests per language (the first one is cold), max 4")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--json", action="store_true", help="also print one JSON line with the results")
    args = ap.parse_args(argv)

    client = OpenAI(base_url=args.base_url, api_key=os.environ.get("CALLCOACH_LLM_API_KEY", "not-needed"), timeout=120)
    t = time.perf_counter()
    models = [m.id for m in client.models.list().data]
    print(f"server {args.base_url}: models {models} ({(time.perf_counter() - t) * 1000:.0f} ms)")

    results: dict[str, list[dict]] = {}
    for lang, system in SYSTEM.items():
        results[lang] = []
        messages: list[dict] = [{"role": "system", "content": system}]
        for i, line in enumerate(AGENT_LINES[lang][: args.turns]):
            messages.append({"role": "user", "content": line})
            r = stream_once(client, args.model, messages, args.max_tokens)
            messages.append({"role": "assistant", "content": r["text"]})
            r["run"] = "cold" if i == 0 else "warm"
            results[lang].append(r)
            ttft = f"{r['ttft_s']:.2f}s" if r["ttft_s"] is not None else "-"
            tps = f"{r['tok_per_s']:.1f}" if r["tok_per_s"] else "-"
            print(f"[{lang} {r['run']}] ttft {ttft}  {r['tokens']} tok in {r['total_s']:.2f}s  "
                  f"decode {tps} tok/s  | {r['text'].strip()[:80]!r}")
        if not any(r["text"].strip() for r in results[lang]):
            print(f"ERROR: empty replies for {lang}", file=sys.stderr)
            return 1

    print("summary (median):")
    summary = {}
    for lang, rs in results.items():
        warm = [r["ttft_s"] for r in rs[1:] if r["ttft_s"] is not None] or [rs[0]["ttft_s"]]
        speeds = [r["tok_per_s"] for r in rs if r["tok_per_s"]]
        s = {
            "cold_ttft_s": rs[0]["ttft_s"],
            "warm_ttft_s": statistics.median(warm),
            "tok_per_s": statistics.median(speeds) if speeds else None,
        }
        summary[lang] = s
        print(f"  {lang}: first token cold {s['cold_ttft_s']:.2f}s, warm {s['warm_ttft_s']:.2f}s; "
              f"decode {s['tok_per_s'] or 0:.1f} tok/s")
    if args.json:
        print(json.dumps({"base_url": args.base_url, "model": args.model, "summary": summary}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
