"""The OHIF viewer built into MONAI Label, in a real headless browser, runs the SSB model on a study from a PACS.

A real Orthanc (``scripts/orthanc.sh``) holds an MR series written at test time from
``../shared/data/mr3d/brain1_image.nrrd``; the app server (tiny checkpoint) runs with
``--studies http://127.0.0.1:PORT/dicom-web``; Debian's Chromium, driven by Playwright, opens
``/ohif/monai-label?StudyInstanceUIDs=...`` on the app server, connects the MONAI Label panel to the server,
runs ``ssb`` from its Auto-Segmentation tab, and the labelmap OHIF then holds is compared, label by label,
with the same request answered to Python. Screenshots (study open, panel connected, result), the server log
and the browser console go to ``test-artifacts/ohif/`` at the repository root (printed; emptied per run).
"""

from __future__ import annotations

import ast
import json
import re
import shutil

import nrrd
import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk

from tests.app._server import running_server, write_tiny_checkpoint
from tests.conftest import REPO_ROOT, shared_data
from tests.hospital._browser import chromium_page, require_browser
from tests.hospital._orthanc import require_orthanc, running_orthanc
from tests.hospital._series import write_mr_series

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

ARTEFACTS = REPO_ROOT / "test-artifacts" / "ohif"
WAIT_MS = 180_000  # upper bound for each wait on the page (a slow CI machine); no step's duration is asserted

VOLUME_LOADED = "() => (window.cornerstone?.cache?.getVolumes?.() || []).some(v => v.loadStatus && v.loadStatus.loaded)"
SEGMENT_LABELS = """() => Object.fromEntries(Object.values(window.services.segmentationService.getSegmentation('1').segments)
    .filter(s => s).map(s => [s.segmentIndex, s.label]))"""
NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
LABELMAP_COUNTS = """() => {
    const a = window.services.segmentationService.getLabelmapVolume('1').voxelManager.getCompleteScalarDataArray();
    const counts = {};
    for (const v of a) counts[v] = (counts[v] || 0) + 1;
    return counts;
}"""


def _infer_request(log: str, image: str) -> dict:
    """The params of the server's ``Infer Request`` log line for ``image`` (monailabel logs the request dict)."""
    found = [ast.literal_eval(m.group(1)) for m in re.finditer(r"Infer Request: (\{.*\})", log)]
    found = [r for r in found if r.get("image") == image]
    assert len(found) == 1, f"expected one infer request for {image} in the server log, found {len(found)}"
    return found[0]


def test_ohif_monai_label_panel_runs_ssb_on_a_pacs_study(tmp_path, monkeypatch):
    require_orthanc()
    require_browser()
    volume = sitk.ReadImage(str(shared_data("mr3d", "brain1_image.nrrd")))
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    print(f"\nOHIF test artefacts (screenshots, server log, browser console): {ARTEFACTS}")

    files = write_mr_series(volume, tmp_path / "series")
    header = pydicom.dcmread(str(files[0]), stop_before_pixels=True)
    study, series = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
    model = write_tiny_checkpoint(tmp_path / "models" / "tiny.pt")
    monkeypatch.setenv("MONAI_LABEL_DICOMWEB_CACHE_PATH", str(tmp_path / "dicomweb-cache"))

    with running_orthanc(ARTEFACTS / "orthanc.log") as pacs:
        pacs.upload(*files)
        # the untrained tiny network's candidates as sampled: the vote would often find no lesion on this MR, and this
        # test checks OHIF's own panel showing what the server answers
        with running_server(pacs.dicomweb, model, ARTEFACTS / "server.log", {"num_threads": 1, "presence": "as_sampled"}) as srv:
            info = requests.get(f"{srv.url}/info/", timeout=60).json()
            with chromium_page(tmp_path / "profile", ARTEFACTS / "console.log") as page:
                # 1. the study, from Orthanc through the app server's DICOMweb proxy, in the MONAI Label mode
                page.goto(f"{srv.url}/ohif/monai-label?StudyInstanceUIDs={study}", timeout=WAIT_MS)
                page.locator('[data-cy="study-browser-thumbnail"]').first.wait_for(timeout=WAIT_MS)
                page.wait_for_function(VOLUME_LOADED, timeout=WAIT_MS)
                assert "mr3d test series" in page.locator('[data-cy="viewport-overlay-top-left"]').first.inner_text(timeout=WAIT_MS)
                banner = page.locator('[data-cy="confirm-and-hide-button"]')
                if banner.is_visible():
                    banner.click()
                page.evaluate(NEXT_FRAMES)  # the viewports have drawn what they hold
                page.screenshot(path=str(ARTEFACTS / "01-study-open.png"))

                # 2. the MONAI Label panel, connected to this server (its URL field defaults to port 8000)
                url_field = page.locator("#monailabelServerURL")
                if not url_field.is_visible():
                    page.locator('[data-cy="monailabel-btn"]').click()
                url_field.fill(f"{srv.url}/")
                page.locator(".settingsTable button.actionButton").click()
                auto = page.locator("div.tab", has=page.locator("label.tab-label", has_text="Auto-Segmentation"))
                auto.wait_for(timeout=WAIT_MS)
                assert page.get_by_text(info["name"]).first.is_visible()
                # on connecting, the panel creates OHIF's segmentation '1' with one segment per label of /info/
                segments = {int(k): v for k, v in page.evaluate(SEGMENT_LABELS).items()}
                assert sorted(segments.values()) == sorted(info["labels"])
                page.screenshot(path=str(ARTEFACTS / "02-panel-connected.png"))

                # 3. run ssb from the Auto-Segmentation tab
                auto.locator("label.tab-label").click()
                auto.locator("select.selectBox").select_option("ssb")
                auto.locator('button[title="Run Segmentation"]').click()
                outcome = page.get_by_text(re.compile("Running Segmentation - Successful|Failed to Run Segmentation"))
                outcome.first.wait_for(timeout=WAIT_MS)
                assert outcome.first.inner_text() == "Running Segmentation - Successful", srv.log_text()[-3000:]
                browser_counts = {int(k): v for k, v in page.evaluate(LABELMAP_COUNTS).items()}
                page.evaluate(NEXT_FRAMES)
                page.screenshot(path=str(ARTEFACTS / "03-result.png"))

            # the panel's request reached the server for the series on screen, as OHIF's client sends it
            request = _infer_request(srv.log_text(), series)
            assert request["model"] == "ssb" and request["result_extension"] == ".nrrd" and request["result_dtype"] == "uint8"
            # the same request from Python (same default seed, so the same candidates) answers the labelmap OHIF holds
            params = {k: v for k, v in request.items() if k not in ("model", "image")}
            r = requests.post(f"{srv.url}/infer/ssb", params={"image": series, "output": "image"},
                              data={"params": json.dumps(params)}, timeout=300)
            assert r.status_code == 200, r.text[:500]
    answer = tmp_path / "answer.nrrd"
    answer.write_bytes(r.content)
    labelmap, _ = nrrd.read(str(answer))
    assert labelmap.size == sum(browser_counts.values())  # OHIF's labelmap is on the series' own grid

    values, counts = np.unique(labelmap, return_counts=True)
    name_of = {idx: name for name, idx in info["models"]["ssb"]["labels"].items()}
    index_in_ohif = {name: idx for idx, name in segments.items()}
    expected = {index_in_ohif[name_of[int(v)]]: int(c) for v, c in zip(values, counts, strict=True) if v}
    assert expected, "the model segmented nothing: nothing to see in the viewer"
    assert {k: v for k, v in browser_counts.items() if k} == expected
