"""The sign-in gate: every request proves who it is before any endpoint runs.

:class:`SignInGate` is an ASGI middleware of MONAI Label's server (installed by :func:`lib.identity.install` only
when sign-in is on). For each HTTP request it answers, before the endpoint (so nothing is read or written):

- **401** without ``Authorization: Bearer <token>``, or with a token :func:`lib.identity.tokens.verify` rejects
  (expired, signed by another key, another issuer or audience, HMAC / ``none``), with RFC 6750's
  ``WWW-Authenticate: Bearer`` header and the reason in ``detail``;
- **403** for a valid token naming no usable user, or holding no role of the app (reader, admin) nor of MONAI
  Label, and for the routes only administrators may use (:data:`ADMIN_ONLY`: routes MONAI Label leaves to any
  annotator); the other routes ask MONAI Label's role for them as they always did (``RBAC``);
- **503** when the provider's keys cannot be fetched (the token was not judged);

and otherwise binds the user (:mod:`lib.identity.context`) for the endpoint and everything under it. The few
routes in :data:`PUBLIC` need no token: they hold no data (the sign-in itself, the API's description, and the
viewer's program files, which a browser loads before it can sign in).
"""

from __future__ import annotations

import logging
import re

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from lib.identity import context
from lib.identity.claims import Identity, NotAUser, identity_from_claims
from lib.identity.keys import ProviderKeys, ProviderUnavailable
from lib.identity.settings import SignInSettings
from lib.identity.tokens import TokenRejected, verify

__all__ = ["ADMIN_ONLY", "PUBLIC", "Refused", "SignInGate", "authenticate"]

logger = logging.getLogger(__name__)

# (methods, path regex after MONAI Label's API prefix, why no token is needed)
PUBLIC: tuple[tuple[frozenset[str], re.Pattern, str], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern), why) for methods, pattern, why in (
        ("GET HEAD", r"^/auth/?$", "says that sign-in is on and which provider and client to sign in with"),
        ("POST", r"^/auth/token/?$", "the sign-in itself: a user name and password exchanged at the provider"),
        ("GET HEAD", r"^/?$", "the API's description page (Swagger UI): no data"),
        ("GET HEAD", r"^/docs/?$", "the API's description page (ReDoc): no data"),
        ("GET HEAD", r"^/openapi\.json$", "the API's description: no data"),
        ("GET HEAD", r"^/favicon\.ico$", "an icon"),
        ("GET HEAD", r"^/ohif(/.*)?$", "the OHIF viewer's program files: no data (the page signs in, then its calls carry the token)"),
        ("GET HEAD", r"^/ssb/viewer/[^/]+$", "the SSB panel's program files and the sign-in page OHIF returns to: no data"),
    ))

# (methods, path regex): routes MONAI Label gives to any annotator (a reader) that only administrators may use
ADMIN_ONLY: tuple[tuple[frozenset[str], re.Pattern], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern)) for methods, pattern in (
        ("PUT", r"^/datastore/?$"),  # adding an image
        ("PUT", r"^/datastore/(image|label)/info/?$"),  # rewriting any image's or label's info
        ("PUT", r"^/datastore/updatelabelinfo/?$"),
        ("GET", r"^/datastore/dataset/?$"),  # every image and label as one archive
        ("POST DELETE", r"^/scoring(/.*)?$"),  # scoring runs over every image
        ("POST", r"^/reload/?$"),  # re-creates the app
        ("GET", r"^/ssb/audit/?$"),  # the audit log
    ))


class Refused(Exception):
    """A request the gate answers itself: ``status`` (401, 403, 503) and ``detail``."""

    def __init__(self, status: int, detail: str, challenge: str = 'Bearer error="invalid_token"') -> None:
        super().__init__(detail)
        self.status, self.detail, self.challenge = status, detail, challenge


def _matches(table, method: str, path: str) -> bool:
    return any(method in methods and pattern.match(path) for methods, pattern, *_ in table)


def authenticate(authorization: str, settings: SignInSettings, keys: ProviderKeys) -> Identity:
    """Who sends ``authorization`` (the request's ``Authorization`` header): the answer for every route.

    Raises:
        Refused: 401 (no or an invalid token), 403 (a valid token naming no user, or with no role of the app),
            503 (the provider's keys cannot be had).
    """
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "sign-in required: send the provider's access token as 'Authorization: Bearer <token>' "
                           "(3D Slicer: the MONAI Label module asks for your user name and password; docs/signin.md)",
                      challenge="Bearer")  # RFC 6750: no error code when no credentials came
    try:
        identity = identity_from_claims(verify(token.strip(), keys, settings), settings)
    except TokenRejected as exc:
        raise Refused(401, f"invalid token: {exc}") from None
    except NotAUser as exc:
        raise Refused(403, f"signed in, but {exc}") from None
    except ProviderUnavailable as exc:
        logger.error("cannot check a token: %s", exc)
        raise Refused(503, f"the sign-in provider cannot be reached, so no token can be checked: {exc}") from None
    if not identity.roles:
        raise Refused(403, f"{identity.username} is signed in but holds neither the reader role "
                           f"({settings.reader_role!r}) nor the admin role ({settings.admin_role!r}) at {settings.roles_claim!r}")
    return identity


class SignInGate:
    """ASGI middleware (module docstring). ``prefix``: MONAI Label's ``MONAI_LABEL_API_STR``."""

    def __init__(self, app, settings: SignInSettings, keys: ProviderKeys, prefix: str = "") -> None:
        self.app, self.settings, self.keys, self.prefix = app, settings, keys, prefix.rstrip("/")

    def _identity(self, scope) -> Identity | None:
        """The request's user, None for a public route. Raises :class:`Refused`."""
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path.startswith(self.prefix):
            path = path[len(self.prefix):]
        if _matches(PUBLIC, method, path):
            return None
        headers = dict(scope.get("headers") or [])
        identity = authenticate(headers.get(b"authorization", b"").decode("latin-1"), self.settings, self.keys)
        if _matches(ADMIN_ONLY, method, path) and not identity.is_admin:
            raise Refused(403, f"{identity.username} is not an administrator: {method} {path} is for the role "
                               f"{self.settings.admin_role!r}")
        return identity

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:  # in a worker thread: a key set fetched from the provider must not stall the event loop
            identity = await run_in_threadpool(self._identity, scope)
        except Refused as exc:
            headers = {"WWW-Authenticate": exc.challenge} if exc.status == 401 else {}
            await JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)(scope, receive, send)
            return
        token = context.bind(identity)
        try:
            await self.app(scope, receive, send)
        finally:
            context.release(token)
