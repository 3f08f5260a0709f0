"""The sign-in rules without a server: settings, keys and their rotation, token checks, roles, whose a save is, the
loopback rule, the audit log. The same rules against a real provider and the real server: ``test_signin.py``.

Keys are made here and published through :class:`ProviderKeys`' ``fetch`` argument (a dict of documents by URL),
so the key set can rotate between two calls and every fetch is counted.
"""

from __future__ import annotations

import contextvars
import json
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.app._server import APP_DIR

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.audit.log import LOCAL_USER, AuditLog  # noqa: E402
from lib.identity import exposure  # noqa: E402
from lib.identity.claims import Identity, NotAUser, identity_from_claims  # noqa: E402
from lib.identity.context import bind, current_identity  # noqa: E402
from lib.identity.keys import ProviderKeys, ProviderUnavailable  # noqa: E402
from lib.identity.settings import load  # noqa: E402
from lib.identity.tokens import TokenRejected, verify  # noqa: E402
from lib.label_saves import reader_for_save, reader_of  # noqa: E402

ISSUER = "https://idp.test/realms/hospital"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
JWKS = ISSUER + "/protocol/openid-connect/certs"
AUDIENCE = "ssb-server"


class Published:
    """The provider's documents, changeable between calls; ``fetch`` counts the requests per URL."""

    def __init__(self, *keys) -> None:
        self.keys = {kid: key for kid, key in keys}
        self.issuer, self.down, self.calls = ISSUER, False, {}

    def fetch(self, url: str, timeout: float) -> dict:
        self.calls[url] = self.calls.get(url, 0) + 1
        if self.down:
            raise ProviderUnavailable(f"{url} does not answer")
        if url == DISCOVERY:
            return {"issuer": self.issuer, "jwks_uri": JWKS, "token_endpoint": ISSUER + "/token"}
        assert url == JWKS, url
        return {"keys": [{**json.loads(jwt.algorithms.get_default_algorithms()[_alg(k)].to_jwk(k.public_key())), "kid": kid,
                          "use": "sig"} for kid, k in self.keys.items()]}


def _alg(key) -> str:
    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"


def _rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key, kid: str | None = "k1", **claims) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "preferred_username": "alice",
            "realm_access": {"roles": ["ssb-reader"]}, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=_alg(key),
                      headers={"kid": kid} if kid else None)


@pytest.fixture(scope="module")
def key1():
    return _rsa()


@pytest.fixture
def provider(key1):
    published = Published(("k1", key1))
    settings = load({"oidc_discovery_url": ISSUER, "oidc_audience": AUDIENCE}, environ={})
    return published, settings, ProviderKeys(settings, fetch=published.fetch, min_refetch_s=60.0)


# --- settings -----------------------------------------------------------------------------------------------------
def test_sign_in_is_off_unless_configured():
    assert load({}, environ={}).mode == "off" and not load({}, environ={}).enabled
    s = load({}, environ={"SSB_OIDC_DISCOVERY_URL": ISSUER + "/", "SSB_OIDC_AUDIENCE": AUDIENCE})
    assert (s.mode, s.key_url, s.client_id) == ("oidc", DISCOVERY, AUDIENCE)
    assert load({"oidc_audience": "other"}, environ={"SSB_OIDC_DISCOVERY_URL": DISCOVERY, "SSB_OIDC_AUDIENCE": "x"}).audience == "other"


def test_keycloak_realm_settings_keep_monailabels_names():
    s = load({}, environ={"MONAI_LABEL_AUTH_ENABLE": "true", "MONAI_LABEL_AUTH_REALM_URI": ISSUER + "/"})
    assert (s.mode, s.key_url, s.roles_claim, s.client_id) == ("realm", ISSUER, "realm_access#roles", "monailabel-app")


@pytest.mark.parametrize("conf, environ, words", [
    ({"oidc_discovery_url": ISSUER}, {}, "SSB_OIDC_AUDIENCE"),
    ({"oidc_discovery_url": "idp.test"}, {}, "http(s) URL"),
    ({"oidc_discovery_url": ISSUER, "oidc_audience": "a", "oidc_reader_role": "x", "oidc_admin_role": "x"}, {}, "two names"),
    ({}, {"MONAI_LABEL_AUTH_ENABLE": "true", "MONAI_LABEL_AUTH_REALM_URI": ""}, "MONAI_LABEL_AUTH_REALM_URI"),
    ({"allow_open": "maybe"}, {}, "true/false"),
])
def test_unusable_settings_are_refused_with_what_to_set(conf, environ, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load(conf, environ=environ)


# --- tokens -------------------------------------------------------------------------------------------------------
def test_a_valid_token_verifies_and_the_keys_are_fetched_once(provider, key1):
    published, settings, keys = provider
    for _ in range(3):
        assert verify(_token(key1), keys, settings)["preferred_username"] == "alice"
    assert published.calls == {DISCOVERY: 1, JWKS: 1}


@pytest.mark.parametrize("case, words", [
    ("expired", "expired"),
    ("another key", "signature"),
    ("another issuer", "issuer"),
    ("another audience", "audience"),
    ("no audience", "required claim"),
    ("no expiry", "required claim"),
    ("hmac with the public key", "algorithm 'HS256'"),
    ("alg none", "algorithm 'none'"),
    ("unknown kid", "not among"),
    ("not a jwt", "not a JWT"),
])
def test_tokens_that_prove_nothing_are_rejected(provider, key1, case, words):
    published, settings, keys = provider
    pem = key1.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = {
        "expired": lambda: _token(key1, exp=int(time.time()) - 60),  # beyond the 10 s of leeway
        "another key": lambda: _token(_rsa()),
        "another issuer": lambda: _token(key1, iss="https://evil.test"),
        "another audience": lambda: _token(key1, aud="another-app"),
        "no audience": lambda: _token(key1, aud=None),
        "no expiry": lambda: _token(key1, exp=None),
        "hmac with the public key": lambda: _hmac(pem),  # alg confusion: the public key as an HMAC secret
        "alg none": lambda: jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": time.time() + 60}, None, algorithm="none"),
        "unknown kid": lambda: _token(_rsa(), kid="k9"),
        "not a jwt": lambda: "abc.def",
    }[case]()
    with pytest.raises(TokenRejected, match=words):
        verify(token, keys, settings)


def _hmac(secret: bytes) -> str:
    """An HS256 token with the provider's public key (PEM) as the secret, built by hand (PyJWT refuses to)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "preferred_username": "mallory"}
    signing = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode()) + b"." + b64(json.dumps(body).encode())
    return (signing + b"." + b64(hmac.new(secret, signing, hashlib.sha256).digest())).decode()


def test_a_rotated_key_is_fetched_once_and_made_up_key_ids_do_not_hammer_the_provider(provider, key1):
    published, settings, keys = provider
    verify(_token(key1), keys, settings)
    keys.min_refetch_s = 0.0
    key2 = ec.generate_private_key(ec.SECP256R1())
    published.keys["k2"] = key2  # the provider publishes its next key, then signs with it
    assert verify(_token(key2, kid="k2"), keys, settings)["iss"] == ISSUER
    assert published.calls[JWKS] == 2
    keys.min_refetch_s = 60.0
    for i in range(5):  # unknown key ids: at most one refetch per min_refetch_s
        with pytest.raises(TokenRejected, match="not among"):
            verify(_token(_rsa(), kid=f"made-up-{i}"), keys, settings)
    assert published.calls[JWKS] == 2


def test_a_withdrawn_key_stops_verifying_once_the_key_set_is_old(provider, key1):
    published, settings, keys = provider
    token = _token(key1)
    verify(token, keys, settings)
    del published.keys["k1"]
    verify(token, keys, settings)  # cached
    keys.max_age_s = 0.0
    with pytest.raises(TokenRejected, match="not among"):
        verify(token, keys, settings)


def test_an_unreachable_provider_or_a_foreign_discovery_document_is_not_a_401(provider, key1):
    published, settings, keys = provider
    published.down = True
    with pytest.raises(ProviderUnavailable):
        verify(_token(key1), keys, settings)
    published.down, published.issuer = False, "https://elsewhere.test"
    with pytest.raises(ProviderUnavailable, match="own issuer"):
        verify(_token(key1), keys, settings)


def test_a_keycloak_realm_documents_public_key_verifies_its_tokens(key1):
    realm = {"public_key": b"".join(key1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).splitlines()[1:-1]).decode()}
    settings = load({}, environ={"MONAI_LABEL_AUTH_ENABLE": "true", "MONAI_LABEL_AUTH_REALM_URI": ISSUER})
    keys = ProviderKeys(settings, fetch=lambda url, timeout: realm)
    claims = verify(_token(key1, kid=None, aud=None), keys, settings)
    assert identity_from_claims(claims, settings).username == "alice"
    with pytest.raises(TokenRejected, match="signature"):
        verify(_token(_rsa(), kid=None), keys, settings)


# --- roles and users ----------------------------------------------------------------------------------------------
ML = {"user": "monailabel-user", "annotator": "monailabel-annotator", "reviewer": "monailabel-reviewer",
      "admin": "monailabel-admin"}


@pytest.mark.parametrize("roles, reader, admin, granted", [
    (["ssb-reader"], True, False, {"user", "annotator"}),
    (["ssb-admin"], True, True, {"user", "annotator", "reviewer", "admin"}),
    (["monailabel-user"], False, False, {"user"}),  # a realm set up for MONAI Label: infer, not save
    (["monailabel-annotator", "monailabel-user"], True, False, {"user", "annotator"}),
    (["monailabel-admin"], True, True, {"user", "annotator", "reviewer", "admin"}),
    (["offline_access", "uma_authorization"], False, False, set()),
])
def test_roles_map_to_what_a_user_may_do(roles, reader, admin, granted):
    settings = load({"oidc_discovery_url": ISSUER, "oidc_audience": AUDIENCE}, environ={})
    who = identity_from_claims({"preferred_username": "alice", "realm_access": {"roles": roles}}, settings)
    assert (who.is_reader, who.is_admin, who.roles) == (reader, admin, frozenset(ML[g] for g in granted))


@pytest.mark.parametrize("roles_claim, claims", [
    ("roles", {"roles": ["ssb-admin"]}),
    ("roles", {"roles": "ssb-admin other"}),
    ("realm_access#roles", {"realm_access": {"roles": ["ssb-admin"]}}),
    ("resource_access.ssb-server.roles", {"resource_access": {"ssb-server": {"roles": ["ssb-admin"]}}}),
    ("https://hospital.test/roles", {"https://hospital.test/roles": ["ssb-admin"]}),
])
def test_the_roles_claim_is_configurable(roles_claim, claims):
    settings = load({"oidc_discovery_url": ISSUER, "oidc_audience": AUDIENCE, "oidc_roles_claim": roles_claim}, environ={})
    assert identity_from_claims({"sub": "u1", **claims}, settings).is_admin


@pytest.mark.parametrize("claims, words", [({"sub": ""}, "names no user"), ({"preferred_username": "../etc"}, "path"),
                                           ({"preferred_username": "ssb_variability"}, "reserved")])
def test_a_token_naming_no_usable_user_is_refused(claims, words):
    settings = load({"oidc_discovery_url": ISSUER, "oidc_audience": AUDIENCE}, environ={})
    with pytest.raises(NotAUser, match=words):
        identity_from_claims(claims, settings)


# --- whose a save is ----------------------------------------------------------------------------------------------
def _as(user: str | None, call):
    def run():
        if user:
            bind(Identity(user, frozenset(), is_reader=True, is_admin=False))
        return call()

    return contextvars.copy_context().run(run)


@pytest.mark.parametrize("tag, info, expected", [
    ("final", {"client_id": "someone"}, "alice"),  # Slicer's Submit: the Client ID is no claim of identity
    ("", {}, "alice"),
    ("alice", {"reader": "alice"}, "alice"),
    ("bob", {}, 403),
    ("final", {"reader": "bob"}, 403),
])
def test_signed_in_a_save_is_the_users_own(tag, info, expected):
    from fastapi import HTTPException

    if expected == 403:
        with pytest.raises(HTTPException) as refused:
            _as("alice", lambda: reader_for_save(tag, info))
        assert refused.value.status_code == 403 and "alice" in refused.value.detail
    else:
        assert _as("alice", lambda: reader_for_save(tag, info)) == expected


def test_signed_out_the_rules_are_as_before_and_next_sample_never_refuses():
    assert _as(None, lambda: reader_for_save("bob", {})) == "bob"
    assert _as(None, lambda: reader_for_save("final", {"reader": "bob", "client_id": "x"})) == "bob"
    assert _as(None, lambda: reader_for_save("final", {"client_id": "user-xyz"})) == "final"
    assert _as("alice", lambda: reader_of("final", {"reader": "bob"})) == "alice"
    assert current_identity() is None


# --- listening beyond loopback -------------------------------------------------------------------------------------
@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("::1", True),
                                            ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
                                            ("server.hospital.lan", False)])
def test_loopback_addresses(host, loopback):
    assert exposure.is_loopback(host) is loopback


def test_the_listening_address_of_a_start_server_command_line():
    assert exposure.listen_host(["monailabel", "start_server", "--app", "a", "--host", "10.0.0.2"]) == "10.0.0.2"
    assert exposure.listen_host(["main.py", "start_server", "-i", "127.0.0.1"]) == "127.0.0.1"
    assert exposure.listen_host(["main.py", "start_server", "--app", "a"]) == "0.0.0.0"  # MONAI Label's default
    assert exposure.listen_host(["pytest"]) is None


def test_an_open_server_needs_sign_in_or_an_explicit_yes(monkeypatch, capsys):
    for name in ("SSB_OIDC_DISCOVERY_URL", "SSB_OIDC_AUDIENCE", "SSB_ALLOW_OPEN", "MONAI_LABEL_AUTH_ENABLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(exposure.OpenServerRefused, match="SSB_ALLOW_OPEN=1"):
        exposure.check_exposure("0.0.0.0", load({}, environ={}))
    exposure.check_exposure("127.0.0.1", load({}, environ={}))
    exposure.check_exposure("0.0.0.0", load({}, environ={"SSB_ALLOW_OPEN": "1"}))
    exposure.check_exposure("0.0.0.0", load({}, environ={"SSB_OIDC_DISCOVERY_URL": ISSUER, "SSB_OIDC_AUDIENCE": "a"}))
    assert exposure.main(["0.0.0.0"]) == 2 and "refusing to listen on 0.0.0.0" in capsys.readouterr().err
    assert exposure.main(["0.0.0.0", "--conf", "allow_open", "true"]) == 0
    assert exposure.main(["127.0.0.1"]) == 0


# --- the audit log ------------------------------------------------------------------------------------------------
def test_the_audit_log_appends_one_line_per_action_naming_the_user(tmp_path):
    log = AuditLog(tmp_path / "logs" / "audit.jsonl")
    log.record("train", result="HTTP 200", model="ssb")
    _as("alice", lambda: log.on_label_event({"image": "img", "reader": "alice", "action": "added", "lesion": 2, "lesions": 2}))
    with open(log.path, "a") as fh:
        fh.write('{"time": "cut by a cra')  # a crash in the middle of a line
    _as("olga", lambda: log.record("label deleted", image="img", result="HTTP 200"))
    entries = log.read()
    assert [(e["user"], e["action"], e["image"], e["lesion"], e["result"]) for e in entries] == [
        (LOCAL_USER, "train", None, None, "HTTP 200"), ("alice", "label saved", "img", 2, "added"),
        ("olga", "label deleted", "img", None, "HTTP 200")]
    assert [e["action"] for e in log.read(user="alice")] == ["label saved"] and len(log.read(limit=1)) == 1
    assert all(e["time"].endswith("Z") for e in entries)
