"""The keys a sign-in provider publishes, fetched as the provider rotates them.

- ``oidc`` mode: the discovery document (``issuer``, ``jwks_uri``, the endpoints the viewers sign in at), then the
  JWKS at ``jwks_uri``. The key set is cached; a token naming a key id (``kid``) the cache does not hold makes one
  refetch (a provider publishes its next key before signing with it), at most once per ``min_refetch_s`` so
  that tokens with made-up key ids cannot make the server hammer the provider; the set is also refetched once
  it is ``max_age_s`` old, so a key the provider withdrew stops verifying.
- ``realm`` mode: a Keycloak realm document ``{"public_key": "<base64 SPKI>"}`` (what MONAI Label reads): one
  key without a key id; the issuer is the realm URL itself (what Keycloak writes in ``iss``).

Only public keys of asymmetric algorithms are kept (RSA, EC, OKP): a symmetric (``oct``) key in a JWKS, or one
marked ``"use": "enc"``, is skipped. Nothing here checks a token; :mod:`lib.identity.tokens` does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from lib.identity.settings import DISCOVERY_PATH, SignInSettings

__all__ = ["ALGORITHMS", "ProviderKeys", "ProviderUnavailable", "SigningKey", "UnknownKey"]

logger = logging.getLogger(__name__)

# the algorithms each kind of public key verifies (no HMAC, no "none")
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}


class ProviderUnavailable(RuntimeError):
    """The provider's documents could not be fetched or read (the server answers 503, not 401)."""


class UnknownKey(LookupError):
    """The token names a key the provider does not publish."""


@dataclass(frozen=True)
class SigningKey:
    """A provider's public key: ``key`` (a ``cryptography`` key object), its id, the algorithms it verifies."""

    key: Any
    kid: str | None
    algorithms: tuple[str, ...]


def _fetch_json(url: str, timeout: float) -> dict:
    import requests

    try:
        r = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        r.raise_for_status()
        body = r.json()
    except Exception as exc:  # network, HTTP status or JSON: all "the provider did not answer"
        raise ProviderUnavailable(f"the sign-in provider did not answer at {url}: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"the sign-in provider's document at {url} is not a JSON object")
    return body


def _from_jwk(jwk: dict) -> SigningKey | None:
    """A JWK as a :class:`SigningKey`, or None for one that cannot verify a signature (symmetric, encryption)."""
    kty = jwk.get("kty")
    if kty not in ALGORITHMS or jwk.get("use", "sig") != "sig":
        return None
    try:
        parsed = jwt.PyJWK(jwk)
    except jwt.PyJWKError as exc:
        logger.warning("skipping a key of the provider's JWKS (kid %r): %s", jwk.get("kid"), exc)
        return None
    algs = ALGORITHMS[kty]
    if jwk.get("alg"):
        algs = tuple(a for a in algs if a == jwk["alg"])
    return SigningKey(parsed.key, jwk.get("kid"), algs) if algs else None


def _from_realm(document: dict, url: str) -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    b64 = document.get("public_key")
    if not isinstance(b64, str) or not b64:
        raise ProviderUnavailable(f"the realm document at {url} has no public_key")
    try:
        key = load_pem_public_key(f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----".encode())
    except ValueError as exc:
        raise ProviderUnavailable(f"the realm document's public_key at {url} does not read: {exc}") from None
    kinds = ((rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "EC"), (ed25519.Ed25519PublicKey, "OKP"))
    kty = next((name for cls, name in kinds if isinstance(key, cls)), None)
    if kty is None:
        raise ProviderUnavailable(f"the realm's public key at {url} is a {type(key).__name__}: not RSA, EC or Ed25519")
    return SigningKey(key, None, ALGORITHMS[kty])


class ProviderKeys:
    """The provider's issuer, token endpoint and signing keys (module docstring).

    Args:
        settings: ``mode`` and ``key_url`` say where to look. fetch: ``(url, timeout) -> dict`` (tests pass their own).
        min_refetch_s: shortest time between two fetches of the key set for an unknown key id.
        max_age_s: a key set older than this is fetched again before use.
    """

    def __init__(self, settings: SignInSettings, fetch: Callable[[str, float], dict] = _fetch_json,
                 min_refetch_s: float = 10.0, max_age_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        if settings.mode not in ("oidc", "realm"):
            raise ValueError(f"sign-in is off (mode {settings.mode!r}): there are no provider keys to fetch")
        self.settings, self._fetch, self._clock = settings, fetch, clock
        self.min_refetch_s, self.max_age_s = float(min_refetch_s), float(max_age_s)
        self._lock = threading.Lock()
        self._discovery: dict | None = None
        self._keys: list[SigningKey] = []
        self._fetched_at: float | None = None
        self.fetches = 0  # how many times the key set was fetched (the tests read it)

    # --- the documents ------------------------------------------------------------------------------------------
    def _document(self) -> dict:
        if self._discovery is None:
            url = self.settings.key_url
            doc = self._fetch(url, self.settings.timeout_s)
            if self.settings.mode == "oidc":
                for field in ("issuer", "jwks_uri"):
                    if not isinstance(doc.get(field), str) or not doc[field]:
                        raise ProviderUnavailable(f"the discovery document at {url} has no {field}")
                expected = url[: -len(DISCOVERY_PATH)]
                if doc["issuer"].rstrip("/") != expected.rstrip("/"):
                    raise ProviderUnavailable(f"the discovery document at {url} names the issuer {doc['issuer']!r}; "
                                              f"a provider's document must be served under its own issuer ({expected!r})")
            self._discovery = doc
        return self._discovery

    @property
    def issuer(self) -> str:
        """The ``iss`` every accepted token carries."""
        with self._lock:
            doc = self._document()
        return doc["issuer"] if self.settings.mode == "oidc" else self.settings.key_url

    def endpoint(self, name: str, required: bool = True) -> str | None:
        """The provider's endpoint ``name`` (``token_endpoint``, ``authorization_endpoint``, ``end_session_endpoint``)
        from its discovery document; None for a missing one unless ``required`` (then :class:`ProviderUnavailable`)."""
        with self._lock:
            doc = self._document()
        if self.settings.mode == "oidc":
            endpoint = doc.get(name)
        else:  # Keycloak serves its OpenID Connect documents under the realm
            endpoint = self._fetch(self.settings.key_url + DISCOVERY_PATH, self.settings.timeout_s).get(name)
        if isinstance(endpoint, str) and endpoint:
            return endpoint
        if required:
            raise ProviderUnavailable(f"the sign-in provider publishes no {name}")
        return None

    @property
    def token_endpoint(self) -> str:
        """Where a user name and password are exchanged for tokens (the password grant 3D Slicer's plugin uses)."""
        return self.endpoint("token_endpoint")

    # --- the keys -----------------------------------------------------------------------------------------------
    def _fetch_keys(self) -> list[SigningKey]:
        doc = self._document()
        self.fetches += 1
        self._fetched_at = self._clock()
        if self.settings.mode == "realm":
            self._keys = [_from_realm(doc, self.settings.key_url)]
        else:
            jwks = self._fetch(doc["jwks_uri"], self.settings.timeout_s)
            keys = jwks.get("keys")
            if not isinstance(keys, list):
                raise ProviderUnavailable(f"the JWKS at {doc['jwks_uri']} has no list of keys")
            self._keys = [k for k in (_from_jwk(j) for j in keys if isinstance(j, dict)) if k is not None]
            logger.info("sign-in: %d signing key(s) from %s (%s)", len(self._keys), doc["jwks_uri"],
                        ", ".join(str(k.kid) for k in self._keys))
        return self._keys

    def _match(self, kid: str | None) -> SigningKey | None:
        if kid is None:
            return self._keys[0] if len(self._keys) == 1 else None
        return next((k for k in self._keys if k.kid == kid), None)

    def key(self, kid: str | None) -> SigningKey:
        """The published key with id ``kid`` (None: the only key, when the provider publishes one).

        Raises:
            UnknownKey: the provider does not publish it (after a refetch, when one is allowed).
            ProviderUnavailable: the provider's documents cannot be had.
        """
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self.max_age_s:
                self._refetch()
            found = self._match(kid)
            if found is None and now - (self._fetched_at or 0.0) >= self.min_refetch_s:
                self._refetch()  # a rotated key: the provider publishes it before signing with it
                found = self._match(kid)
        if found is None:
            raise UnknownKey(f"the token's key id {kid!r} is not among the {len(self._keys)} key(s) the provider publishes"
                             if kid is not None else f"the token names no key id and the provider publishes {len(self._keys)} keys")
        return found

    def _refetch(self) -> None:
        """Fetch the key set; keep the old one if the provider does not answer and one is held."""
        try:
            self._fetch_keys()
        except ProviderUnavailable:
            if not self._keys:
                raise
            logger.warning("sign-in: the provider's keys could not be refetched; keeping the %d held", len(self._keys))
