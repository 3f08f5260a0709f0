"""MONAI Label's ``/auth`` routes and its current-user dependency, answered from the sign-in identity.

3D Slicer's MONAI Label plugin signs in this way (``MONAILabelClient.auth_enabled`` / ``auth_token`` /
``auth_valid_token``): it asks ``GET /auth/``; when ``enabled`` it shows its login dialog and posts the user name
and password to ``POST /auth/token``; it sends the ``access_token`` it gets back as ``Authorization: Bearer`` with
every request, and checks it with ``GET /auth/token/valid`` (signing in again when that fails). These routes:

- ``GET /auth/``: ``{"enabled": true, "client_id", "realm", "issuer"}``, and what OHIF's sign-in
  (``apps/ssb/viewer/ssb-signin.js``: authorisation code with PKCE on the provider's own login page) needs:
  ``authorization_endpoint``, ``token_endpoint``, ``end_session_endpoint`` (from the provider's discovery
  document; null when it cannot be reached) and ``scope``;
- ``POST /auth/token`` (form ``username``, ``password``): the password grant at the provider's
  ``token_endpoint`` for the client ``client_id`` (Keycloak: the client's *Direct access grants*); the provider's
  answer is passed back as it came; a refusal is 401 with the provider's reason, an unreachable provider 503;
- ``GET /auth/token/valid``: the signed-in user (the gate has checked the token): MONAI Label's ``User`` and
  ``role``, ``admin`` or ``reader`` (what the OHIF panel shows).

They replace MONAI Label's (which exist only when ``MONAI_LABEL_AUTH_ENABLE`` was set before the server started,
and answer 500 for a wrong password). :func:`install_current_user` makes MONAI Label's ``get_current_user``
dependency return the request's :class:`~lib.identity.claims.Identity`, so every endpoint's ``RBAC`` checks the
roles :mod:`lib.identity.claims` grants.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Form, HTTPException

from lib.identity.context import current_identity
from lib.identity.keys import ProviderKeys, ProviderUnavailable
from lib.identity.settings import SignInSettings

__all__ = ["install_current_user", "router"]

logger = logging.getLogger(__name__)


def _monailabel_user(identity) -> Any:  # noqa: ANN001
    from monailabel.endpoints.user.auth import User

    return User(username=identity.username, email=identity.email, name=identity.name, roles=sorted(identity.roles))


def current_user() -> Any:
    """MONAI Label's ``User`` of the request (what its ``RBAC`` checks); the gate has refused requests without one."""
    identity = current_identity()
    if identity is None:  # a public route asking for a user: never one of MONAI Label's
        raise HTTPException(status_code=401, detail="sign-in required", headers={"WWW-Authenticate": "Bearer"})
    return _monailabel_user(identity)


def install_current_user(server: Any) -> None:
    """Make MONAI Label's ``get_current_user`` dependency (behind every ``RBAC``) answer :func:`current_user`."""
    from monailabel.endpoints.user import auth

    server.dependency_overrides[auth.get_current_user] = current_user


def _password_grant(keys: ProviderKeys, settings: SignInSettings, username: str, password: str, scope: str) -> dict:
    import requests

    try:
        endpoint = keys.token_endpoint
        r = requests.post(endpoint, timeout=settings.timeout_s, headers={"Accept": "application/json"},
                          data={"grant_type": "password", "client_id": settings.client_id, "username": username,
                                "password": password, "scope": " ".join(dict.fromkeys(["openid", *scope.split()]))})
    except (ProviderUnavailable, requests.RequestException) as exc:
        raise HTTPException(status_code=503, detail=f"the sign-in provider cannot be reached: {exc}") from None
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        why = (body.get("error_description") or body.get("error")) if isinstance(body, dict) else None
        logger.info("sign-in of %r refused by the provider: HTTP %d %s", username, r.status_code, why)
        raise HTTPException(status_code=401, detail=f"sign-in refused by the provider: {why or f'HTTP {r.status_code}'}",
                            headers={"WWW-Authenticate": "Bearer"})
    logger.info("%s signed in (password grant at %s)", username, endpoint)
    return body


def router(settings: SignInSettings, keys: ProviderKeys) -> APIRouter:
    """The ``/auth`` routes (module docstring)."""
    api = APIRouter(prefix="/auth", tags=["Auth"])

    @api.get("/", summary="Whether sign-in is on, and the provider and client to sign in with")
    def auth_enabled() -> dict:
        try:
            issuer = keys.issuer
            endpoints = {name: keys.endpoint(name, required=name == "authorization_endpoint")
                         for name in ("authorization_endpoint", "token_endpoint", "end_session_endpoint")}
        except ProviderUnavailable:
            issuer, endpoints = None, dict.fromkeys(("authorization_endpoint", "token_endpoint", "end_session_endpoint"))
        return {"enabled": True, "client_id": settings.client_id, "realm": issuer or settings.key_url, "issuer": issuer,
                "scope": settings.scope, **endpoints}

    @api.post("/token", summary="Sign in with a user name and password (the provider's password grant)")
    def access_token(username: str = Form(...), password: str = Form(...), scope: str = Form("")) -> dict:
        return _password_grant(keys, settings, username, password, scope)

    @api.get("/token/valid", summary="The signed-in user, when the token is valid")
    def valid_token() -> dict:
        identity = current_identity()
        return {**current_user().model_dump(), "role": "admin" if identity and identity.is_admin else "reader"}

    return api
