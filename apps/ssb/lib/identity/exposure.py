"""No server open to the network without sign-in, unless the operator says so.

With sign-in off the server trusts every request: whoever reaches its port can list and download every study,
save labels under any reader's name, start training. That is right for one user on their own machine
(127.0.0.1, what ``make serve`` listens on), not for a network. :func:`check_exposure` refuses a listening address
beyond loopback (``0.0.0.0``, a LAN address, MONAI Label's own default ``0.0.0.0``) while sign-in is off, unless
``SSB_ALLOW_OPEN=1`` (``--conf allow_open true``) says the network is trusted.

The server checks it at start-up (:func:`lib.identity.install`, reading ``--host`` from MONAI Label's command
line); ``scripts/serve.sh`` asks the same question before it starts anything::

    python -m lib.identity.exposure HOST [--conf KEY VALUE ...]     # run in apps/ssb; exit status 2 = refused
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping, Sequence

from lib.identity.settings import SignInSettings, load

__all__ = ["OpenServerRefused", "check_exposure", "is_loopback", "listen_host"]

MONAILABEL_DEFAULT_HOST = "0.0.0.0"  # monailabel start_server without --host


class OpenServerRefused(RuntimeError):
    """Listening beyond loopback with sign-in off, not allowed explicitly."""


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1``."""
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_host(argv: Sequence[str]) -> str | None:
    """The ``--host`` (``-i``) of a ``monailabel start_server`` command line, MONAI Label's default without one;
    None when ``argv`` is not such a command line."""
    if "start_server" not in argv:
        return None
    host = MONAILABEL_DEFAULT_HOST
    for i, arg in enumerate(argv):
        if arg in ("--host", "-i") and i + 1 < len(argv):
            host = argv[i + 1]
        elif arg.startswith("--host="):
            host = arg.split("=", 1)[1]
    return host


def check_exposure(host: str, settings: SignInSettings) -> None:
    """Raise :class:`OpenServerRefused` (the message says what to do) for ``host`` beyond loopback with sign-in off."""
    if settings.enabled or settings.allow_open or is_loopback(host):
        return
    raise OpenServerRefused(
        f"refusing to listen on {host} with sign-in off: anyone who reaches this port could read every study, save "
        "labels under any reader's name and train the model. Either turn sign-in on (SSB_OIDC_DISCOVERY_URL and "
        "SSB_OIDC_AUDIENCE: docs/signin.md), or listen on 127.0.0.1 (SSB_HOST, the default of make serve), or, for a "
        "trusted network, say so with SSB_ALLOW_OPEN=1 (--conf allow_open true)")


def _conf_args(args: Sequence[str]) -> Mapping[str, str]:
    return {args[i + 1]: args[i + 2] for i in range(len(args) - 2) if args[i] == "--conf"}


def main(argv: Sequence[str]) -> int:
    """``HOST [--conf KEY VALUE ...]``: 0 when the server may listen there, 2 (the reason on stderr) when not."""
    if not argv:
        print("usage: python -m lib.identity.exposure HOST [--conf KEY VALUE ...]", file=sys.stderr)  # noqa: T201 (CLI)
        return 64
    try:
        check_exposure(argv[0], load(_conf_args(argv[1:])))
    except (OpenServerRefused, ValueError) as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 (CLI)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
