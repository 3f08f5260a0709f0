"""The OHIF viewer MONAI Label serves at ``/ohif/``, with the SSB panel and the panel's server URL set.

MONAI Label 0.8.5 serves a prebuilt OHIF (3.10) whose MONAI Label panel shows one labelmap, sends no model
options and cannot save. :class:`ViewerPage` (an ASGI middleware) changes two things on the way out, nothing in
the OHIF files:

- every OHIF HTML page gets the SSB panel's scripts (``apps/ssb/viewer/``, :data:`PANEL_SCRIPTS` in load order): a
  tab of OHIF's right side panel that runs the model on the clicked lesion, lists the candidates as toggleable
  segments, overlays the variability map, lets the reader touch the pick up with OHIF's brush, saves it as one of
  the reader's lesions and lists the lesions saved on the series (see ``docs/viewers.md``);
- the MONAI Label panel's server URL (cookie ``MONAILABEL_SERVER_URL``, which it reads; it defaults to port 8000 of
  the page's host) is set to the page's own origin when the browser has none yet;
- with sign-in on (``docs/signin.md``), every OHIF HTML page first runs :data:`SIGN_IN_SCRIPT` (synchronously, at the
  top of ``<head>``, before OHIF's own scripts): it signs the browser in at the provider's login page unless it
  already is, and from then on every request of the page to this server carries the token. Sign-in off: the
  pages are exactly as before.

The panel's files are served at ``/ssb/viewer/<name>`` from ``apps/ssb/viewer/``.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path
from urllib.parse import quote

from starlette.responses import FileResponse, JSONResponse

from lib import upstream

__all__ = ["PANEL_DIR", "PANEL_PREFIX", "PANEL_SCRIPTS", "SIGN_IN_SCRIPT", "ViewerPage"]

logger = logging.getLogger(__name__)

PANEL_DIR = Path(__file__).resolve().parents[1] / "viewer"
PANEL_PREFIX = "/ssb/viewer/"
PANEL_SCRIPTS = ("ssb-base.js", "ssb-ohif.js", "ssb-lesions.js", "ssb-reader.js", "ssb-edit.js", "ssb-panel.js")  # deferred scripts run in this order
SCRIPT_TAGS = "".join(f'<script src="{PANEL_PREFIX}{name}" defer></script>' for name in PANEL_SCRIPTS).encode()
SIGN_IN_SCRIPT = "ssb-signin.js"  # also loaded by signed-in.html, the page the provider sends the browser back to
SIGN_IN_TAG = f'<script src="{PANEL_PREFIX}{SIGN_IN_SCRIPT}"></script>'.encode()
COOKIE = "MONAILABEL_SERVER_URL"


def _origin(scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1") or "{}:{}".format(*scope.get("server", ("127.0.0.1", 8000)))
    return f"{scope.get('scheme', 'http')}://{host}/"


class ViewerPage:
    """ASGI middleware: the SSB panel's files, and OHIF pages with the panel and the server URL (module docstring);
    ``sign_in``: whether OHIF's pages sign in first."""

    def __init__(self, app, prefix: str = "", sign_in: bool = False) -> None:
        self.app, self.prefix, self.sign_in = app, prefix.rstrip("/"), sign_in

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        path = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
        elif path.startswith(PANEL_PREFIX):
            await self._panel_file(path[len(PANEL_PREFIX):])(scope, receive, send)
        elif (path == "/ohif" or path.startswith("/ohif/")) and scope.get("method") == "GET":
            await self._ohif_page(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _panel_file(name: str):
        file = (PANEL_DIR / name).resolve()
        if file.parent != PANEL_DIR or not file.is_file():
            return JSONResponse({"detail": f"no viewer file {name!r}"}, status_code=404)
        return FileResponse(file, media_type=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
                            headers={"Cache-Control": "no-cache"})

    async def _ohif_page(self, scope, receive, send) -> None:
        cookies = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
        has_url = any(c.strip().startswith(COOKIE + "=") for c in cookies.split(";"))
        state: dict = {"start": None, "html": False, "body": []}

        async def rewrite(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                state["html"] = (any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                                 and not any(k.lower() == b"content-encoding" for k, _ in headers))  # never edit compressed bytes
                if not state["html"]:
                    await send(message)
                    return
                state["start"] = {**message, "headers": [(k, v) for k, v in headers if k.lower() != b"content-length"]}
                return
            if not state["html"]:
                await send(message)
                return
            state["body"].append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(state["body"])
            if SCRIPT_TAGS not in body:
                body = body.replace(b"</body>", SCRIPT_TAGS + b"</body>", 1) if b"</body>" in body else body + SCRIPT_TAGS
            if self.sign_in and SIGN_IN_TAG not in body:
                body = body.replace(b"<head>", b"<head>" + SIGN_IN_TAG, 1) if b"<head>" in body else SIGN_IN_TAG + body
            headers = state["start"]["headers"] + [(b"content-length", str(len(body)).encode())]
            if not has_url:
                cookie = f"{COOKIE}={quote(_origin(scope), safe='')}; Path=/; SameSite=Lax"
                headers.append((b"set-cookie", cookie.encode("latin-1")))
            await send({**state["start"], "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def install(sign_in: bool = False) -> bool:
    """Add :class:`ViewerPage` to MONAI Label's app (False when no server runs in this process); ``sign_in``: whether
    sign-in is on (:func:`lib.identity.install`'s settings)."""
    from monailabel.config import settings

    app = upstream.serving_app()
    if app is None:
        return False
    upstream.add_middleware(app, ViewerPage, prefix=settings.MONAI_LABEL_API_STR, sign_in=sign_in)
    upstream.rebuild_middleware(app)
    logger.info("OHIF pages get the SSB panel (%s: %s)%s", PANEL_PREFIX, ", ".join(PANEL_SCRIPTS),
                f", signing in first ({SIGN_IN_SCRIPT})" if sign_in else "")
    return True
