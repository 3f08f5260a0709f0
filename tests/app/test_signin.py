"""Sign-in against a real OpenID Connect provider: every route, the roles, whose a save is, the audit log, Slicer.

A real provider (the npm package oidc-provider, ``tests/app/_oidc.py``) runs on 127.0.0.1 with a reader (alice)
and an administrator (olga); the real server runs with sign-in on (``SSB_OIDC_DISCOVERY_URL`` and friends).
Tokens come from the provider itself: its login page (authorisation code + PKCE), and the password grant 3D
Slicer's plugin uses through the server's ``POST /auth/token``. Nothing here signs a token the server accepts.
"""

from __future__ import annotations

import json
import re
import sys
import time

import jwt
import numpy as np
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.app._oidc import running_provider, sign_in
from tests.app._server import APP_DIR, blob, client_for, running_server, write_tiny_checkpoint, write_volume

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.identity.gate import PUBLIC  # noqa: E402
from lib.upstream import route_entries  # noqa: E402

pytestmark = pytest.mark.slow

SHAPE = (4, 24, 24)
READER, ADMIN = "alice", "olga"
PATH_VALUES = {"model": "ssb", "strategy": "random", "method": "disagreement", "path": "studies"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(server, provider, tokens {alice, olga, expired}, root): sign-in on, two images, an audit log."""
    root = tmp_path_factory.mktemp("ssb_signin")
    studies = root / "studies"
    studies.mkdir()
    for name in ("img", "img2"):
        write_volume(studies / f"{name}.nii.gz", (100.0 * blob(SHAPE, (2, 12, 12), 4.0)).astype(np.float32))
    write_volume(root / "label.nii.gz", blob(SHAPE, (2, 12, 12), 4.0).astype(np.uint8))
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    with running_provider(root, {READER: ["ssb-reader"], ADMIN: ["ssb-admin"]}) as idp:
        tokens = {name: sign_in(idp, name)["access_token"] for name in (READER, ADMIN)}
        tokens["expired"] = sign_in(idp, READER, client_id=idp.short_client_id)["access_token"]  # lives 1 s
        env = {"SSB_OIDC_DISCOVERY_URL": idp.issuer, "SSB_OIDC_AUDIENCE": idp.audience,
               "SSB_OIDC_CLIENT_ID": idp.client_id, "SSB_OIDC_ROLES_CLAIM": "roles"}
        conf = {"num_threads": 1, "audit_log": root / "audit.jsonl"}
        with running_server(studies, model, root / "server.log", conf, env=env, ready_path="/auth/") as srv:
            yield srv, idp, tokens, root


def _headers(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _audit(srv, root) -> list[dict]:
    path = root / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _files(folder) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def _forged(token: str) -> str:
    """The token's header and claims signed with a key the provider never published (same ``kid``)."""
    header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers={"kid": header["kid"]})


def _routes(srv) -> set[tuple[str, str]]:
    """(method, path) of every route the running server answers: its OpenAPI document (MONAI Label's routes and the
    app's own), the routes MONAI Label keeps out of it (its route table, the module the server runs), and the SSB
    panel's files, served beside the routes."""
    from monailabel.app import app as monailabel_app

    found = {(m.upper(), p) for p, ops in requests.get(f"{srv.url}/openapi.json", timeout=30).json()["paths"].items()
             for m in ops}
    for entry in monailabel_app.router.routes:
        found |= {(m, path) for path, methods in route_entries(entry) for m in methods}
    found |= {("GET", "/ssb/viewer/ssb-panel.js"), ("GET", "/ohif/"), ("GET", "/static/favicon.ico")}
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def _public(method: str, path: str) -> bool:
    return any(method in methods and pattern.match(path) for methods, pattern, _ in PUBLIC)


def test_every_route_answers_401_without_a_valid_token_and_nothing_is_written(site):
    srv, _, tokens, root = site
    exp = jwt.decode(tokens["expired"], options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp + 11 - time.time()))  # past the server's 10 s of clock leeway
    before, model = _files(srv.studies), srv.model.read_bytes()
    routes = sorted(_routes(srv))
    assert len(routes) > 40 and ("POST", "/ssb/lesions") in routes and ("GET", "/proxy/dicom/{path:path}") in routes
    bad = {"no token": None, "expired": tokens["expired"], "another key": _forged(tokens[READER]), "garbage": "abc.def"}
    answered: dict[tuple[str, str, str], int] = {}
    for method, path in routes:
        if _public(method, path):
            continue
        for what, token in bad.items():
            r = requests.request(method, srv.url + _concrete(path), headers=_headers(token), timeout=30,
                                 params={"image": "img", "tag": "intruder", "id": "img"})
            answered[(what, method, path)] = r.status_code
            assert r.status_code == 401, (what, method, path, r.status_code, r.text[:300])
            assert method == "HEAD" or "detail" in r.json()
    assert "expired" in requests.get(f"{srv.url}/info/", headers=_headers(tokens["expired"]), timeout=30).json()["detail"]
    assert "signature" in requests.get(f"{srv.url}/info/", headers=_headers(bad["another key"]), timeout=30).json()["detail"]
    assert _files(srv.studies) == before and srv.model.read_bytes() == model and _audit(srv, root) == []
    assert len(answered) >= 4 * 40
    # the public routes: the sign-in itself and the API's description, nothing of the datastore
    auth = requests.get(f"{srv.url}/auth/", timeout=30).json()
    assert auth["enabled"] is True and auth["client_id"] == site[1].client_id and auth["issuer"] == site[1].issuer
    assert auth["authorization_endpoint"].startswith(site[1].issuer) and auth["token_endpoint"].startswith(site[1].issuer)
    # the viewer's program files, which sign the browser in before anything else runs
    page = requests.get(f"{srv.url}/ohif/", timeout=30)
    assert page.status_code == 200 and '<head><script src="/ssb/viewer/ssb-signin.js"></script>' in page.text
    assert requests.get(f"{srv.url}/ssb/viewer/signed-in.html", timeout=30).status_code == 200


def test_a_reader_saves_under_their_own_name_and_the_audit_log_says_so(site):
    srv, _, tokens, root = site
    r = requests.put(f"{srv.url}/datastore/label", params={"image": "img"}, headers=_headers(tokens[READER]), timeout=60,
                     files={"label": ("label.nii.gz", (root / "label.nii.gz").read_bytes())},
                     data={"params": json.dumps({"client_id": "user-xyz"})})
    assert r.status_code == 200 and r.json()["reader"] == READER, r.text
    assert (srv.studies / "labels" / READER / "img.nii.gz").is_file()
    assert not (srv.studies / "labels" / "final" / "img.nii.gz").exists()
    saved = [e for e in _audit(srv, root) if e["action"] == "label saved" and e["image"] == "img"]
    assert saved and saved[-1]["user"] == READER and saved[-1]["reader"] == READER and saved[-1]["lesion"] == 1
    assert saved[-1]["result"] == "added" and saved[-1]["time"].endswith("Z")
    listed = requests.get(f"{srv.url}/ssb/lesions", params={"image": "img"}, headers=_headers(tokens[READER]), timeout=60)
    assert [(x["reader"], x["lesion"]) for x in listed.json()["lesions"]] == [(READER, 1)]
    # the administrator reads the log from the server; the reader may not
    log = requests.get(f"{srv.url}/ssb/audit", params={"user": READER}, headers=_headers(tokens[ADMIN]), timeout=30)
    assert log.status_code == 200 and any(e["action"] == "label saved" for e in log.json()["entries"]), log.text
    assert requests.get(f"{srv.url}/ssb/audit", headers=_headers(tokens[READER]), timeout=30).status_code == 403


LABEL = object()  # the request's file is the label
REFUSED = [  # (who, method, path, query, body, what must not exist afterwards)
    (READER, "put", "/datastore/label", {"image": "img", "tag": ADMIN}, LABEL, f"labels/{ADMIN}"),
    (READER, "put", "/datastore/label", {"image": "img2"}, {"params": json.dumps({"reader": ADMIN})}, f"labels/{ADMIN}"),
    (ADMIN, "put", "/datastore/label", {"image": "img2", "tag": READER}, LABEL, f"labels/{READER}/img2.nii.gz"),
    (READER, "post", "/ssb/lesions", {"image": "img2"}, {"reader": ADMIN, "params": {}, "candidate": 0}, f"labels/{ADMIN}"),
    (READER, "delete", "/ssb/lesions", {"image": "img", "reader": ADMIN, "lesion": 1}, None, None),
    (READER, "post", "/train/ssb", {}, {"steps": 1}, "../models/tiny.training.json"),
    (READER, "delete", "/train/", {}, None, None),
    (READER, "delete", "/datastore/label", {"id": "img", "tag": READER}, None, None),
    (READER, "delete", "/datastore/image", {"id": "img"}, None, None),
    (READER, "put", "/datastore/", {"image": "new"}, None, "new.nii.gz"),
    (READER, "put", "/model/ssb", {}, None, None),
    (READER, "post", "/reload", {}, None, None),
    (READER, "get", "/datastore/dataset", {}, None, None),
]


@pytest.mark.parametrize("who, method, path, query, body, absent", REFUSED,
                         ids=[f"{w}-{m}-{p}-{'-'.join(map(str, q.values()))}" for w, m, p, q, *_ in REFUSED])
def test_identity_is_the_tokens_and_admin_actions_need_an_admin(site, who, method, path, query, body, absent):
    srv, _, tokens, root = site
    kwargs: dict = {"params": query, "headers": _headers(tokens[who]), "timeout": 60}
    if body is LABEL:
        kwargs["files"] = {"label": ("label.nii.gz", (root / "label.nii.gz").read_bytes())}
    elif isinstance(body, dict) and path == "/datastore/label":
        kwargs.update(files={"label": ("label.nii.gz", (root / "label.nii.gz").read_bytes())}, data=body)
    elif body is not None:
        kwargs["json"] = body
    before = _files(srv.studies)
    r = requests.request(method, srv.url + path, **kwargs)
    assert r.status_code == 403, r.text
    assert _files(srv.studies) == before
    assert absent is None or not (srv.studies / absent).exists()
    if path in ("/datastore/label", "/ssb/lesions") and method != "delete" or path == "/train/ssb":
        last = _audit(srv, root)[-1]
        assert last["user"] == who and last["result"].startswith("refused (HTTP 403)"), last


def test_slicer_signs_in_with_its_own_dialog_and_submits_under_that_user(site, tmp_path):
    """The MONAI Label plugin's way: /auth/ says sign-in is on, its login dialog's user name and password go to
    /auth/token (the provider's password grant), the token is checked with /auth/token/valid and sent with every
    request; Run (infer) and Submit Label (no tag) work, and the label is stored under that user."""
    from monailabel.client.client import MONAILabelClientException

    srv, idp, _, root = site
    client = client_for(srv, tmp_path)
    assert client.auth_enabled()
    with pytest.raises(MONAILabelClientException) as refused:
        client.auth_token(READER, "not the password")
    assert refused.value.status_code == 401
    client.update_auth(client.auth_token(READER, idp.users[READER].password))
    assert client.auth_valid_token()
    assert "ssb" in client.info()["models"]
    labelmap, result = client.infer("ssb", "img2", {"foreground": [[12, 12, 2]]})
    assert result["label_names"] and labelmap
    answer = client.save_label("img2", str(root / "label.nii.gz"))
    assert answer["reader"] == READER
    assert (srv.studies / "labels" / READER / "img2.nii.gz").is_file()
    assert any(e["user"] == READER and e["image"] == "img2" and e["action"] == "label saved" for e in _audit(srv, root))


def test_an_administrator_removes_a_readers_lesion_and_starts_training_and_both_are_audited(site):
    srv, _, tokens, root = site
    r = requests.delete(f"{srv.url}/ssb/lesions", params={"image": "img", "reader": READER, "lesion": 1},
                        headers=_headers(tokens[ADMIN]), timeout=60)
    assert r.status_code == 200 and r.json()["action"] == "removed", r.text
    last = _audit(srv, root)[-1]
    assert (last["user"], last["action"], last["reader"], last["lesion"]) == (ADMIN, "lesion removed", READER, 1)
    r = requests.post(f"{srv.url}/train/ssb", json={"steps": 1}, headers=_headers(tokens[ADMIN]), timeout=60)
    assert r.status_code == 200, r.text
    last = _audit(srv, root)[-1]
    assert (last["user"], last["action"], last["model"], last["result"]) == (ADMIN, "train", "ssb", "HTTP 200")
