"""Who the current request is: the one answer every route and the code under it asks.

:class:`lib.identity.gate.SignInGate` verifies the request's token before any endpoint runs and binds the
:class:`~lib.identity.claims.Identity` here (a context variable: it follows the request into the endpoint, the
thread pool running it, the datastore and the label service). With sign-in off nothing is bound:
:func:`current_identity` is None and the app behaves as for one local user.
"""

from __future__ import annotations

import contextvars

from lib.identity.claims import Identity

__all__ = ["bind", "current_identity", "release", "signed_in_user"]

_CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("ssb_identity", default=None)


def bind(identity: Identity | None) -> contextvars.Token:
    """Make ``identity`` the current request's (the gate calls it once per request)."""
    return _CURRENT.set(identity)


def release(token: contextvars.Token) -> None:
    """Undo :func:`bind` at the end of the request."""
    _CURRENT.reset(token)


def current_identity() -> Identity | None:
    """The signed-in user of this request; None with sign-in off (or outside a request)."""
    return _CURRENT.get()


def signed_in_user() -> str | None:
    """The signed-in user's name, None with sign-in off."""
    identity = _CURRENT.get()
    return identity.username if identity else None
