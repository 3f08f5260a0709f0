"""The audit log file: one JSON object per line, appended, never rewritten.

Each line (an :data:`Entry`)::

    {"time": "2026-12-05T09:04:11.532Z", "user": "alice", "action": "label saved", "image": "1.2.840...",
     "lesion": 2, "result": "added", "reader": "alice"}

- ``time``: UTC, ISO 8601 with milliseconds; ``user``: the signed-in user (:mod:`lib.identity.context`), or
  :data:`LOCAL_USER` with sign-in off (one local user, unnamed);
- ``action``: what was asked (``label saved``, ``lesion removed``, ``train``, ``label deleted`` ...);
- ``image``, ``lesion``: what it was about (null when it was about none);
- ``result``: what happened (``added`` / ``replaced`` / ``removed`` for a label, ``HTTP 200`` or
  ``refused (HTTP 403): <reason>`` for a request);
- any further keys the writer adds (``reader``: whose label).

Lines are written whole with one ``write`` on a file opened for appending, under a lock, then flushed and
synced: a crash leaves at most the last line incomplete; the next line starts on a line of its own, and
:meth:`AuditLog.read` skips the cut one. Nothing in the app
truncates or rewrites the file; rotate it from outside (move it away: the next line starts a new file).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from lib.identity.context import signed_in_user

__all__ = ["LOCAL_USER", "AuditLog", "Entry"]

logger = logging.getLogger(__name__)

Entry = dict
LOCAL_USER = "local (sign-in off)"


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class AuditLog:
    """Appends :data:`Entry` lines to ``path`` (its folder is created) and reads them back."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, action: str, image: str | None = None, lesion: int | None = None, result: str = "ok",
               **extra: Any) -> Entry:
        """Append one line (``user`` is the request's signed-in user); returns it. A failure to write is logged,
        never raised: the action itself already happened."""
        entry: Entry = {"time": _now(), "user": signed_in_user() or LOCAL_USER, "action": action, "image": image,
                        "lesion": lesion, "result": result, **extra}
        line = (json.dumps(entry, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with self._lock:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":  # a line cut by a crash stays on its own
                        line = b"\n" + line
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            logger.error("audit log %s not written (%s): %s", self.path, exc, entry)
        return entry

    def on_label_event(self, event: dict) -> None:
        """A listener of the label service (:mod:`lib.labels.service`): one line per save or removal."""
        action = "lesion removed" if event.get("action") == "removed" else "label saved"
        self.record(action, image=event.get("image"), lesion=event.get("lesion"), result=str(event.get("action")),
                    reader=event.get("reader"), lesions=event.get("lesions"))

    def read(self, limit: int = 1000, **match: str) -> list[Entry]:
        """The last ``limit`` lines (oldest first) whose keys equal ``match`` (e.g. ``user="alice"``)."""
        if not self.path.exists():
            return []
        out: list[Entry] = []
        with self._lock, open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash
                    continue
                if isinstance(entry, dict) and all(str(entry.get(k)) == str(v) for k, v in match.items()):
                    out.append(entry)
        return out[-limit:] if limit > 0 else out
