"""A real OpenID Connect provider for the sign-in tests, and a user signing in on its login page.

The provider is the npm package ``oidc-provider`` (``tests/oidc/package.json``, configured by
``tests/oidc/provider.mjs``), run with the machine's Node.js on a free port of 127.0.0.1 and stopped by its PID.
:func:`require_provider` installs it into ``tests/oidc/node_modules`` with ``npm install`` the first time; the
calling test is skipped, with the reason, only when Node.js is missing (``.ci/run`` installs it) or the npm
registry cannot be reached. :func:`sign_in` is a user at the provider's own login page: the authorisation code
flow with PKCE, as a browser follows it (redirects, the login form, the code exchanged at the token endpoint).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests

from tests.app._server import REPO_ROOT, free_port

OIDC_DIR = REPO_ROOT / "tests" / "oidc"
INSTALLED = OIDC_DIR / "node_modules" / "oidc-provider" / "package.json"
MIN_NODE = 20
_UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "network")


def require_provider() -> str:
    """The ``node`` executable, with ``oidc-provider`` installed; skips (Node.js missing, registry unreachable)."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (apt-get install -y nodejs npm; .ci/run does)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = int(re.match(r"v(\d+)", version).group(1)) if re.match(r"v\d+", version) else 0
    if major < MIN_NODE:
        pytest.fail(f"tests/oidc/package.json's oidc-provider needs Node.js >= {MIN_NODE}; {node} is {version or 'unknown'}")
    if not INSTALLED.is_file():
        proc = subprocess.run(["npm", "install", "--no-package-lock", "--no-audit", "--no-fund"], cwd=OIDC_DIR,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr)[-2000:]
            if any(word in out for word in _UNREACHABLE):
                pytest.skip(f"the npm registry is unreachable, so oidc-provider cannot be installed: {out[-400:]}")
            pytest.fail(f"npm install in {OIDC_DIR} failed:\n{out}")
    return node


@dataclass
class User:
    name: str
    password: str
    roles: list[str]


@dataclass
class Provider:
    proc: subprocess.Popen
    issuer: str
    audience: str
    client_id: str
    short_client_id: str
    redirect_uri: str
    users: dict[str, User]
    log: Path


@contextlib.contextmanager
def running_provider(folder: Path, users: dict[str, list[str]], audience: str = "urn:ssb:annotation-server",
                     client_id: str = "ssb-viewers", short_client_id: str = "ssb-short-lived",
                     viewer_redirect_uris: tuple[str, ...] = (), token_ttl: int = 600):
    """``oidc-provider`` with ``users`` (name -> roles; passwords made here) until the block ends (stopped by PID).
    ``viewer_redirect_uris``: more redirect URIs of the clients (a server's OHIF sign-in page); ``token_ttl``: the
    seconds an access token of ``client_id`` lasts."""
    node = require_provider()
    port = free_port()
    people = {name: User(name, secrets.token_urlsafe(12), roles) for name, roles in users.items()}
    config = {"port": port, "audience": audience, "client_id": client_id, "short_client_id": short_client_id,
              "redirect_uri": "http://127.0.0.1/signed-in", "viewer_redirect_uris": list(viewer_redirect_uris),
              "token_ttl": token_ttl,
              "users": {u.name: {"password": u.password, "roles": u.roles} for u in people.values()}}
    (folder / "provider.json").write_text(json.dumps(config))
    log = folder / "provider.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([node, str(OIDC_DIR / "provider.mjs"), str(folder / "provider.json")], cwd=OIDC_DIR,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    provider = Provider(proc, f"http://127.0.0.1:{port}", audience, client_id, short_client_id, config["redirect_uri"],
                        people, log)
    try:
        deadline = time.time() + 30
        while "listening" not in log.read_text():
            assert proc.poll() is None and time.time() < deadline, f"oidc-provider did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _form(html: str, base: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's first form."""
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action, f"no form on the provider's page:\n{html[:2000]}"
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return urljoin(base, action.group(1)), fields


def sign_in(provider: Provider, user: str, client_id: str | None = None) -> dict:
    """``user`` signs in on the provider's login page (authorisation code + PKCE); the token endpoint's answer."""
    client_id = client_id or provider.client_id
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    browser = requests.Session()
    url = provider.issuer + "/auth?" + requests.compat.urlencode({
        "client_id": client_id, "response_type": "code", "redirect_uri": provider.redirect_uri, "scope": "openid ssb",
        "resource": provider.audience, "code_challenge": challenge, "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(8)})
    for _ in range(10):  # redirects, the login page, back to the client with the code
        r = browser.get(url, allow_redirects=False, timeout=30)
        if r.status_code in (302, 303):
            url = urljoin(url, r.headers["Location"])
            if url.startswith(provider.redirect_uri):
                break
            continue
        assert r.status_code == 200, f"{url}: HTTP {r.status_code} {r.text[:500]}"
        action, fields = _form(r.text, url)  # the login page: user name (and a password field it does not check)
        r = browser.post(action, data={**fields, "prompt": "login", "login": user, "password": provider.users[user].password},
                         allow_redirects=False, timeout=30)
        assert r.status_code in (302, 303), f"login: HTTP {r.status_code} {r.text[:500]}"
        url = urljoin(action, r.headers["Location"])
    code = parse_qs(urlparse(url).query).get("code")
    assert code, f"no code in the redirect {url}"
    r = requests.post(provider.issuer + "/token", timeout=30, data={
        "grant_type": "authorization_code", "code": code[0], "redirect_uri": provider.redirect_uri, "client_id": client_id,
        "code_verifier": verifier, "resource": provider.audience})
    assert r.status_code == 200, r.text
    return r.json()
