"""Call recordings for replay: `GET /api/sessions/{id}/recording` (stereo WAV, trainee left, customer
right, 16 kHz s16le), with HTTP range requests so a player can seek (Starlette's FileResponse
answers `Range: bytes=...` with 206 / Content-Range, and 416 for a range past the end).

A recording whose writer died (kill -9, power cut) has stale sizes in its header: it is repaired
before it is served, once nothing is writing to it any more (the call has ended, or the file has
not changed for a while).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse

router = APIRouter(prefix="/api", tags=["recordings"])
log = logging.getLogger("callcoach.recordings")

STALE_S = 5.0  # an active call's file untouched this long has no writer (its process died)


def _parts(row) -> list[str]:
    voice = (row.info or {}).get("voice") or {}
    paths = [r.get("path") for r in voice.get("recordings", []) if r.get("path")]
    if not paths and row.recording_path:
        paths = [row.recording_path]
    return paths


def _being_written(request: Request, row, path: Path) -> bool:
    registry = request.app.state.ctx.extras.get("registry")
    if registry is not None and row.id in registry.live and not registry.live[row.id].finished:
        return True
    if row.status == "active":
        try:
            return time.time() - path.stat().st_mtime < STALE_S
        except OSError:
            return False
    return False


@router.get("/sessions/{session_id}/recording", response_class=FileResponse)
def get_recording(session_id: str, request: Request, part: int = Query(1, ge=1, description="resumed calls: part 2, 3 ...")):
    ctx = request.app.state.ctx
    row = ctx.store.get_session(session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id!r} / 找不到该通话")
    parts = _parts(row)
    if not parts:
        raise HTTPException(404, "this call has no recording (text call) / 该通话没有录音")
    if part > len(parts):
        raise HTTPException(404, f"the recording has {len(parts)} part(s) / 录音分段不存在")
    path = Path(parts[part - 1])
    root = ctx.settings.recordings_dir.resolve()
    try:
        path.resolve().relative_to(root)
    except ValueError:
        log.warning("session %s: recording path %s outside %s", session_id, path, root)
        raise HTTPException(404, "recording not found / 录音不存在") from None
    if not path.is_file():
        raise HTTPException(404, "recording file missing / 录音文件缺失")
    if not _being_written(request, row, path):
        from server.speech.recorder import repair_wav

        try:
            if repair_wav(path):
                log.info("session %s: repaired the WAV header of %s", session_id, path)
        except (OSError, ValueError) as e:
            log.warning("session %s: cannot repair %s: %s", session_id, path, e)
    name = f"callcoach-{session_id}.wav" if part == 1 else f"callcoach-{session_id}-part{part}.wav"
    return FileResponse(path, media_type="audio/wav", filename=name, content_disposition_type="inline",
                        headers={"Cache-Control": "no-store"})
