"""The `callcoach` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cc(*args: str, stdin: str | None = None, tmp: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOACH_")}
    if tmp is not None:
        env["CALLCOACH_DATA_DIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_scenarios_json_is_the_trainee_view():
    r = cc("scenarios", "--json", "--lang", "en")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert any(s["id"] == "parcel-late-angry" for s in data)
    assert all("persona" not in s and "responses" not in s for s in data)


def test_scenarios_table():
    r = cc("scenarios")
    assert r.returncode == 0 and "parcel-late-angry" in r.stdout


def test_validate_ok_and_error_names_file_field_line(tmp_path):
    good = ROOT / "personas" / "library" / "parcel-late-angry.yaml"
    r = cc("validate", str(good))
    assert r.returncode == 0 and "OK" in r.stdout
    bad = tmp_path / "bad.yaml"
    text = good.read_text(encoding="utf-8").replace("mood: {anger: 80, trust: 20, patience: 6}",
                                                     "mood: {anger: 180, trust: 20, patience: 6}")
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "anger: 180" in ln)
    r = cc("validate", str(bad))
    assert r.returncode == 1
    assert str(bad) in r.stderr and "persona.mood.anger" in r.stderr and f"line {line}" in r.stderr


def test_chat_in_the_terminal(tmp_path):
    lines = "\n".join([
        "您好，顺达快递客服中心，工号3021，很高兴为您服务。",
        "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？",
        "/end",
    ]) + "\n"
    r = cc("chat", "parcel-late-angry", "--seed", "5", "--lang", "zh", stdin=lines, tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "客户:" in r.stdout and "通话结束" in r.stdout
    assert "give_identity" in r.stdout


def test_chat_unknown_scenario(tmp_path):
    r = cc("chat", "nope", tmp=tmp_path)
    assert r.returncode == 2 and "unknown scenario" in r.stderr
