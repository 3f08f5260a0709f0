"""Security against the real server: authentication and roles, loopback binding, no pickle in checkpoints.

Authentication, MONAI Label's own way (``MONAI_LABEL_AUTH_ENABLE=true``): the server reads the realm's public key
from ``MONAI_LABEL_AUTH_REALM_URI`` (a Keycloak realm document ``{"public_key": ...}``; ``lib/identity``). The test
serves such a document on 127.0.0.1 with an RSA key it generated, and signs its own JWTs, with the realm as their
issuer as Keycloak writes it: no Keycloak, no mocks of the server. The same checks against a real OpenID Connect
provider (discovery document, JWKS) are ``test_signin.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import numpy as np
import psutil
import pytest
import requests
import torch
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.app._server import REPO_ROOT, blob, free_port, start_server, stop_server, write_tiny_checkpoint, write_volume

pytestmark = pytest.mark.slow

SHAPE = (4, 24, 24)
ROLE = {"user": "monailabel-user", "annotator": "monailabel-annotator", "admin": "monailabel-admin"}
REALM = {"uri": ""}  # the realm document's URL, set by the fixture: Keycloak names it as its tokens' issuer


def _realm(public_key_pem: bytes) -> tuple[ThreadingHTTPServer, str]:
    """A Keycloak-like realm document on 127.0.0.1, in a thread of this process."""
    body = json.dumps({"realm": "test", "public_key": b"".join(public_key_pem.splitlines()[1:-1]).decode()}).encode()

    class Realm(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == "/realms/test" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if self.path == "/realms/test" else b"{}")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Realm)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/realms/test"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _hmac_token(secret: bytes, roles: list[str]) -> str:
    """An HS256 JWT built by hand (PyJWT refuses to sign with a PEM key as the secret)."""
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    claims = {"preferred_username": "mallory", "exp": int(time.time() + 600), "realm_access": {"roles": roles}}
    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(claims).encode())
    return (signing + b"." + b64(hmac.new(secret, signing, hashlib.sha256).digest())).decode()


def _token(key, roles: list[str], user: str = "dr_who", exp: float | None = None, algorithm: str = "RS256") -> str:
    claims = {"preferred_username": user, "exp": int(exp or time.time() + 600), "realm_access": {"roles": roles},
              "iss": REALM["uri"]}
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_auth")
    studies = root / "studies"
    studies.mkdir()
    write_volume(studies / "img.nii.gz", (100.0 * blob(SHAPE, (2, 12, 12), 4.0)).astype(np.float32))
    write_volume(root / "label.nii.gz", blob(SHAPE, (2, 12, 12), 4.0).astype(np.uint8))
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    key = _key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    httpd, realm = _realm(pem)
    REALM["uri"] = realm
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONAI_LABEL_AUTH_ENABLE", "true")
        mp.setenv("MONAI_LABEL_AUTH_REALM_URI", realm)
        srv = start_server(studies, model, root / "server.log", {"num_threads": 1})
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            assert srv.proc.poll() is None, srv.log_text()[-3000:]
            try:
                if requests.get(f"{srv.url}/info/", timeout=2).status_code in (200, 401):
                    break
            except requests.RequestException:
                time.sleep(0.5)
        yield srv, key, pem, root
    finally:
        stop_server(srv)
        httpd.shutdown()


def _headers(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _put_label(srv, root: Path, token: str | None, tag: str) -> requests.Response:
    return requests.put(f"{srv.url}/datastore/label", params={"image": "img", "tag": tag}, headers=_headers(token),
                        files={"label": ("label.nii.gz", (root / "label.nii.gz").read_bytes())}, timeout=60)


def test_valid_tokens_are_accepted_by_role(secured):
    srv, key, _, root = secured
    user, annotator = _token(key, [ROLE["user"]]), _token(key, [ROLE["annotator"], ROLE["user"]])
    assert requests.get(f"{srv.url}/info/", headers=_headers(user), timeout=30).status_code == 200
    r = requests.post(f"{srv.url}/infer/ssb", params={"image": "img", "output": "json"}, headers=_headers(user),
                      files={"params": (None, "{}")}, timeout=120)
    assert r.status_code == 200, r.text
    assert _put_label(srv, root, annotator, "dr_who").status_code == 200  # a label under the token's own name
    assert (srv.studies / "labels" / "dr_who" / "img.nii.gz").is_file()
    r = _put_label(srv, root, annotator, "annotated")  # identity is the token's: not under another name
    assert r.status_code == 403 and "dr_who" in r.json()["detail"], r.text
    assert not (srv.studies / "labels" / "annotated").exists()


def test_a_viewers_untagged_submit_is_saved_under_the_signed_in_user(secured):
    """The viewers' Submit sends no tag (MONAI Label says "final"): the label goes to the token's user, even when
    the request names another client id; and the answer names that reader."""
    srv, key, _, root = secured
    token = _token(key, [ROLE["annotator"], ROLE["user"]], user="dana")
    r = requests.put(f"{srv.url}/datastore/label", params={"image": "img"}, headers=_headers(token), timeout=60,
                     files={"label": ("label.nii.gz", (root / "label.nii.gz").read_bytes())},
                     data={"params": '{"client_id": "someone_else"}'})
    assert r.status_code == 200 and r.json()["reader"] == "dana", r.text
    assert (srv.studies / "labels" / "dana" / "img.nii.gz").is_file() and not (srv.studies / "labels" / "final" / "img.nii.gz").exists()


@pytest.mark.parametrize("who, status", [("nobody", 401), ("forged", 401), ("expired", 401), ("hmac", 401),
                                         ("user", 403)])
def test_label_writes_need_an_annotator(secured, who, status):
    srv, key, pem, root = secured
    token = {
        "nobody": None,
        "forged": _token(_key(), [ROLE["annotator"]]),  # signed by a key the realm does not publish
        "expired": _token(key, [ROLE["annotator"]], exp=time.time() - 60),
        "hmac": _hmac_token(pem, [ROLE["annotator"]]),  # the public key used as an HMAC secret (alg confusion)
        "user": _token(key, [ROLE["user"]]),
    }[who]
    tag = f"denied_{who}"
    r = _put_label(srv, root, token, tag)
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert not (srv.studies / "labels" / tag).exists()


@pytest.mark.parametrize("method, path", [("post", "/train/ssb"), ("delete", "/train/"), ("put", "/model/ssb"),
                                          ("delete", "/model/ssb"), ("get", "/model/ssb"), ("delete", "/datastore/label")])
def test_training_and_model_changes_need_an_admin(secured, method, path):
    srv, key, _, _ = secured
    annotator = _token(key, [ROLE["annotator"], ROLE["user"]])
    before = srv.model.read_bytes()
    r = requests.request(method, f"{srv.url}{path}", params={"id": "img", "tag": "annotated"}, headers=_headers(annotator),
                         files={"file": ("m.pt", b"not a model")} if method == "put" else None, timeout=30)
    assert r.status_code == 403 and "monailabel-admin" in r.json()["detail"], r.text
    assert srv.model.read_bytes() == before


@pytest.mark.parametrize("method", ["put", "delete"])
def test_the_served_model_is_not_replaced_over_http_even_by_an_admin(secured, method):
    """MONAI Label's PUT/DELETE /model would overwrite or move the served checkpoint in place, unchecked."""
    srv, key, _, _ = secured
    before = srv.model.read_bytes()
    r = requests.request(method, f"{srv.url}/model/ssb", headers=_headers(_token(key, [ROLE["admin"]])),
                         files={"file": ("m.pt", b"not a model")} if method == "put" else None, timeout=30)
    assert r.status_code == 405 and "POST /train" in r.json()["detail"], r.text
    assert srv.model.read_bytes() == before


def test_an_admin_can_start_training(secured):
    srv, key, _, _ = secured
    admin = _token(key, [ROLE["admin"], ROLE["user"]])  # GET /train/ (the status) asks for the user role
    r = requests.post(f"{srv.url}/train/ssb", json={"steps": 1}, headers=_headers(admin), timeout=30)
    assert r.status_code == 200, r.text
    deadline = time.time() + 120
    while time.time() < deadline:
        status = requests.get(f"{srv.url}/train/", headers=_headers(admin), timeout=30).json().get("status")
        if status in ("DONE", "ERROR"):
            break
        time.sleep(1.0)
    assert status == "DONE"
    assert "training run" in srv.log_text() and "skipped (needs at least 2 labelled images" in srv.log_text()


def test_the_server_listens_on_loopback_only(secured):
    srv = secured[0]
    port = int(srv.url.rsplit(":", 1)[1])
    procs = [psutil.Process(srv.proc.pid), *psutil.Process(srv.proc.pid).children(recursive=True)]
    listening = {c.laddr.ip for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
                 and c.laddr.port == port}
    assert listening == {"127.0.0.1"}


def test_serve_script_binds_loopback_by_default(tmp_path):
    """``scripts/serve.sh`` without SSB_HOST: the server's listening socket is 127.0.0.1, nothing else."""
    studies = tmp_path / "studies"
    studies.mkdir()
    write_volume(studies / "img.nii.gz", (100.0 * blob(SHAPE, (2, 12, 12), 4.0)).astype(np.float32))
    model, port = write_tiny_checkpoint(tmp_path / "tiny.pt"), free_port()
    env = {k: v for k, v in os.environ.items() if k != "SSB_HOST"}
    env.update(SSB_MODEL_PATH=str(model), SSB_STUDIES=str(studies), SSB_PORT=str(port), SSB_PYTHON=sys.executable,
               OMP_NUM_THREADS="1")
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "serve.sh"), "--conf", "num_threads", "1"],
                                cwd=str(REPO_ROOT), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        listening: set[str] = set()
        deadline = time.time() + 120
        while not listening and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                listening = {c.laddr.ip for p in procs for c in p.net_connections(kind="inet")
                             if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
            except psutil.Error:
                pass
            time.sleep(0.5)
        assert listening == {"127.0.0.1"}
    finally:
        os.killpg(proc.pid, 15)  # our own process group, by its id
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def test_the_server_refuses_to_listen_beyond_loopback_without_sign_in(tmp_path):
    """``monailabel start_server --host 0.0.0.0`` (MONAI Label's own default) with sign-in off: refused before the
    server binds, with what to do; nothing listens."""
    studies = tmp_path / "studies"
    studies.mkdir()
    model = write_tiny_checkpoint(tmp_path / "tiny.pt")
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(REPO_ROOT / "apps" / "ssb"), "--studies",
           str(studies), "--conf", "model_path", str(model), "--host", "0.0.0.0", "--port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSB_OIDC_", "SSB_ALLOW_OPEN", "MONAI_LABEL_AUTH"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=str(REPO_ROOT), env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "refusing to listen on 0.0.0.0 with sign-in off" in out and "SSB_ALLOW_OPEN=1" in out
    assert "Uvicorn running" not in out


class _Payload:
    """Pickled into a .pt: unpickling it (torch.load without weights_only) would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_carrying_a_pickled_object_is_refused(tmp_path):
    """The server refuses to start on it, with a clear message, and the object's code never runs."""
    marker = tmp_path / "pickle_code_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ssb-checkpoint/1", "state_dict": {}, "payload": _Payload(marker)}, evil)
    studies = tmp_path / "studies"
    studies.mkdir()
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(REPO_ROOT / "apps" / "ssb"), "--studies",
           str(studies), "--conf", "model_path", str(evil), "--host", "127.0.0.1", "--port", str(free_port())]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=str(REPO_ROOT), env=env)
    assert proc.returncode != 0
    assert "cannot read checkpoint" in proc.stdout + proc.stderr and "weights_only" in proc.stdout + proc.stderr
    assert not marker.exists()
