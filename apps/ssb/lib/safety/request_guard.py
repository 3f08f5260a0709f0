"""Request-level guards and 4xx answers for the client errors MONAI Label leaves as HTTP 500.

:func:`install` adds to the FastAPI app of ``monailabel start_server`` (``monailabel.app.app``). That app is
built when uvicorn imports it and already serving when MONAI Label creates our app object (in its lifespan), so
the guard is added from the app's constructor and the middleware stack is rebuilt once:

- :class:`RequestGuard`, an ASGI middleware answering, before the endpoint runs:
  413 for a request body over ``max_upload_bytes`` (by ``Content-Length``, and by counting a chunked body),
  400 for a query string holding NUL (``%00``), 404 for ``POST /train/{model}``, ``/scoring/{method}`` or
  ``/batch/infer/{model}`` naming a task the app does not have (MONAI Label would start a subprocess that fails);
  400 for a ``POST /train/{model}`` body the trainer would refuse in its subprocess (an unknown key, a value out
  of range: MONAI Label answers 200 and the run then fails); 400 for ``PUT /datastore/label`` under a tag the
  app reserves for itself (``ssb_*``: the variability map is not overwritten by an upload);
  ``PUT`` / ``DELETE /model/{name}``: 403 for a signed-in reader (sign-in on, :mod:`lib.identity`; MONAI Label
  itself asks only for an annotator), then 405 for everyone (see ``MODEL_CHANGE_REFUSED``);
- exception handlers: invalid JSON in a ``params`` / ``info`` form field -> 400; MONAI Label's
  ``ImageNotFoundException`` / ``LabelNotFoundException`` -> 404, other ``MONAILabelException`` of bad input
  -> 400; MONAI Label's ``HTTPException(500)`` about a request without an image, and a form field that does
  not validate (pydantic) -> 400; the exceptions listed in ``KNOWN_FAILURES`` (a form field that is JSON but
  not an object, ``/logs/gpu`` without ``nvidia-smi``, an empty dataset archive ...) -> their 4xx.

Every answer is JSON ``{"detail": "<what was wrong>"}``, like FastAPI's own errors.

:func:`install` also restricts MONAI Label's CORS policy (it lets every web origin read and write the server,
with credentials): only the origins of ``--conf cors_origins`` (comma separated; ``*`` for any) are allowed,
none by default, so only pages served by the server itself (its OHIF) can call it from a browser.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Collection
from urllib.parse import parse_qs

from fastapi.responses import JSONResponse
from starlette.middleware import Middleware

from lib import upstream

__all__ = ["MODEL_CHANGE_REFUSED", "RESERVED_TAG_PREFIX", "RequestGuard", "install"]

logger = logging.getLogger(__name__)

_TASK_PATH = re.compile(r"^/(train|scoring|batch/infer)/([^/]+)/?$")
_MODEL_PATH = re.compile(r"^/model/([^/]+)/?$")
_LABEL_PATH = re.compile(r"^/datastore/label/?$")
RESERVED_TAG_PREFIX = "ssb_"  # tags the app writes itself (the variability map)
MODEL_CHANGE_REFUSED = ("the served model is not replaced or deleted over HTTP: MONAI Label's PUT/DELETE /model/{name} would "
                        "write an unchecked file over it in place (and asks only for the annotator role). It changes by "
                        "training (POST /train/{name}: validated, promoted atomically, previous kept as <stem>.prev.pt) "
                        "or by the operator on disk (rollback: rename <stem>.prev.pt over <stem>.pt)")


def _admin_denied() -> tuple[int, str] | None:
    """With sign-in on: 403 unless the signed-in user (:mod:`lib.identity`, bound by the gate that runs before this
    guard) is an administrator; None with sign-in off."""
    from monailabel.config import settings

    from lib.identity.context import current_identity

    identity = current_identity()
    if identity is None or identity.is_admin:
        return None
    return 403, f'Role "{settings.MONAI_LABEL_AUTH_ROLE_ADMIN}" is required to perform this action ({identity.username} is a reader)'


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class RequestGuard:
    """ASGI middleware: size limit, NUL in the query, model changes, unknown task names (see the module docstring).

    Args:
        max_upload_bytes: largest request body accepted. tasks: ``kind -> names`` for ``train``,
            ``scoring`` and ``batch/infer`` (read at each request: the app may be re-created).
        check_train: ``(model, body) -> None``, raising ``ValueError`` for a train request the trainer refuses.
        prefix: MONAI Label's ``MONAI_LABEL_API_STR`` route prefix.
    """

    def __init__(self, app, max_upload_bytes: int, tasks: Callable[[str], Collection[str]],
                 check_train: Callable[[str, object], None] | None = None, prefix: str = "") -> None:
        self.app, self.max_bytes, self.tasks, self.prefix = app, int(max_upload_bytes), tasks, prefix.rstrip("/")
        self.check_train = check_train

    def _reject(self, scope) -> tuple[int, str] | None:
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return 413, (f"upload of {int(length)} bytes is over the server's limit of {self.max_bytes} bytes "
                         "(--conf max_upload_mb)")
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            return 400, "the query string holds a NUL byte (%00): image ids, tags and names cannot contain one"
        path, method = scope.get("path", ""), scope.get("method")
        if not path.startswith(self.prefix):
            return None
        path = path[len(self.prefix):]
        if method in ("PUT", "DELETE") and _MODEL_PATH.match(path):
            return _admin_denied() or (405, MODEL_CHANGE_REFUSED)
        m = _TASK_PATH.match(path)
        if method == "POST" and m and m.group(2) not in (known := self.tasks(m.group(1))):
            return 404, f"unknown {m.group(1)} task {m.group(2)!r}; available: {sorted(known)}"
        if method == "PUT" and _LABEL_PATH.match(path):
            tags = parse_qs(query.decode("latin-1")).get("tag", [])
            if any(t.startswith(RESERVED_TAG_PREFIX) for t in tags):
                return 400, (f"label tag {tags[0]!r} is reserved: tags starting with {RESERVED_TAG_PREFIX!r} hold what the "
                             "app computes (the variability map); save a reader's label under the reader's name")
        return None

    def _too_large(self) -> JSONResponse:
        return _answer(413, f"upload is over the server's limit of {self.max_bytes} bytes (--conf max_upload_mb)")

    def _train_model(self, scope) -> str | None:
        """The model of a ``POST /train/{model}`` whose body the trainer must check first, else None."""
        path = scope.get("path", "")[len(self.prefix):]
        m = _TASK_PATH.match(path)
        if self.check_train is None or scope.get("method") != "POST" or not m or m.group(1) != "train":
            return None
        return m.group(2)

    async def _checked_train(self, model: str, scope, receive, send) -> bool:
        """Read the train body, answer 400 if the trainer refuses it (True), else pass it on unchanged (False)."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return True
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
            if sum(map(len, chunks)) > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return True
        body = b"".join(chunks)
        try:
            self.check_train(model, json.loads(body) if body.strip() else None)
        except (ValueError, TypeError) as exc:
            await _answer(400, str(exc))(scope, receive, send)
            return True
        sent = {"done": False}

        async def replay():
            if not sent["done"]:
                sent["done"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
        return True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rejected = self._reject(scope)
        if rejected:
            await _answer(*rejected)(scope, receive, send)
            return
        model = self._train_model(scope)
        if model is not None and await self._checked_train(model, scope, receive, send):
            return
        state = {"bytes": 0, "answered": False}

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request" and not state["answered"]:
                state["bytes"] += len(message.get("body", b""))
                if state["bytes"] > self.max_bytes:
                    state["answered"] = True
                    await self._too_large()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message) -> None:
            if not state["answered"]:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)


async def _bad_json(request, exc: json.JSONDecodeError) -> JSONResponse:
    return _answer(400, f"a form field that must hold JSON (params, info) is not valid JSON: {exc}")


async def _invalid_body(request, exc) -> JSONResponse:
    """A pydantic model built inside an endpoint from a form field (``wsi`` of ``/infer/wsi_v2``)."""
    return _answer(400, f"invalid request field: {exc.errors(include_url=False)[0].get('msg', exc)}")


async def _not_found(request, exc: Exception) -> JSONResponse:
    return _answer(404, str(getattr(exc, "msg", None) or exc))


# MONAI Label's own HTTP 500 answers that are about the request, not the server
CLIENT_ERRORS_SENT_AS_500 = (
    "Neither Image nor File not Session ID input is provided",
    "DICOM SEG format is not supported in a non-DICOM datastore",
)


async def _http_error(request, exc) -> JSONResponse:
    """FastAPI's own answer to an ``HTTPException``, with MONAI Label's client errors sent as 400, not 500."""
    status = 400 if exc.status_code == 500 and exc.detail in CLIENT_ERRORS_SENT_AS_500 else exc.status_code
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=getattr(exc, "headers", None))


async def _monailabel_error(request, exc) -> JSONResponse:
    """``MONAILabelException``: bad input (an unknown WSI model, a bad request) -> 400, anything else 500."""
    from monailabel.interfaces.exception import MONAILabelError

    client = exc.error == MONAILabelError.INVALID_INPUT
    return _answer(400 if client else 500, f"{exc.error.value}: {exc.msg}")


# (path regex, exception type, words in its message, status, what it means): MONAI Label endpoints that fail on
# bad input with an exception, or on a missing optional tool; any other exception stays a 500.
_OBJECT = "the params / info form field must be a JSON object"
KNOWN_FAILURES = (
    (r"/logs/gpu$", FileNotFoundError, "", 404, "no GPU information on this server"),
    (r"/datastore/dataset$", AssertionError, "", 404, "no dataset archive"),
    (r"/datastore/(image|label)(/info)?$", TypeError, "", 400, _OBJECT),
    (r"/infer/", TypeError, "", 400, _OBJECT),
    (r"/infer/", ValueError, "dictionary update sequence", 400, _OBJECT),
    (r"/session$", shutil.ReadError, "", 400, "uncompress=true needs a zip or tar archive"),
    (r"", OverflowError, "", 400, "a number in the request is too large"),  # e.g. /logs/?lines=10**30
)


async def _known_failure(request, exc: Exception) -> JSONResponse:
    """A row of ``KNOWN_FAILURES`` answered with its status and meaning; any other exception is re-raised."""
    path = request.url.path.rstrip("/")
    for pattern, kind, words, status, meaning in KNOWN_FAILURES:
        if isinstance(exc, kind) and words in str(exc) and re.search(pattern, path):
            return _answer(status, f"{meaning} ({type(exc).__name__}: {exc})")
    raise exc


def _restrict_cors(app, origins: list[str]) -> None:
    """MONAI Label's CORS middleware allowing only ``origins`` (none: same-origin pages only)."""
    from fastapi.middleware.cors import CORSMiddleware

    for i, m in enumerate(app.user_middleware):
        if m.cls is CORSMiddleware:
            app.user_middleware[i] = Middleware(CORSMiddleware, allow_origins=list(origins), allow_credentials="*" not in origins,
                                                allow_methods=["*"], allow_headers=["*"])
    logger.info("CORS: %s", f"origins {origins}" if origins else "no other origin (pages served by this server only)")


def install(max_upload_bytes: int, tasks: Callable[[str], Collection[str]],
            check_train: Callable[[str, object], None] | None = None, cors_origins: list[str] | None = None) -> bool:
    """Add the guard and handlers to ``monailabel.app.app``; False when no server runs in this process
    (a training subprocess, the CLI)."""
    app = upstream.serving_app()
    if app is None:
        return False
    from monailabel.config import settings
    from monailabel.interfaces.exception import ImageNotFoundException, LabelNotFoundException, MONAILabelException
    import pydantic
    from starlette.exceptions import HTTPException as StarletteHTTPException

    upstream.add_middleware(app, RequestGuard, max_upload_bytes=max_upload_bytes, tasks=tasks, check_train=check_train,
                            prefix=settings.MONAI_LABEL_API_STR)
    _restrict_cors(app, cors_origins or [])
    app.exception_handlers[json.JSONDecodeError] = _bad_json
    app.exception_handlers[ImageNotFoundException] = _not_found
    app.exception_handlers[LabelNotFoundException] = _not_found
    app.exception_handlers[MONAILabelException] = _monailabel_error
    app.exception_handlers[StarletteHTTPException] = _http_error
    app.exception_handlers[pydantic.ValidationError] = _invalid_body
    for kind in {row[1] for row in KNOWN_FAILURES}:
        app.exception_handlers[kind] = _known_failure
    upstream.rebuild_middleware(app)
    logger.info("request guard installed: uploads up to %d bytes", max_upload_bytes)
    return True
