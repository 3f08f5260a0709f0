"""Sign-in: who each request is, checked against an OpenID Connect provider's published keys. Off by default.

- :mod:`.settings`: the settings (environment variables / ``--conf``), read in one place;
- :mod:`.keys`: the provider's discovery document and key set (JWKS, refetched when it rotates), or a Keycloak
  realm document;
- :mod:`.tokens`: a bearer token checked: asymmetric signature by a published key, expiry, issuer, audience;
- :mod:`.claims`: the user and roles a token names (reader, admin) and the MONAI Label roles they grant;
- :mod:`.context`: the current request's user, for every route and the code under it;
- :mod:`.gate`: the ASGI middleware that refuses (401 / 403 / 503) or binds the user before any endpoint runs;
- :mod:`.login`: MONAI Label's ``/auth`` routes (3D Slicer's login, OHIF's sign-in settings) and its
  ``get_current_user`` dependency;
- :mod:`.viewer_files`: the OHIF viewer's program files without a token (the page that signs the browser in);
- :mod:`.exposure`: no listening beyond loopback with sign-in off, unless ``SSB_ALLOW_OPEN=1``.

With sign-in on, a label is saved under the signed-in user and a request naming another reader is refused
(:mod:`lib.label_saves`); the OHIF viewer signs in on the provider's login page (``apps/ssb/viewer/ssb-signin.js``).
The setup, for the provider, 3D Slicer and OHIF, is ``docs/signin.md``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from lib.identity.settings import SignInSettings, load

__all__ = ["install"]

logger = logging.getLogger(__name__)


def install(conf: Mapping[str, str]) -> SignInSettings:
    """Read the settings; in the server process check where it listens (:mod:`.exposure`) and, with sign-in on,
    add the gate, the ``/auth`` routes and the current-user dependency to MONAI Label's server.

    Raises:
        ValueError: a setting that cannot be used. lib.identity.exposure.OpenServerRefused: listening beyond
            loopback with sign-in off.
    """
    from lib import upstream
    from lib.identity.exposure import check_exposure, listen_host

    settings = load(conf)
    server = upstream.serving_app()
    if server is None:  # a training subprocess, the CLI: no requests here
        return settings
    host = listen_host(sys.argv)
    if host is not None:
        check_exposure(host, settings)
    if not settings.enabled:
        logger.info("sign-in off: every request acts as the one local user (listening on %s)", host or "an unknown address")
        return settings

    from monailabel.config import settings as ml_settings

    from lib.identity import login, viewer_files
    from lib.identity.gate import SignInGate
    from lib.identity.keys import ProviderKeys, ProviderUnavailable

    keys = ProviderKeys(settings)
    ml_settings.MONAI_LABEL_AUTH_ENABLE = True  # MONAI Label's RBAC checks roles only when it reads this as on
    login.install_current_user(server)
    upstream.replace_router(server, login.router(settings, keys), "/auth")
    upstream.replace_router(server, viewer_files.router(), viewer_files.PREFIX)
    upstream.add_middleware(server, SignInGate, settings=settings, keys=keys, prefix=ml_settings.MONAI_LABEL_API_STR)
    upstream.rebuild_middleware(server)
    try:
        issuer = keys.issuer
    except ProviderUnavailable as exc:  # requests get 503 until it answers
        logger.error("sign-in on, but the provider does not answer yet: %s", exc)
        issuer = settings.key_url
    if not settings.audience:
        logger.warning("sign-in on without an audience: a token the provider issued for any other client is accepted; "
                       "set SSB_OIDC_AUDIENCE")
    logger.info("sign-in on (%s): tokens of %s for audience %r; roles at %r (reader %r, admin %r)", settings.mode, issuer,
                settings.audience or "(not checked)", settings.roles_claim, settings.reader_role, settings.admin_role)
    return settings
