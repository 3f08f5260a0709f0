"""Signing in to OHIF at a real OpenID Connect provider; a reader's save is then the signed-in user's everywhere.

A real provider (the npm package oidc-provider, ``tests/app/_oidc.py``) with a reader (alice) and an administrator
(olga) knows the server's OHIF sign-in page as a redirect URI of its public client; its access tokens last
:data:`TTL` seconds, so the viewer must renew them (refresh tokens) while alice works. ``make serve``'s launcher
(``scripts/serve.sh``, with its Orthanc and the demo CT) runs with sign-in on. In Chromium:

1. OHIF sends the browser to the provider's own login page (authorisation code with PKCE); alice fills its form;
2. back in OHIF, the study list (read through the server's DICOMweb proxy with her token); the study opens in the
   MONAI Label mode; the SSB panel says who is signed in, and the reader is her, fixed;
3. a click on nodule n3 gives candidates; one is picked; then her sign-in expires and the provider refuses to renew
   it: Save asks her to sign in again in a small window, the candidates stay on screen, and the save goes through;
4. the save is alice's in the datastore, in the PACS SEG (ContentCreatorName) and in the audit log.

Screenshots, the server log and the browser console go to ``test-artifacts/ohif-signin/`` (emptied per run).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import requests
import SimpleITK as sitk
from dicomweb_client import DICOMwebClient

from tests.app._oidc import running_provider, sign_in
from tests.app._server import free_port, running_serve_script
from tests.conftest import REPO_ROOT
from tests.hospital._browser import chromium_page, require_browser
from tests.hospital._orthanc import require_orthanc
from tests.hospital.test_ohif_workflow import DEMO, N3_IJK, WAIT_MS, _candidates, _click_lesion, _open_study, _pick, _shot

pytestmark = pytest.mark.slow

ARTEFACTS = REPO_ROOT / "test-artifacts" / "ohif-signin"
READER, ADMIN = "alice", "olga"
N = 4
TTL = 20  # seconds an access token lasts: the workflow outlives several
# the provider will not renew: a refresh token it never issued, the access token expired (as when a session ends)
END_OF_SESSION = """() => {
    const t = JSON.parse(sessionStorage.getItem('ssb.signin'));
    sessionStorage.setItem('ssb.signin', JSON.stringify({...t, refresh_token: 'not-issued-by-the-provider', expires_at: 0}));
}"""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_ohif_signs_in_at_the_provider_and_the_save_is_the_signed_in_readers(tmp_path):
    require_orthanc()
    require_browser()
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    port, orthanc_port = free_port(), free_port()
    model = tmp_path / "models" / "ssb_lidc64.pt"
    model.parent.mkdir()
    shutil.copy(REPO_ROOT / "models" / "ssb_lidc64.pt", model)
    signed_in_page = f"http://127.0.0.1:{port}/ssb/viewer/signed-in.html"
    with running_provider(tmp_path, {READER: ["ssb-reader"], ADMIN: ["ssb-admin"]}, viewer_redirect_uris=(signed_in_page,),
                          token_ttl=TTL) as idp:
        env = {"SSB_PACS": "orthanc", "SSB_CACHE": str(tmp_path / "cache"), "SSB_PORT": str(port),
               "SSB_ORTHANC_PORT": str(orthanc_port), "SSB_MODEL_PATH": str(model),
               "SSB_OIDC_DISCOVERY_URL": idp.issuer, "SSB_OIDC_AUDIENCE": idp.audience, "SSB_OIDC_CLIENT_ID": idp.client_id,
               "SSB_OIDC_ROLES_CLAIM": "roles", "SSB_OIDC_SCOPE": "openid ssb"}
        args = ("--conf", "num_threads", "2", "--conf", "audit_log", str(tmp_path / "audit.jsonl"))
        with running_serve_script(ARTEFACTS / "serve.log", env, args, timeout=240, ready_path="/auth/") as url:
            pacs = DICOMwebClient(f"http://127.0.0.1:{orthanc_port}/dicom-web")
            (study,) = pacs.search_for_studies()
            study_uid = study["0020000D"]["Value"][0]
            (series,) = pacs.search_for_series(study_uid, search_filters={"Modality": "CT"})
            series_uid = series["0020000E"]["Value"][0]
            with chromium_page(tmp_path / "profile", ARTEFACTS / "console.log") as page:
                state, result, k = _sign_in_and_save(page, url, idp, study_uid)

            # 4. alice's, everywhere: the datastore (her label = candidate k), the PACS SEG, the audit log
            saved = state["saved"]
            assert [(x["lesion"], x["action"]) for x in saved["saved"]] == [(1, "added")] and saved["candidate"] == k
            alice = sign_in(idp, READER)["access_token"]
            r = requests.get(f"{url}/datastore/label", params={"label": series_uid, "tag": READER}, headers=_bearer(alice), timeout=60)
            assert r.status_code == 200, r.text[:300]
            (tmp_path / "alice.nii.gz").write_bytes(r.content)
            label = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "alice.nii.gz")))
            assert int((label == 1).sum()) == int(_candidates(result)[k].sum()) > 0 and set(np.unique(label)) == {0, 1}
            (seg,) = pacs.retrieve_series(study_uid, saved["seg_series"])
            assert str(seg.ContentCreatorName) == READER
            log = requests.get(f"{url}/ssb/audit", params={"action": "label saved"}, headers=_bearer(sign_in(idp, ADMIN)["access_token"]),
                               timeout=30).json()["entries"]
            assert [(e["user"], e["reader"], e["image"], e["lesion"], e["result"]) for e in log] == [(READER, READER, series_uid, 1, "added")]


def _sign_in_and_save(page, url: str, idp, study_uid: str) -> tuple[dict, dict, int]:
    """Steps 1-3 in the browser: the panel's state after Save, the infer answer, the candidate saved."""
    # 1. OHIF -> the provider's own login page; alice fills its form
    page.goto(f"{url}/ohif/", timeout=WAIT_MS)
    page.wait_for_url(f"{idp.issuer}/**", timeout=WAIT_MS)
    page.locator('input[name="login"]').fill(READER)
    page.locator('input[name="password"]').fill(idp.users[READER].password)
    _shot(page, "01-provider-login.png", ARTEFACTS)
    page.click('button[type="submit"]')

    # 2. the study list, through the DICOMweb proxy with her token; the study in the MONAI Label mode
    page.get_by_text("LIDC-IDRI-0003").first.wait_for(timeout=WAIT_MS)
    assert page.url.startswith(f"{url}/ohif/")
    _shot(page, "02-study-list.png", ARTEFACTS)
    _open_study(page, url, study_uid)
    page.wait_for_function("() => document.querySelector('#ssb-signed-in').innerText.includes('alice')", timeout=WAIT_MS)
    assert page.locator("#ssb-signed-in").inner_text().startswith("Signed in as alice (reader)")
    assert page.locator("#ssb-reader").input_value() == READER and page.locator("#ssb-reader").is_disabled()

    # 3. candidates on nodule n3, one picked; the sign-in then ends: Save asks to sign in again, nothing is lost
    demo = sitk.ReadImage(str(DEMO / "LIDC-IDRI-0003_demo.nii.gz"))
    page.fill("#ssb-count", str(N))
    result = _click_lesion(page, list(demo.TransformIndexToPhysicalPoint(N3_IJK)))
    k = min(result["candidates"], key=lambda c: c["rank"])["index"]
    _pick(page, k)
    _shot(page, "03-candidates.png", ARTEFACTS)
    # the token is renewed before it expires, while the reader works (the renewal is due within TTL s of the sign-in;
    # how much of that the steps above took depends on the machine, so wait for it rather than assume it happened)
    page.wait_for_function("() => window.ssbSignIn.renewals >= 1", timeout=2 * TTL * 1000)
    page.evaluate(END_OF_SESSION)
    page.evaluate("() => { window.ssbPanel.saved = null; window.ssbPanel.error = null; }")
    page.click("#ssb-save")
    page.locator("#ssb-signin-again:enabled").wait_for(timeout=WAIT_MS)
    assert page.locator('#ssb-list [data-ssb^="candidate-"]').count() == N  # still on screen
    _shot(page, "04-sign-in-again.png", ARTEFACTS)
    with page.expect_popup(timeout=WAIT_MS) as popup:
        page.click("#ssb-signin-again")
    popup.value.wait_for_event("close", timeout=WAIT_MS)  # the provider knew her session: no form this time
    page.wait_for_function("() => (window.ssbPanel.saved || window.ssbPanel.error) && !window.ssbPanel.busy", timeout=WAIT_MS)
    state = page.evaluate("() => ({saved: window.ssbPanel.saved, error: window.ssbPanel.error})")
    assert state["error"] is None, state["error"]
    assert page.locator("#ssb-signin-banner").count() == 0
    _shot(page, "05-saved.png", ARTEFACTS)
    return state, result, k
