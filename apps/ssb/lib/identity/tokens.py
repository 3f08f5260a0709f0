"""Checking a bearer token (a JWT) against the provider's published keys.

A token is accepted when all of these hold, else :class:`TokenRejected` says which failed:

1. it is a JWT whose header names an asymmetric algorithm (RS/PS/ES/EdDSA: :data:`lib.identity.keys.ALGORITHMS`);
   ``none`` and HMAC are refused before any key is looked at (a public key used as an HMAC secret would
   otherwise verify a forged token);
2. its ``kid`` is a key the provider publishes (:meth:`lib.identity.keys.ProviderKeys.key`, which refetches the
   key set for a key it has not seen), of a kind that verifies that algorithm;
3. the signature verifies with that key;
4. ``exp`` is present and not passed (``nbf`` / ``iat`` not in the future), with ``leeway_s`` of clock difference;
5. ``iss`` is the provider's issuer;
6. ``aud`` holds the configured audience (when one is configured: always in ``oidc`` mode).
"""

from __future__ import annotations

import jwt

from lib.identity.keys import ALGORITHMS, ProviderKeys, UnknownKey
from lib.identity.settings import SignInSettings

__all__ = ["ASYMMETRIC", "TokenRejected", "verify"]

ASYMMETRIC = tuple(a for algs in ALGORITHMS.values() for a in algs)

_REASONS = (  # PyJWT's exception -> what the 401 answer says
    (jwt.ExpiredSignatureError, "the token has expired: sign in again"),
    (jwt.InvalidSignatureError, "the token's signature does not verify with the provider's key"),
    (jwt.InvalidAudienceError, "the token is not meant for this server (audience)"),
    (jwt.InvalidIssuerError, "the token was not issued by the configured provider (issuer)"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf / iat in the future)"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
)


class TokenRejected(ValueError):
    """A token that does not prove who sent it (the server answers 401 with this message)."""


def verify(token: str, keys: ProviderKeys, settings: SignInSettings) -> dict:
    """The claims of ``token`` once every check of the module docstring passed.

    Raises:
        TokenRejected: the check that failed, in words.
        lib.identity.keys.ProviderUnavailable: the provider's keys cannot be had (the token was not judged).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise TokenRejected("the bearer token is not a JWT") from None
    alg = header.get("alg")
    if alg not in ASYMMETRIC:
        raise TokenRejected(f"the token's algorithm {alg!r} is not accepted: only {', '.join(ASYMMETRIC)} "
                            "(signatures made with a provider's private key)")
    kid = header.get("kid")
    try:
        key = keys.key(kid if isinstance(kid, str) else None)
    except UnknownKey as exc:
        raise TokenRejected(str(exc)) from None
    if alg not in key.algorithms:
        raise TokenRejected(f"the token's algorithm {alg!r} does not fit the provider's key {kid!r} ({', '.join(key.algorithms)})")
    required = ["exp", "iss"] + (["aud"] if settings.audience else [])
    try:
        return jwt.decode(token, key.key, algorithms=[alg], audience=settings.audience or None, issuer=keys.issuer,
                          leeway=settings.leeway_s, options={"require": required, "verify_aud": bool(settings.audience)})
    except jwt.InvalidTokenError as exc:
        reason = next((words for cls, words in _REASONS if isinstance(exc, cls)), "the token does not verify")
        raise TokenRejected(f"{reason} ({exc})") from None
