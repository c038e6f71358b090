"""The `callcoach` command: serve, list scenarios, chat in the terminal, validate YAML, grade."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from server.settings import get_settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    ssl: dict[str, str] = {}
    scheme = "http"
    if args.https or settings.tls:
        from server.tls import tls_files

        try:
            tls = tls_files(settings.data_dir, host, settings.tls_certfile, settings.tls_keyfile)
        except (FileNotFoundError, ValueError) as e:
            print(e, file=sys.stderr)
            return 2
        ssl = {"ssl_certfile": str(tls.certfile), "ssl_keyfile": str(tls.keyfile)}
        scheme = "https"
    app = create_app(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"CallCoach is running: open {scheme}://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    print(f"CallCoach 已启动：请在浏览器打开 {scheme}://{shown}:{port}/", flush=True)
    for line in _classroom_lines(host, port, scheme, bool(ssl) and tls.self_signed):
        print(line, flush=True)
    uvicorn.run(app, host=host, port=port, log_level=args.log_level, ws_max_size=settings.max_message_bytes * 4,
                ws_per_message_deflate=False,  # deflate costs ~1.5 ms per message; our messages are small
                **ssl)
    return 0


def _classroom_lines(host: str, port: int, scheme: str, self_signed: bool) -> list[str]:
    """What to tell students on other machines: the LAN address, and why voice needs HTTPS there."""
    if host not in ("0.0.0.0", "::"):
        return []
    from server.tls import local_addresses

    lines = []
    for addr in local_addresses():
        lines.append(f"  students / 学员: {scheme}://{addr}:{port}/")
    if lines and scheme == "http":
        lines.append("  Voice needs HTTPS on other machines: add --https. / 其他电脑上用语音需要 HTTPS：请加 --https 启动。")
    if lines and self_signed:
        lines.append("  Self-signed certificate: each browser warns once; choose Advanced -> Proceed. / "
                     "自签名证书：浏览器首次会提示不安全，选择“高级”→“继续前往”。")
    return lines


def cmd_scenarios(args: argparse.Namespace) -> int:
    from personas.library import load_library
    from personas.schema import TraineeScenario

    settings = get_settings()
    lib = load_library(settings.library_dir)
    lang = args.lang or settings.language
    views = [TraineeScenario.from_scenario(s, lang) for s in lib]
    if args.json:
        print(json.dumps([v.model_dump() for v in views], ensure_ascii=False, indent=2))
    else:
        for v in views:
            print(f"{v.id:32} {v.level:3} {v.direction:9} {'/'.join(v.languages):6} {v.title}")
    for err in lib.errors:
        print(err, file=sys.stderr)
    return 1 if lib.errors else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from personas.library import load_scenario_file
    from personas.yaml_lines import YamlError

    status = 0
    for name in args.files:
        path = Path(name)
        try:
            if args.rubric or {"rubric", "rubrics"} & set(path.parts):
                from grading.rubric import load_rubric_file

                load_rubric_file(path)
            else:
                load_scenario_file(path)
        except YamlError as exc:
            print(exc, file=sys.stderr)
            status = 1
        else:
            print(f"{path}: OK / 校验通过")
    return status


def cmd_chat(args: argparse.Namespace) -> int:
    from server.terminal_chat import run_chat

    return asyncio.run(run_chat(args.scenario, seed=args.seed, language=args.lang, mode=args.mode))


def cmd_grade(args: argparse.Namespace) -> int:
    from grading.cli import run_grade

    return run_grade(args)


def cmd_llm_serve(args: argparse.Namespace) -> int:
    from server.llm_model import main_llm_serve

    main_llm_serve(host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcoach", description="CallCoach: call-centre customer service trainer / 呼叫中心客服训练")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the web app / 启动服务")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--log-level", default="info")
    s.add_argument("--https", action="store_true",
                   help="serve HTTPS (voice from other machines) / 启用 HTTPS（其他电脑使用语音需要）")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("scenarios", help="list scenarios / 列出场景")
    s.add_argument("--json", action="store_true")
    s.add_argument("--lang", choices=["zh", "en"])
    s.set_defaults(func=cmd_scenarios)

    s = sub.add_parser("chat", help="a text call in the terminal / 终端文字通话")
    s.add_argument("scenario")
    s.add_argument("--seed", type=int)
    s.add_argument("--lang", choices=["zh", "en"])
    s.add_argument("--mode", choices=["practice", "exam"], default="practice")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("validate", help="validate scenario or rubric YAML / 校验 YAML")
    s.add_argument("files", nargs="+")
    s.add_argument("--rubric", action="store_true", help="treat the files as rubrics")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("grade", help="grade a session or transcript file / 评分")
    s.add_argument("target", help="transcript file or session id")
    s.add_argument("--rubric")
    s.add_argument("--format", choices=["json", "html", "text"], default="text")
    s.add_argument("--out")
    s.add_argument("--scenario", help="scenario id for a transcript that does not name one")
    s.add_argument("--lang", choices=["zh", "en"], help="language of a transcript that does not say")
    s.add_argument("--judge", action=argparse.BooleanOptionalAction, default=None,
                   help="use the LLM judge (default: CALLCOACH_LLM_JUDGE)")
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser("llm-serve", help="start the packaged local LLM server / 启动本地大模型服务")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8081)
    s.set_defaults(func=cmd_llm_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
