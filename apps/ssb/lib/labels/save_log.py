"""One true line per save in the server log.

MONAI Label logs every label upload as ``Saving Label for <image> for tag: <tag> by <user>`` before the app has
seen it. ``<user>`` is the request's MONAI Label user, which is ``admin`` for everyone when sign-in is off, and
``<tag>`` is what the client sent (``final`` for a viewer's Submit), not the reader the label is stored under. So
the log said every save was made "by admin". :func:`install` turns that line into ``Label upload for <image>
(tag '<tag>' as sent)``; the label service then logs what it stored and for whom (``lesion 2 of alice on <image>
added``), after the reader was resolved (:func:`lib.label_saves.reader_for_save`).
"""

from __future__ import annotations

import logging
import re

__all__ = ["UPSTREAM_LOGGER", "install"]

UPSTREAM_LOGGER = "monailabel.endpoints.datastore"
_LINE = re.compile(r"^Saving Label for (?P<image>.*) for tag: (?P<tag>.*) by \S+$")


class _UploadLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = _LINE.match(record.getMessage())
        if match:
            record.msg, record.args = "Label upload for %s (tag %r as sent)", (match["image"], match["tag"])
        return True


def install() -> None:
    """Add the filter to MONAI Label's datastore endpoint logger (idempotent)."""
    log = logging.getLogger(UPSTREAM_LOGGER)
    if not any(isinstance(f, _UploadLine) for f in log.filters):
        log.addFilter(_UploadLine())
