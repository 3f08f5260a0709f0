"""The radiologist's whole workflow in OHIF, as ``make serve`` sets it up, in a real headless Chromium.

``scripts/serve.sh`` (``make serve``'s launcher, ``SSB_PACS=orthanc``) starts a local Orthanc, stores the demo
chest CT in it (LIDC-IDRI-0003 region) and serves the shipped model on its DICOMweb. Then, as a user:

1. the OHIF study list lists the demo study; the study opens in the MONAI Label mode, whose panel's server URL
   is the page's own origin;
2. in the SSB panel: the reader's name ("alice"), "Click a lesion", a real mouse click on nodule n3 (15 mm) in
   the axial viewport;
3. N candidates are listed (rank and volume); the consensus is drawn; two candidates are toggled on, each then
   an OHIF segmentation holding exactly the server's voxels, then the variability overlay;
4. candidate k is picked and saved: the server holds alice's label equal to candidate k voxel for voxel, and
   the PACS holds alice's DICOM SEG (``ContentCreatorName`` alice) with the same mask.

Screenshots of each step, the server and Orthanc logs and the browser console go to
``test-artifacts/ohif-workflow/`` at the repository root (emptied per run). A second test clicks on a nodule of a
whole chest CT (``../shared/data/lidc3d``) in the same way (``test-artifacts/ohif-whole-ct/``).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk
from dicomweb_client import DICOMwebClient

from tests.app._server import free_port, running_serve_script, running_server
from tests.conftest import REPO_ROOT, shared_data
from tests.hospital._browser import chromium_page, require_browser
from tests.hospital._orthanc import require_orthanc, running_orthanc

pytestmark = pytest.mark.slow

ARTEFACTS = REPO_ROOT / "test-artifacts" / "ohif-workflow"
DEMO = REPO_ROOT / "sample-apps" / "ssb-local" / "demo"
WAIT_MS = 180_000  # upper bound of each wait on the page (a slow CI machine); no duration is asserted
N = 6
NODULE_IJK = (45, 59, 26)  # LIDC-IDRI-0003_n3 in the demo region (demo.json: centre 45.3, 59.3, 25.7)

VOLUME_LOADED = "() => (window.cornerstone?.cache?.getVolumes?.() || []).some(v => v.loadStatus && v.loadStatus.loaded)"
NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
# centre the axial viewport on the nodule (its plane and its middle), zoom in; the page point of the nodule
GO_TO = """(world) => {
    const vp = window.cornerstone.getEnabledElements().find(e => e.viewport.id === 'mpr-axial').viewport;
    const cam = vp.getCamera();
    const shift = [0, 1, 2].map(i => world[i] - cam.focalPoint[i]);
    vp.setCamera({focalPoint: world, position: cam.position.map((v, i) => v + shift[i])});
    vp.setZoom(3);
    vp.render();
    const c = vp.worldToCanvas(world), r = (vp.canvas || vp.element.querySelector('canvas')).getBoundingClientRect();
    return [r.left + c[0], r.top + c[1]];
}"""
# voxels set to 1 in each of our labelmap segmentations, as OHIF holds them
OHIF_COUNTS = """() => Object.fromEntries(window.ssbPanel.segmentations.map(id => {
    const a = window.services.segmentationService.getLabelmapVolume(id).voxelManager.getCompleteScalarDataArray();
    let n = 0; for (const v of a) if (v) n++;
    return [id, n];
}))"""
# the segmentations exist in OHIF and are visible in the axial viewport
SHOWN = """(ids) => ids.every(id => window.ssbPanel.segmentations.includes(id)
    && window.cornerstoneTools.segmentation.config.visibility.getSegmentIndexVisibility(
        'mpr-axial', {segmentationId: id, type: window.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap}, 1))"""


def _open_study(page, url: str, study_uid: str) -> None:
    """The study in OHIF's MONAI Label mode, its volume loaded, the SSB panel shown."""
    page.goto(f"{url}/ohif/monai-label?StudyInstanceUIDs={study_uid}", timeout=WAIT_MS)
    page.wait_for_function(VOLUME_LOADED, timeout=WAIT_MS)
    banner = page.locator('[data-cy="confirm-and-hide-button"]')
    if banner.is_visible():
        banner.click()
    page.locator("#ssb-panel").wait_for(state="visible", timeout=WAIT_MS)


def _shot(page, name: str, folder: Path = ARTEFACTS) -> None:
    page.evaluate(NEXT_FRAMES)
    page.screenshot(path=str(folder / name))


def test_make_serve_then_ohif_candidates_variability_pick_and_save_as_alice(tmp_path):
    require_orthanc()
    require_browser()
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    print(f"\nOHIF workflow artefacts (screenshots, logs, console): {ARTEFACTS}")
    cache, port, orthanc_port = tmp_path / "cache", free_port(), free_port()
    model = tmp_path / "models" / "ssb_lidc64.pt"  # a copy: the saved label makes alice a pending reader beside it
    model.parent.mkdir()
    shutil.copy(REPO_ROOT / "models" / "ssb_lidc64.pt", model)
    env = {"SSB_PACS": "orthanc", "SSB_CACHE": str(cache), "SSB_PORT": str(port), "SSB_ORTHANC_PORT": str(orthanc_port),
           "SSB_MODEL_PATH": str(model)}
    demo = sitk.ReadImage(str(DEMO / "LIDC-IDRI-0003_demo.nii.gz"))
    world = list(demo.TransformIndexToPhysicalPoint(NODULE_IJK))

    with running_serve_script(ARTEFACTS / "serve.log", env, ("--conf", "num_threads", "2"), timeout=240) as url:
        dicomweb = f"http://127.0.0.1:{orthanc_port}/dicom-web"
        pacs = DICOMwebClient(dicomweb)
        (study,) = pacs.search_for_studies()
        study_uid = study["0020000D"]["Value"][0]
        (series,) = pacs.search_for_series(study_uid, search_filters={"Modality": "CT"})
        series_uid = series["0020000E"]["Value"][0]
        with chromium_page(tmp_path / "profile", ARTEFACTS / "console.log") as page:
            # 1. the study list (DICOMweb through the server's proxy), then the study in the MONAI Label mode
            page.goto(f"{url}/ohif/", timeout=WAIT_MS)
            page.get_by_text("LIDC-IDRI-0003").first.wait_for(timeout=WAIT_MS)
            _shot(page, "01-study-list.png")
            _open_study(page, url, study_uid)
            assert page.locator("#monailabelServerURL").input_value() == f"{url}/"  # the page's own origin
            _shot(page, "02-study-open.png")

            # 2. the reader's name, "Click a lesion", a click on the nodule
            page.fill("#ssb-reader", "alice")
            page.locator("#ssb-reader").dispatch_event("change")
            assert "never seen" in page.locator("#ssb-reader-state").inner_text()  # no label under that name yet
            page.fill("#ssb-count", str(N))
            point = page.evaluate(GO_TO, world)
            page.click("#ssb-click")
            page.mouse.click(*point)
            page.wait_for_function("() => window.ssbPanel.result || window.ssbPanel.error", timeout=WAIT_MS)
            state = page.evaluate("() => ({error: window.ssbPanel.error, click: window.ssbPanel.click})")
            assert state["error"] is None, state
            result = page.evaluate("() => window.ssbPanel.result")
            _shot(page, "03-candidates.png")
            # the other views moved to the slice through the clicked point (within half a 0.7 mm voxel): the lesion seen
            # in three planes at once
            cams = page.evaluate("""() => Object.fromEntries(window.cornerstone.getEnabledElements().map(e => [e.viewport.id,
                [Array.from(e.viewport.getCamera().focalPoint), Array.from(e.viewport.getCamera().viewPlaneNormal)]]))""")
            off = {vp: abs(float(np.dot(np.subtract(f, state["click"]), n))) for vp, (f, n) in cams.items() if vp != "mpr-axial"}
            assert off and all(d <= 0.36 for d in off.values()), (off, cams, state["click"])

            # 3. N candidates listed, each an OHIF segmentation holding exactly the server's voxels
            rows = page.locator('#ssb-list [data-ssb^="candidate-"]')
            assert rows.count() == N and len(result["candidates"]) == N
            listed = {rows.nth(i).get_attribute("data-ssb"): rows.nth(i).inner_text() for i in range(N)}
            for c in result["candidates"]:
                assert listed[f"candidate-{c['index']}"].strip().startswith(f"candidate {c['index']} (rank {c['rank']}, ")
            swatches = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#ssb-list [data-ssb^="candidate-"]')]
                .map(row => [row.dataset.ssb, getComputedStyle(row.querySelector('span')).backgroundColor]))""")
            assert swatches == {f"candidate-{c['index']}": "rgb({}, {}, {})".format(*c["colour"]) for c in result["candidates"]}  # as in Slicer
            masks = result["masks"]
            b = masks["box_ijk"]
            size = b["nk"] * b["nj"] * b["ni"]
            cands = np.unpackbits(np.frombuffer(base64.b64decode(masks["candidates"]), np.uint8))[: N * size].reshape(N, -1)
            assert page.evaluate(OHIF_COUNTS) == {"ssb-consensus": int((cands.mean(0) >= 0.5).sum())}  # the rest made on demand
            assert int((cands.mean(0) >= 0.5).sum()) > 0

            top2 = [c["index"] for c in sorted(result["candidates"], key=lambda c: c["rank"])[:2]]
            ids = [f"ssb-candidate-{k}" for k in top2]
            for k in top2:  # toggle two candidates on
                page.locator(f'[data-ssb="candidate-{k}"] input[type=checkbox]').check()
            page.wait_for_function(SHOWN, arg=ids, timeout=WAIT_MS)
            counts = page.evaluate(OHIF_COUNTS)  # each an OHIF segmentation holding exactly the server's voxels
            assert [counts[i] for i in ids] == [int(cands[k].sum()) for k in top2]
            labels = {s["segmentationId"]: s["label"] for s in page.evaluate(
                "() => window.services.segmentationService.getSegmentations().map(s => ({segmentationId: s.segmentationId, label: s.label}))")}
            assert [labels[i] for i in ids] == [listed[f"candidate-{k}"].strip() for k in top2]  # named in OHIF as in the list
            _shot(page, "04-two-candidates.png")
            page.locator('[data-ssb="variability"] input[type=checkbox]').check()
            page.wait_for_function(SHOWN, arg=["ssb-variability"], timeout=WAIT_MS)
            levels = np.frombuffer(base64.b64decode(masks["variability"]), np.uint8)
            assert page.evaluate(OHIF_COUNTS)["ssb-variability"] == int((levels > 0).sum()) > 0
            _shot(page, "05-variability.png")

            # 4. pick candidate k, save as alice
            k = top2[1]  # the second most typical candidate
            page.locator(f'[data-ssb="candidate-{k}"] input[type=radio]').check()
            assert page.locator("#ssb-save").inner_text() == f"Save candidate {k} as alice"
            page.click("#ssb-save")
            page.wait_for_function("() => window.ssbPanel.saved || (window.ssbPanel.error && !window.ssbPanel.busy)", timeout=WAIT_MS)
            saved = page.evaluate("() => ({saved: window.ssbPanel.saved, error: window.ssbPanel.error})")
            assert saved["error"] is None and saved["saved"]["candidate"] == k and saved["saved"]["reader"] == "alice", saved
            page.wait_for_function("() => document.querySelector('#ssb-reader-state').innerText.includes('pending')", timeout=WAIT_MS)
            _shot(page, "06-saved.png")

        # the server holds alice's label = candidate k of the set on screen, voxel for voxel
        r = requests.post(f"{url}/infer/ssb", params={"image": series_uid, "output": "image"}, timeout=300,
                          data={"params": json.dumps({"foreground_mm": [state["click"]], "num_candidates": N, "candidate": k,
                                                      "result_extension": ".nii.gz"})})
        assert r.status_code == 200, r.text[:500]
        (tmp_path / "k.nii.gz").write_bytes(r.content)
        candidate_k = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "k.nii.gz"))) == 4
        r = requests.get(f"{url}/datastore/label", params={"label": series_uid, "tag": "alice"}, timeout=60)
        assert r.status_code == 200
        (tmp_path / "alice.nii.gz").write_bytes(r.content)
        alice = sitk.ReadImage(str(tmp_path / "alice.nii.gz"))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(alice) > 0, candidate_k)
        assert candidate_k.sum() == int(cands[k].sum()) > 0 and candidate_k.sum() == counts[f"ssb-candidate-{k}"]

        # and the PACS holds alice's SEG with the same mask
        segs = pacs.search_for_series(study_uid, search_filters={"Modality": "SEG"})
        mine = [s for s in segs if s["0020000E"]["Value"][0] == saved["saved"]["seg_series"]]
        assert len(mine) == 1
        (ds,) = pacs.retrieve_series(study_uid, saved["saved"]["seg_series"])
        assert str(ds.ContentCreatorName) == "alice" and f"candidate {k}" in ds.SeriesDescription
        instances = pacs.retrieve_series(study_uid, series_uid)
        headers = [pydicom.Dataset(i) for i in instances]

        from lib.dicom.seg_read import read_seg

        seg = read_seg(ds, [str(h.SOPInstanceUID) for h in headers])
        ks = [alice.TransformPhysicalPointToIndex([float(v) for v in h.ImagePositionPatient])[2] for h in headers]
        np.testing.assert_array_equal(seg.masks[0], candidate_k[ks])


def test_a_click_on_a_nodule_of_a_whole_chest_ct_in_ohif(tmp_path, monkeypatch):
    """The same panel on a whole CT (the first nodule of ../shared/data/lidc3d, 512 x 512 pixels, every slice):
    the CT written as a DICOM series into a real Orthanc, the shipped model served on it; a click on the nodule in
    OHIF gives candidates on that nodule, drawn exactly where the server put them."""
    require_orthanc()
    require_browser()
    from ssb_core.evaluation.whole_scan import load_lidc3d

    from lib.dicom.series import write_series

    case = load_lidc3d(shared_data("lidc3d", "manifest.json").parent)[0]
    ct = sitk.ReadImage(str(case.ct_path))
    artefacts = ARTEFACTS.parent / "ohif-whole-ct"
    shutil.rmtree(artefacts, ignore_errors=True)
    artefacts.mkdir(parents=True)
    files = write_series(ct, tmp_path / "series", modality="CT", description=f"whole CT {case.nodule_id}", window=(-600, 1500))
    world = list(ct.TransformContinuousIndexToPhysicalPoint([float(c) for c in case.click_ijk]))
    monkeypatch.setenv("MONAI_LABEL_DICOMWEB_CACHE_PATH", str(tmp_path / "dicomweb-cache"))
    with running_orthanc(artefacts / "orthanc.log") as pacs:
        pacs.upload(*files)
        header = pydicom.dcmread(str(files[0]), stop_before_pixels=True)
        with running_server(pacs.dicomweb, REPO_ROOT / "models" / "ssb_lidc64.pt", artefacts / "server.log",
                            {"num_threads": 2}) as srv, chromium_page(tmp_path / "profile", artefacts / "console.log") as page:
            _open_study(page, srv.url, header.StudyInstanceUID)
            page.fill("#ssb-count", str(N))
            point = page.evaluate(GO_TO, world)
            page.click("#ssb-click")
            page.mouse.click(*point)
            page.wait_for_function("() => window.ssbPanel.result || window.ssbPanel.error", timeout=WAIT_MS)
            assert page.evaluate("() => window.ssbPanel.error") is None
            result = page.evaluate("() => window.ssbPanel.result")
            top = min(result["candidates"], key=lambda c: c["rank"])["index"]
            page.locator(f'[data-ssb="candidate-{top}"] input[type=checkbox]').check()
            page.wait_for_function(SHOWN, arg=[f"ssb-candidate-{top}"], timeout=WAIT_MS)
            counts = page.evaluate(OHIF_COUNTS)
            _shot(page, "01-whole-ct-candidates.png", artefacts)
    # the click reached the server as the nodule's voxel, and OHIF holds the server's voxels
    np.testing.assert_allclose(result["click_ijk"][0], case.click_ijk, atol=0.6)
    b = result["masks"]["box_ijk"]
    size = b["nk"] * b["nj"] * b["ni"]
    cands = np.unpackbits(np.frombuffer(base64.b64decode(result["masks"]["candidates"]), np.uint8))[: N * size].reshape(N, -1)
    assert counts[f"ssb-candidate-{top}"] == int(cands[top].sum()) > 0
    assert counts["ssb-consensus"] == int((cands.mean(0) >= 0.5).sum()) > 0
    assert result["image"]["size_ijk"] == list(ct.GetSize())  # the whole scan, not a crop
