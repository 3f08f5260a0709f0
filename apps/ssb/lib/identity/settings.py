"""Sign-in settings, read in one place: environment variables, each overridden by its ``--conf`` key.

Sign-in is **off** unless one of these turns it on:

- ``SSB_OIDC_DISCOVERY_URL`` (``--conf oidc_discovery_url``): an OpenID Connect provider. The value is its
  discovery document (``https://idp/realms/x/.well-known/openid-configuration``) or its issuer URL (the path
  ``/.well-known/openid-configuration`` is then appended). Keys come from the document's ``jwks_uri``.
- ``MONAI_LABEL_AUTH_ENABLE=true`` without a discovery URL: MONAI Label's own setting, a Keycloak realm document
  at ``MONAI_LABEL_AUTH_REALM_URI`` (``{"public_key": ...}``, one key). Its token claims default to MONAI Label's
  (``MONAI_LABEL_AUTH_TOKEN_USERNAME``, ``MONAI_LABEL_AUTH_TOKEN_ROLES``, ``MONAI_LABEL_AUTH_CLIENT_ID``).

The other settings (:data:`FIELDS`: conf key, environment variable, default, meaning; the same table is in
``docs/signin.md``) say which tokens are accepted and what they allow.
Roles: a token holding the reader role may infer and save its own labels; one holding the admin role may also
train, delete and read the audit log (:mod:`lib.identity.claims`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DISCOVERY_PATH", "FIELDS", "SignInSettings", "load"]

DISCOVERY_PATH = "/.well-known/openid-configuration"

# (conf key, environment variable, default, meaning)
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("oidc_discovery_url", "SSB_OIDC_DISCOVERY_URL", "",
     "the provider's discovery document or issuer URL; setting it turns sign-in on"),
    ("oidc_audience", "SSB_OIDC_AUDIENCE", "",
     "the `aud` a token must carry (the API's identifier at the provider, or the viewers' client id); required"),
    ("oidc_client_id", "SSB_OIDC_CLIENT_ID", "",
     "the public client the viewers sign in with (3D Slicer's login through `POST /auth/token`, OHIF's login page); "
     "default: the audience"),
    ("oidc_scope", "SSB_OIDC_SCOPE", "openid profile",
     "the scopes OHIF asks for when it signs in (add the one your provider needs for the server's audience)"),
    ("oidc_roles_claim", "SSB_OIDC_ROLES_CLAIM", "realm_access.roles",
     "where the token lists its roles: a claim name, or a path through objects (`.` or `#` between names)"),
    ("oidc_username_claim", "SSB_OIDC_USERNAME_CLAIM", "preferred_username",
     "the claim naming the user (labels are saved under it); `sub` when the token lacks it"),
    ("oidc_reader_role", "SSB_OIDC_READER_ROLE", "ssb-reader", "the role of a reader: infer, save and remove their own labels"),
    ("oidc_admin_role", "SSB_OIDC_ADMIN_ROLE", "ssb-admin", "the role of an administrator: also train, delete, read the audit log"),
    ("allow_open", "SSB_ALLOW_OPEN", "0",
     "1: listen beyond loopback with sign-in off (anyone who reaches the port can read and write everything)"),
)


@dataclass(frozen=True)
class SignInSettings:
    """What :func:`load` read. ``mode``: ``off``, ``oidc`` (discovery document and JWKS) or ``realm`` (a Keycloak
    realm document's ``public_key``); ``key_url``: the discovery document or the realm document."""

    mode: str = "off"
    key_url: str = ""
    audience: str = ""
    client_id: str = ""
    scope: str = "openid profile"
    roles_claim: str = "realm_access.roles"
    username_claim: str = "preferred_username"
    reader_role: str = "ssb-reader"
    admin_role: str = "ssb-admin"
    allow_open: bool = False
    leeway_s: float = 10.0  # clock difference tolerated on exp / iat / nbf
    timeout_s: float = 10.0  # one request to the provider

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def _truthy(value: str) -> bool:
    from lib.values import parse_bool

    try:
        return parse_bool(value)
    except ValueError:
        raise ValueError(f"expected true/false (1/0, yes/no), got {value!r}") from None


def _discovery_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"SSB_OIDC_DISCOVERY_URL / --conf oidc_discovery_url must be an http(s) URL, got {value!r}")
    value = value.rstrip("/")
    return value if value.endswith(DISCOVERY_PATH) else value + DISCOVERY_PATH


def load(conf: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None) -> SignInSettings:
    """The settings from ``environ`` (default: this process's environment), each overridden by its ``conf`` key.

    Raises:
        ValueError: a setting that cannot be used (names it, what was expected and what came).
    """
    conf, environ = dict(conf or {}), os.environ if environ is None else environ
    raw = {key: str(conf.get(key) or environ.get(env) or default).strip() for key, env, default, _ in FIELDS}
    given = {key for key, env, _, _ in FIELDS if conf.get(key) or environ.get(env)}
    allow_open = _truthy(raw["allow_open"])
    if raw["oidc_discovery_url"]:
        mode, key_url = "oidc", _discovery_url(raw["oidc_discovery_url"])
    elif _truthy(environ.get("MONAI_LABEL_AUTH_ENABLE", "false") or "false"):
        mode, key_url = "realm", environ.get("MONAI_LABEL_AUTH_REALM_URI", "").rstrip("/")
        if not key_url.startswith(("http://", "https://")):
            raise ValueError(f"MONAI_LABEL_AUTH_ENABLE is on: MONAI_LABEL_AUTH_REALM_URI must be the realm's http(s) URL, got {key_url!r}")
        for key, env, default in (("oidc_roles_claim", "MONAI_LABEL_AUTH_TOKEN_ROLES", "realm_access#roles"),
                                  ("oidc_username_claim", "MONAI_LABEL_AUTH_TOKEN_USERNAME", "preferred_username"),
                                  ("oidc_client_id", "MONAI_LABEL_AUTH_CLIENT_ID", "monailabel-app")):
            if key not in given:
                raw[key] = environ.get(env) or default
    else:
        return SignInSettings(allow_open=allow_open)
    if mode == "oidc" and not raw["oidc_audience"]:
        raise ValueError("sign-in is on (SSB_OIDC_DISCOVERY_URL): set SSB_OIDC_AUDIENCE (--conf oidc_audience) to the "
                         "audience the provider puts in the tokens it issues for this server (docs/signin.md)")
    if not raw["oidc_reader_role"] or raw["oidc_reader_role"] == raw["oidc_admin_role"]:
        raise ValueError(f"the reader and admin roles must be two names, got {raw['oidc_reader_role']!r} and "
                         f"{raw['oidc_admin_role']!r}")
    return SignInSettings(mode=mode, key_url=key_url, audience=raw["oidc_audience"],
                          client_id=raw["oidc_client_id"] or raw["oidc_audience"], scope=raw["oidc_scope"],
                          roles_claim=raw["oidc_roles_claim"],
                          username_claim=raw["oidc_username_claim"], reader_role=raw["oidc_reader_role"],
                          admin_role=raw["oidc_admin_role"], allow_open=allow_open)
