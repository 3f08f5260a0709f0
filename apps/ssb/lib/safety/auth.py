"""MONAI Label's bearer-token check, made to accept valid tokens with PyJWT 2.

With ``MONAI_LABEL_AUTH_ENABLE=true`` MONAI Label (0.8.5) fetches the realm's public key from
``MONAI_LABEL_AUTH_REALM_URI`` (a Keycloak realm document ``{"public_key": "<base64 SPKI>"}``) and checks
each request's ``Authorization: Bearer <JWT>`` in ``monailabel.endpoints.user.auth.from_token``. That function
calls ``jwt.decode`` without ``algorithms``, which PyJWT 2 refuses for every token: every request would be
answered 401. :func:`install_token_check` replaces it with the same check plus an explicit list of asymmetric
algorithms (RS/PS/ES; a realm's public key can never verify an HMAC token, so ``alg`` confusion is ruled out).
Signature and expiry are verified, the audience is not (as upstream); roles are read from the claim path in
``MONAI_LABEL_AUTH_TOKEN_ROLES`` (``realm_access#roles``), and MONAI Label's ``RBAC`` then asks for the
endpoint's role: annotator for label writes, admin for training and model changes, user for the rest.
The token's user name is also what a label submitted from a viewer is saved under (:mod:`lib.label_saves`).
"""

from __future__ import annotations

import logging

import jwt

from lib.label_saves import set_signed_in

__all__ = ["ALGORITHMS", "install_token_check"]

logger = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def _claim(payload: dict, path: str):
    value: object = payload
    for key in path.split("#"):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def install_token_check() -> bool:
    """Patch ``monailabel.endpoints.user.auth.from_token`` when authentication is enabled; returns whether it did."""
    from monailabel.config import settings
    from monailabel.endpoints.user import auth

    if not settings.MONAI_LABEL_AUTH_ENABLE:
        return False

    def from_token(token: str):
        key = auth.get_public_key(settings.MONAI_LABEL_AUTH_REALM_URI)
        payload = jwt.decode(token, key, algorithms=ALGORITHMS,
                             options={"verify_signature": True, "verify_aud": False, "verify_exp": True, "require": ["exp"]})
        roles = _claim(payload, settings.MONAI_LABEL_AUTH_TOKEN_ROLES)
        set_signed_in(str(payload.get(settings.MONAI_LABEL_AUTH_TOKEN_USERNAME) or ""))  # whose a viewer's save is
        return auth.User(
            username=str(payload.get(settings.MONAI_LABEL_AUTH_TOKEN_USERNAME) or ""),
            email=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_EMAIL),
            name=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_NAME),
            roles=[r for r in roles if isinstance(r, str)] if isinstance(roles, list) else [],
        )

    auth.from_token = from_token
    logger.info("token check: signature (%s) and expiry verified against %s", "/".join(ALGORITHMS[:1]) + "...",
                settings.MONAI_LABEL_AUTH_REALM_URI)
    return True
