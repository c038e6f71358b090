"""`callcoach grade FILE_OR_SESSION_ID [--rubric ID] [--format json|html|text] [--out PATH]`.

A path that exists is a transcript (JSON, or one turn per line prefixed 坐席：/客户：/Agent:/Customer:);
anything else is a session id, looked up in the database from Settings (CALLCOACH_DATABASE_URL /
CALLCOACH_DATA_DIR). Exit status: 0 graded, 2 could not grade (the reason is on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grading.record import TranscriptError
from grading.report import render_html, render_text
from grading.scorecard import Scorecard
from personas.yaml_lines import YamlError


def _render(card: Scorecard, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(card.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        return render_html(card)
    return render_text(card)


def run_grade(args: argparse.Namespace) -> int:
    from grading.service import grade_session, grade_transcript, judge_from_settings
    from server.settings import get_settings

    settings = get_settings()
    target = str(args.target)
    fmt = getattr(args, "format", None) or "text"
    rubric = getattr(args, "rubric", None)
    judge_flag = getattr(args, "judge", None)
    if rubric:
        from grading.rubric import resolve_rubric
        from grading.service import teacher_rubric_dir

        try:
            rubric = resolve_rubric(rubric, teacher_rubric_dir(settings))
        except (KeyError, YamlError) as exc:
            print(f"cannot grade / 无法评分: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
            return 2
    try:
        judge = judge_from_settings(settings, force=judge_flag)
        if judge_flag and judge is None:
            print("--judge needs CALLCOACH_LLM_BASE_URL (an OpenAI-compatible server) / 评审模型需要配置 LLM 地址",
                  file=sys.stderr)
            return 2
        path = Path(target)
        if path.is_file():
            card = grade_transcript(path, settings=settings, rubric=rubric, judge=judge,
                                    scenario_id=getattr(args, "scenario", None), language=getattr(args, "lang", None))
        elif path.suffix.lower() in (".json", ".txt") or "/" in target or "\\" in target:
            print(f"{target}: no such file / 文件不存在", file=sys.stderr)
            return 2
        else:
            from server.db import make_engine
            from server.store import CallStore

            store = CallStore(make_engine(settings.db_url))
            card = grade_session(store, target, settings=settings, rubric=rubric, judge=judge)
    except (TranscriptError, YamlError) as exc:
        print(f"cannot grade / 无法评分: {exc}", file=sys.stderr)
        return 2
    except (LookupError, KeyError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        print(f"cannot grade / 无法评分: {msg} (not a file, and no session with that id)", file=sys.stderr)
        return 2
    text = _render(card, fmt)
    out = getattr(args, "out", None)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"{out}: {card.total:g}/100 {'PASS / 合格' if card.passed else 'FAIL / 不合格'}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
