"""The audit log's HTTP side: the requests it records, and the route an administrator reads it from.

:class:`AuditTrail` (ASGI middleware, inside the sign-in gate so the user is known) records the requests of
:data:`AUDITED` with their status (the line is written before the answer's last part is sent): training started or stopped, labels and images
deleted, attempts to change the model, and every **refused** label write (a save the label service did not
make: its successful saves are recorded by the service's own event, with the lesion). Requests the gate
refused (no valid token: no user to name) are not recorded; the server log has them.

``GET /ssb/audit[?limit=N&user=U&action=A&image=I]`` answers ``{"path", "entries": [...]}`` (oldest first, the
last ``limit``, 1000 by default); with sign-in on only administrators may read it (:data:`lib.identity.gate.ADMIN_ONLY`).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query

from lib.audit.log import AuditLog

__all__ = ["AUDITED", "AuditTrail", "install"]

logger = logging.getLogger(__name__)

# (methods, path regex after the API prefix, action, only when refused)
AUDITED: tuple[tuple[frozenset[str], re.Pattern, str, bool], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern), action, refused_only) for methods, pattern, action, refused_only in (
        ("POST", r"^/train/([^/]+)/?$", "train", False),
        ("DELETE", r"^/train/?$", "train stopped", False),
        ("DELETE", r"^/datastore/label/?$", "label deleted", False),
        ("DELETE", r"^/datastore/image/?$", "image deleted", False),
        ("PUT DELETE", r"^/model/([^/]+)/?$", "model change", False),
        ("PUT", r"^/datastore/label/?$", "label saved", True),
        ("POST", r"^/ssb/lesions/?$", "label saved", True),
        ("DELETE", r"^/ssb/lesions/?$", "lesion removed", True),
    ))


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail", ""))[:300]
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


class AuditTrail:
    """ASGI middleware (module docstring). ``prefix``: MONAI Label's ``MONAI_LABEL_API_STR``."""

    def __init__(self, app, log: AuditLog, prefix: str = "") -> None:
        self.app, self.log, self.prefix = app, log, prefix.rstrip("/")

    def _audited(self, scope) -> tuple[str, bool, re.Match] | None:
        path = scope.get("path", "")
        path = path[len(self.prefix):] if path.startswith(self.prefix) else path
        for methods, pattern, action, refused_only in AUDITED:
            m = pattern.match(path)
            if m and scope.get("method") in methods:
                return action, refused_only, m
        return None

    async def __call__(self, scope, receive, send) -> None:
        audited = self._audited(scope) if scope["type"] == "http" else None
        if audited is None:
            await self.app(scope, receive, send)
            return
        action, refused_only, match = audited
        answer: dict[str, Any] = {"status": 500, "body": b"", "recorded": False}

        def record() -> None:
            answer["recorded"] = True
            status = answer["status"]
            if refused_only and status < 400:
                return
            query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
            result = f"HTTP {status}" if status < 400 else f"refused (HTTP {status}): {_detail(answer['body'])}"
            extra = {"model": match.group(1)} if match.groups() else {}
            if query.get("tag") or query.get("reader"):
                extra["reader"] = query.get("tag") or query.get("reader")
            lesion = query.get("lesion")
            self.log.record(action, image=query.get("image") or query.get("id"),
                            lesion=int(lesion) if lesion and lesion.isdigit() else lesion, result=result, **extra)

        async def watched_send(message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                if answer["status"] >= 400 and len(answer["body"]) < 4096:
                    answer["body"] += message.get("body", b"")
                if not message.get("more_body", False):
                    record()  # written before the client has the whole answer
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            if not answer["recorded"]:
                record()


def install(log: AuditLog) -> bool:
    """Add the middleware and ``GET /ssb/audit`` to MONAI Label's server (False when no server runs here)."""
    from lib import upstream

    server = upstream.serving_app()
    if server is None:
        return False
    from monailabel.config import settings

    api = APIRouter(prefix="/ssb/audit", tags=["SSB audit"])

    @api.get("", summary="The audit log: one entry per action (administrators only when sign-in is on)")
    def read_audit(limit: int = Query(1000, ge=1, le=100000), user: str | None = None, action: str | None = None,
                   image: str | None = None) -> dict:
        match = {k: v for k, v in (("user", user), ("action", action), ("image", image)) if v}
        return {"path": str(log.path), "entries": log.read(limit, **match)}

    upstream.replace_router(server, api, "/ssb/audit")
    upstream.add_middleware(server, AuditTrail, log=log, prefix=settings.MONAI_LABEL_API_STR)
    upstream.rebuild_middleware(server)
    logger.info("audit log: %s", log.path)
    return True
