"""A radiologist's day in OHIF, as ``make serve`` sets it up, in a real headless Chromium.

``scripts/serve.sh`` (``make serve``'s launcher, ``SSB_PACS=orthanc``) starts a local Orthanc, stores the demo
chest CT in it (LIDC-IDRI-0003 region) and serves the shipped model on its DICOMweb: once for the module. Then, as
a reader ("alice") would:

1. the study opens in the MONAI Label mode; the SSB panel is a tab of OHIF's right side panel and covers no view;
2. N out of range is refused in words; a click on nodule n3 lists N candidates, drawn with fill and outline as
   the panel's controls set them, the hovered one standing out; one is picked and saved (lesion 1);
3. a double-click on nodule n2 (no view maximised) lists its candidates; the pick is touched up with OHIF's brush
   and saved as edited (lesion 2, "candidate k, edited by alice");
4. back on n3 the panel says the click is near lesion 1; a candidate erased to nothing is refused with the
   server's words and alice's stored label does not change;
5. after a page reload both lesions are listed and drawn; the datastore label holds both voxel for voxel (the
   edited one as the browser's labelmap held it), the PACS holds alice's SEG with one segment per lesion; Remove
   takes one lesion away; OHIF's Basic Viewer says to open the study in the MONAI Label mode.

Screenshots of each step, the server log and the browser console go to ``test-artifacts/ohif-workflow/`` at the
repository root (emptied per run). A second test clicks on a nodule of a whole chest CT (``../shared/data/lidc3d``)
stored in the same Orthanc (``test-artifacts/ohif-whole-ct/``).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk
from dicomweb_client import DICOMwebClient

from tests.app._server import free_port, running_serve_script
from tests.conftest import REPO_ROOT, shared_data
from tests.hospital._browser import chromium_page, require_browser
from tests.hospital._orthanc import require_orthanc

pytestmark = pytest.mark.slow

ARTEFACTS = REPO_ROOT / "test-artifacts" / "ohif-workflow"
DEMO = REPO_ROOT / "sample-apps" / "ssb-local" / "demo"
WAIT_MS = 180_000  # upper bound of each wait on the page (a slow CI machine); no duration is asserted
N = 6
N3_IJK = (45, 59, 26)  # LIDC-IDRI-0003_n3 in the demo region (demo.json: centre 45.3, 59.3, 25.7)
N2_IJK = (132, 38, 25)  # LIDC-IDRI-0003_n2 (131.6, 38.0, 24.7)
LOOK = {"fill": 0.4, "outline": 3}  # what the reader sets with the panel's sliders

VOLUME_LOADED = "() => (window.cornerstone?.cache?.getVolumes?.() || []).some(v => v.loadStatus && v.loadStatus.loaded)"
NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
# centre the axial viewport on a point (its plane and its middle), zoom in; the page point of it
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
# voxels of each value in one of the panel's labelmap segmentations, as OHIF holds them
VALUE_COUNTS = """(id) => {
    const a = window.services.segmentationService.getLabelmapVolume(id).voxelManager.getCompleteScalarDataArray();
    const counts = {};
    for (const v of a) if (v) counts[v] = (counts[v] || 0) + 1;
    return counts;
}"""
# the segmentations exist in OHIF and are visible in the axial viewport
SHOWN = """(ids) => ids.every(id => window.ssbPanel.segmentations.includes(id)
    && window.cornerstoneTools.segmentation.config.visibility.getSegmentIndexVisibility(
        'mpr-axial', {segmentationId: id, type: window.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap}, 1))"""
STYLE = """(id) => window.cornerstoneTools.segmentation.config.style.getStyle({viewportId: 'mpr-axial', segmentationId: id,
    type: window.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap})"""
# page boxes [left, top, right, bottom] of the panel, its host in OHIF's side panel and every viewport
BOXES = """() => {
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const host = document.querySelector('[data-cy="ssb-panel-host"]');
    return {panel: box(document.querySelector('#ssb-panel')), host: box(host), hostOverflow: getComputedStyle(host).overflowY,
            viewports: [...document.querySelectorAll('[data-viewport-uid]')].map(box), height: window.innerHeight};
}"""
STATUS = "() => document.querySelector('#ssb-status').innerText"
ACTIVE_TOOL = "window.services.toolGroupService.getToolGroup('mpr').getActivePrimaryMouseButtonTool()"
SAVE_TEXT = "() => document.querySelector('#ssb-save').innerText"
# the edited pick as the browser's labelmap holds it, on the server's voxel grid ({box_ijk, bits})
BROWSER_MASK = """async (id) => window.ssb.masks.toJson(await window.ssb.ohif.readMask(id, window.ssbPanel.result.masks.geometry))"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``make serve``'s launcher on a copy of the shipped model (alice's saves make her a pending reader beside it),
    with its Orthanc: the server URL, the PACS, the demo study and series, the demo volume."""
    require_orthanc()
    require_browser()
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    print(f"\nOHIF workflow artefacts (screenshots, logs, console): {ARTEFACTS}")
    root = tmp_path_factory.mktemp("served")
    port, orthanc_port = free_port(), free_port()
    model = root / "models" / "ssb_lidc128.pt"
    model.parent.mkdir()
    shutil.copy(REPO_ROOT / "models" / "ssb_lidc128.pt", model)
    env = {"SSB_PACS": "orthanc", "SSB_CACHE": str(root / "cache"), "SSB_PORT": str(port), "SSB_ORTHANC_PORT": str(orthanc_port),
           "SSB_MODEL_PATH": str(model)}
    with running_serve_script(ARTEFACTS / "serve.log", env, ("--conf", "num_threads", "2"), timeout=240) as url:
        orthanc = f"http://127.0.0.1:{orthanc_port}"
        pacs = DICOMwebClient(f"{orthanc}/dicom-web")
        (study,) = pacs.search_for_studies()
        study_uid = study["0020000D"]["Value"][0]
        (series,) = pacs.search_for_series(study_uid, search_filters={"Modality": "CT"})
        yield SimpleNamespace(url=url, orthanc=orthanc, pacs=pacs, study=study_uid, series=series["0020000E"]["Value"][0],
                              demo=sitk.ReadImage(str(DEMO / "LIDC-IDRI-0003_demo.nii.gz")))


def _open_study(page, url: str, study_uid: str, mode: str = "monai-label") -> None:
    """The study in an OHIF mode, its images loaded, the SSB panel shown."""
    page.goto(f"{url}/ohif/{mode}?StudyInstanceUIDs={study_uid}", timeout=WAIT_MS)
    page.wait_for_function(VOLUME_LOADED if mode == "monai-label" else "() => window.cornerstone?.getEnabledElements?.().length",
                           timeout=WAIT_MS)
    banner = page.locator('[data-cy="confirm-and-hide-button"]')
    if banner.is_visible():
        banner.click()
    page.locator("#ssb-panel").wait_for(state="visible", timeout=WAIT_MS)


def _shot(page, name: str, folder: Path = ARTEFACTS) -> None:
    page.evaluate(NEXT_FRAMES)
    page.screenshot(path=str(folder / name))


def _assert_docked(page) -> None:
    """The panel sits in OHIF's right side panel: beside every viewport (no overlap), within the window, scrolling
    inside its own box however long its lists are."""
    b = page.evaluate(BOXES)
    for panel in (b["panel"], b["host"]):
        for vp in b["viewports"]:
            overlap = min(panel[2], vp[2]) > max(panel[0], vp[0]) and min(panel[3], vp[3]) > max(panel[1], vp[1])
            assert not overlap, (panel, vp)
    assert b["viewports"] and b["host"][0] >= max(vp[2] for vp in b["viewports"]), b
    assert b["host"][3] <= b["height"] and b["hostOverflow"] == "auto", b


def _click_lesion(page, world: list[float], double: bool = False) -> dict:
    """"Click a lesion", then a real mouse click (or double-click) on ``world``; the infer answer."""
    page.evaluate("() => { window.ssbPanel.result = null; window.ssbPanel.error = null; }")
    point = page.evaluate(GO_TO, world)
    page.click("#ssb-click")
    (page.mouse.dblclick if double else page.mouse.click)(*point)
    page.wait_for_function("() => (window.ssbPanel.result || window.ssbPanel.error) && !window.ssbPanel.busy", timeout=WAIT_MS)
    state = page.evaluate("() => ({error: window.ssbPanel.error, result: window.ssbPanel.result})")
    assert state["error"] is None, state["error"]
    return state["result"]


def _pick(page, k: int) -> None:
    page.locator(f'[data-ssb="candidate-{k}"] input[type=radio]').check()
    page.wait_for_function("(k) => window.ssbPanel.segmentations.includes('ssb-candidate-' + k) && !document.querySelector('#ssb-save').disabled",
                           arg=k, timeout=WAIT_MS)


def _save(page) -> dict:
    page.evaluate("() => { window.ssbPanel.saved = null; window.ssbPanel.error = null; }")
    page.click("#ssb-save")
    page.wait_for_function("() => (window.ssbPanel.saved || window.ssbPanel.error) && !window.ssbPanel.busy", timeout=WAIT_MS)
    return page.evaluate("() => ({saved: window.ssbPanel.saved, sent: window.ssbPanel.sent, error: window.ssbPanel.error})")


def _mask(entry: dict, shape_zyx: tuple[int, ...]) -> np.ndarray:
    """A {box_ijk, bits} mask (lib/infers/masks_json.py) on the full (Z, Y, X) grid."""
    b = entry["box_ijk"]
    out = np.zeros(shape_zyx, bool)
    count = b["ni"] * b["nj"] * b["nk"]
    bits = np.unpackbits(np.frombuffer(base64.b64decode(entry["bits"]), np.uint8), count=count).reshape(b["nk"], b["nj"], b["ni"])
    out[b["k0"]: b["k0"] + b["nk"], b["j0"]: b["j0"] + b["nj"], b["i0"]: b["i0"] + b["ni"]] = bits.astype(bool)
    return out


def _candidates(result: dict) -> np.ndarray:
    """(N, nk * nj * ni) bits of the answer's candidates in its box."""
    m = result["masks"]
    b = m["box_ijk"]
    size = b["nk"] * b["nj"] * b["ni"]
    return np.unpackbits(np.frombuffer(base64.b64decode(m["candidates"]), np.uint8))[: m["num_candidates"] * size].reshape(m["num_candidates"], -1)


def _label(s, tmp_path: Path, name: str) -> sitk.Image:
    r = requests.get(f"{s.url}/datastore/label", params={"label": s.series, "tag": "alice"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    (tmp_path / name).write_bytes(r.content)
    return sitk.ReadImage(str(tmp_path / name))


def test_a_readers_workflow_in_ohif_two_lesions_one_edited_refusal_reload_pacs(served, tmp_path):
    s = served
    n3, n2 = (list(s.demo.TransformIndexToPhysicalPoint(ijk)) for ijk in (N3_IJK, N2_IJK))
    with chromium_page(tmp_path / "profile", ARTEFACTS / "console.log") as page:
        # 1. the study list (DICOMweb through the server's proxy); the study in the MONAI Label mode, the SSB panel a
        # tab of OHIF's right side panel, MONAI Label's panel (server URL = the page's own origin) one tab away
        page.goto(f"{s.url}/ohif/", timeout=WAIT_MS)
        page.get_by_text("LIDC-IDRI-0003").first.wait_for(timeout=WAIT_MS)
        _shot(page, "01-study-list.png")
        _open_study(page, s.url, s.study)
        _assert_docked(page)
        page.click('[data-cy="monailabel-btn"]')
        assert page.locator("#monailabelServerURL").input_value() == f"{s.url}/"
        page.click('[data-cy="ssb-btn"]')
        page.locator("#ssb-panel").wait_for(state="visible", timeout=WAIT_MS)
        _shot(page, "02-study-open.png")

        # 2. alice; N out of range said, not clamped; nodule n3: N candidates with fill and outline
        page.fill("#ssb-reader", "alice")
        page.locator("#ssb-reader").dispatch_event("change")
        assert "never seen" in page.locator("#ssb-reader-state").inner_text()
        for bad in ("0", "100"):
            page.fill("#ssb-count", bad)
            page.click("#ssb-click")
            assert page.evaluate(STATUS) == f'N must be a whole number from 1 to 32 (the server\'s max_candidates), got "{bad}".'
            assert not page.evaluate("() => window.ssbPanel.armed")
        page.fill("#ssb-count", str(N))
        a = _click_lesion(page, n3)
        cands = _candidates(a)
        rows = page.locator('#ssb-list [data-ssb^="candidate-"]')
        assert rows.count() == N == len(a["candidates"])
        for c in a["candidates"]:
            assert page.locator(f'[data-ssb="candidate-{c["index"]}"]').inner_text().strip() == c["name"]  # as in Slicer
        assert page.evaluate(VALUE_COUNTS, "ssb-consensus") == {"1": int((cands.mean(0) >= 0.5).sum())}
        top2 = [c["index"] for c in sorted(a["candidates"], key=lambda c: c["rank"])[:2]]
        for k in top2:
            page.locator(f'[data-ssb="candidate-{k}"] input[type=checkbox]').check()
        page.wait_for_function(SHOWN, arg=[f"ssb-candidate-{k}" for k in top2], timeout=WAIT_MS)
        for k in top2:  # each an OHIF segmentation holding exactly the server's voxels
            assert page.evaluate(VALUE_COUNTS, f"ssb-candidate-{k}") == {"1": int(cands[k].sum())}
        page.locator("#ssb-fill").fill(str(LOOK["fill"]))
        page.locator("#ssb-outline").fill(str(LOOK["outline"]))
        style = page.evaluate(STYLE, f"ssb-candidate-{top2[0]}")
        assert (style["renderFill"], style["fillAlpha"], style["renderOutline"], style["outlineWidth"]) == (True, LOOK["fill"], True, LOOK["outline"])
        page.hover(f'[data-ssb="candidate-{top2[1]}"]')  # the hovered candidate stands out
        hovered = page.evaluate(STYLE, f"ssb-candidate-{top2[1]}")
        assert hovered["outlineWidth"] == LOOK["outline"] + 2 and hovered["fillAlpha"] > LOOK["fill"]
        page.mouse.move(5, 500)
        assert page.evaluate(STYLE, f"ssb-candidate-{top2[1]}")["outlineWidth"] == LOOK["outline"]
        _shot(page, "03-candidates.png")
        _assert_docked(page)

        k1 = top2[1]  # lesion 1: the second most typical candidate, as sampled
        _pick(page, k1)
        assert page.evaluate(SAVE_TEXT) == f"Save candidate {k1} as alice (a new lesion)"
        first = _save(page)
        assert first["error"] is None and "edited" not in first["sent"], first
        assert [(x["lesion"], x["action"]) for x in first["saved"]["saved"]] == [(1, "added")] and first["saved"]["candidate"] == k1
        page.wait_for_function("() => document.querySelector('#ssb-reader-state').innerText.includes('pending')", timeout=WAIT_MS)
        page.wait_for_function("() => document.querySelector('[data-ssb-lesion=\"alice/1\"]')", timeout=WAIT_MS)

        # 3. nodule n2, double-clicked: no view maximised; the pick touched up with OHIF's brush, saved as edited
        b = _click_lesion(page, n2, double=True)
        assert page.evaluate("() => window.services.viewportGridService.getState().viewports.size") == 3
        assert "near your lesion" not in page.evaluate(STATUS).lower()
        k2 = min(b["candidates"], key=lambda c: c["rank"])["index"]
        _pick(page, k2)
        page.click('[data-ssb-tool="CircularBrush"]')
        page.wait_for_function(f"() => {ACTIVE_TOOL} === 'CircularBrush'", timeout=WAIT_MS)
        x, y = page.evaluate(GO_TO, n2)
        page.mouse.move(x, y)
        page.mouse.down()
        for dx in range(0, 64, 4):  # a stroke from the nodule's centre outwards: about 13 mm more lesion
            page.mouse.move(x + dx, y + dx / 3)
        page.mouse.up()
        page.click("#ssb-stop-edit")
        page.wait_for_function("() => document.querySelector('#ssb-save').innerText.includes('(edited)')", timeout=WAIT_MS)
        assert page.evaluate(f"() => {ACTIVE_TOOL}") == "WindowLevel"  # the reader's tool again
        browser_mask = page.evaluate(BROWSER_MASK, f"ssb-candidate-{k2}")
        _shot(page, "04-edited-with-the-brush.png")
        second = _save(page)
        assert second["error"] is None and second["sent"]["edited"] == browser_mask, second["error"]
        assert [(x["lesion"], x["action"]) for x in second["saved"]["saved"]] == [(2, "added")]
        page.wait_for_function("() => document.querySelector('[data-ssb-lesion=\"alice/2\"]')", timeout=WAIT_MS)
        assert f"candidate {k2}, edited by alice" in page.locator('[data-ssb-lesion="alice/2"]').inner_text()

        # 4. n3 again: near lesion 1; a candidate erased to nothing is refused in the server's words, nothing changes
        before = sitk.GetArrayFromImage(_label(s, tmp_path, "before.nii.gz"))
        _click_lesion(page, n3)
        assert "Near your lesion 1 saved at " in page.evaluate(STATUS)
        k3 = top2[0]
        _pick(page, k3)
        assert page.evaluate(SAVE_TEXT) == f"Save candidate {k3} as alice (replaces your lesion 1)"
        page.click('[data-ssb-tool="CircularEraser"]')
        page.evaluate("""(id) => {  // the eraser over every voxel of the pick
            const v = window.services.segmentationService.getLabelmapVolume(id), a = v.voxelManager.getCompleteScalarDataArray();
            a.fill(0);
            v.voxelManager.setCompleteScalarDataArray(a);
            window.cornerstone.triggerEvent(window.cornerstone.eventTarget,
                window.cornerstoneTools.Enums.Events.SEGMENTATION_DATA_MODIFIED, {segmentationId: id});
        }""", f"ssb-candidate-{k3}")
        page.click("#ssb-stop-edit")
        page.wait_for_function("() => document.querySelector('#ssb-save').innerText.includes('empty (0 voxels)')", timeout=WAIT_MS)
        refused = _save(page)
        assert refused["saved"] is None and refused["sent"]["edited"]["bits"] == ""
        assert page.evaluate(STATUS).startswith("Not saved: the mask is empty (0 voxels): nothing was saved.")
        _shot(page, "05-empty-refused.png")
        np.testing.assert_array_equal(sitk.GetArrayFromImage(_label(s, tmp_path, "after.nii.gz")), before)

        # 5. a reload: both lesions listed and drawn (white: alice's own)
        page.reload(timeout=WAIT_MS)
        page.wait_for_function(VOLUME_LOADED, timeout=WAIT_MS)
        page.locator("#ssb-panel").wait_for(state="visible", timeout=WAIT_MS)
        page.wait_for_function("() => window.ssbPanel.lesions.placed['ssb-saved-alice']", timeout=WAIT_MS)
        listed = {e.get_attribute("data-ssb-lesion"): e.inner_text() for e in page.locator("[data-ssb-lesion]").all()}
        assert sorted(listed) == ["alice/1", "alice/2"], listed
        assert listed["alice/1"].endswith(f" · candidate {k1}")
        assert f"candidate {k2}, edited by alice" in listed["alice/2"]
        drawn = page.evaluate(VALUE_COUNTS, "ssb-saved-alice")
        page.evaluate(GO_TO, n3)
        _shot(page, "06-after-reload-lesion-1.png")
        page.evaluate(GO_TO, n2)
        _shot(page, "07-after-reload-lesion-2.png")
        _assert_docked(page)

        # the datastore label: lesion 1 = candidate k1 as sampled, lesion 2 = the browser's edited labelmap, voxel for voxel
        alice = sitk.GetArrayFromImage(_label(s, tmp_path, "alice.nii.gz"))
        r = requests.post(f"{s.url}/infer/ssb", params={"image": s.series, "output": "image"}, timeout=300,
                          data={"params": json.dumps({"foreground_mm": first["sent"]["params"]["foreground_mm"], "num_candidates": N,
                                                      "candidate": k1, "result_extension": ".nii.gz"})})
        assert r.status_code == 200, r.text[:500]
        (tmp_path / "k1.nii.gz").write_bytes(r.content)
        candidate_k1 = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "k1.nii.gz"))) == 4
        edited = _mask(browser_mask, alice.shape)
        np.testing.assert_array_equal(alice == 1, candidate_k1)
        np.testing.assert_array_equal(alice == 2, edited)
        assert set(np.unique(alice)) == {0, 1, 2} and drawn == {"1": int(candidate_k1.sum()), "2": int(edited.sum())}
        assert int(candidate_k1.sum()) == int(cands[k1].sum())
        assert edited.sum() > int(_candidates(b)[k2].sum())  # the brush added to the candidate

        # the PACS: alice's SEG of her last save, one segment per lesion, alice its content creator
        (ds,) = s.pacs.retrieve_series(s.study, second["saved"]["seg_series"])
        assert str(ds.ContentCreatorName) == "alice" and ds.SeriesDescription == "SSB 2 lesions by alice"
        headers = [pydicom.Dataset(i) for i in s.pacs.retrieve_series(s.study, s.series)]
        from lib.dicom.seg_read import read_seg

        seg = read_seg(ds, [str(h.SOPInstanceUID) for h in headers])
        reference = sitk.ReadImage(str(tmp_path / "alice.nii.gz"))
        ks = [reference.TransformPhysicalPointToIndex([float(v) for v in h.ImagePositionPatient])[2] for h in headers]
        assert seg.labels == ["lesion 1 (alice)", "lesion 2 (alice)"]
        np.testing.assert_array_equal(seg.masks[0], (alice == 1)[ks])
        np.testing.assert_array_equal(seg.masks[1], (alice == 2)[ks])

        # Remove (an explicit action, confirmed): lesion 2 goes, lesion 1 stays
        page.once("dialog", lambda dialog: dialog.accept())
        page.click('[data-ssb-lesion="alice/2"] [data-ssb-remove]')
        page.wait_for_function("() => !document.querySelector('[data-ssb-lesion=\"alice/2\"]') && document.querySelector('[data-ssb-lesion=\"alice/1\"]')",
                               timeout=WAIT_MS)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(_label(s, tmp_path, "removed.nii.gz")), (alice == 1).astype(np.uint8))

        # OHIF's Basic Viewer (stacks of images): the panel says where it works instead of failing
        _open_study(page, s.url, s.study, mode="viewer")
        page.wait_for_function("() => document.querySelector('#ssb-status').innerText.includes('open the study in the MONAI Label mode')",
                               timeout=WAIT_MS)
        assert page.locator("#ssb-mode-link").get_attribute("href") == f"/ohif/monai-label?StudyInstanceUIDs={s.study}"
        _shot(page, "08-basic-viewer.png")


def test_a_click_on_a_nodule_of_a_whole_chest_ct_in_ohif(served, tmp_path):
    """The same panel on a whole CT (the first nodule of ../shared/data/lidc3d, 512 x 512 pixels, every slice), written
    as a DICOM series into the module's Orthanc: a click on the nodule in OHIF gives candidates on that nodule, drawn
    exactly where the server put them."""
    from ssb_core.evaluation.whole_scan import load_lidc3d

    from lib.dicom.series import write_series

    s = served
    case = load_lidc3d(shared_data("lidc3d", "manifest.json").parent)[0]
    ct = sitk.ReadImage(str(case.ct_path))
    artefacts = ARTEFACTS.parent / "ohif-whole-ct"
    shutil.rmtree(artefacts, ignore_errors=True)
    artefacts.mkdir(parents=True)
    files = write_series(ct, tmp_path / "series", modality="CT", description=f"whole CT {case.nodule_id}", window=(-600, 1500))
    for f in files:
        requests.post(f"{s.orthanc}/instances", data=f.read_bytes(), timeout=60).raise_for_status()
    world = list(ct.TransformContinuousIndexToPhysicalPoint([float(c) for c in case.click_ijk]))
    header = pydicom.dcmread(str(files[0]), stop_before_pixels=True)
    with chromium_page(tmp_path / "profile", artefacts / "console.log") as page:
        _open_study(page, s.url, header.StudyInstanceUID)
        page.fill("#ssb-count", str(N))
        result = _click_lesion(page, world)
        top = min(result["candidates"], key=lambda c: c["rank"])["index"]
        page.locator(f'[data-ssb="candidate-{top}"] input[type=checkbox]').check()
        page.wait_for_function(SHOWN, arg=[f"ssb-candidate-{top}"], timeout=WAIT_MS)
        counts = {k: page.evaluate(VALUE_COUNTS, f"ssb-{k}") for k in (f"candidate-{top}", "consensus")}
        _shot(page, "01-whole-ct-candidates.png", artefacts)
        # a click in the mediastinum (fat between the great vessels) of the same scan: the panel says there is no lesion
        fat = list(ct.TransformContinuousIndexToPhysicalPoint([250.0, 250.0, 90.0]))
        nothing = _click_lesion(page, fat)
        status = page.evaluate(STATUS)
        _shot(page, "02-whole-ct-mediastinum-no-lesion.png", artefacts)
    assert nothing["finding"]["lesion"] is False and "No lesion found here" in status, status
    assert not _candidates(nothing).any()
    # the click reached the server as the nodule's voxel, and OHIF holds the server's voxels
    np.testing.assert_allclose(result["click_ijk"][0], case.click_ijk, atol=0.6)
    cands = _candidates(result)
    assert counts[f"candidate-{top}"] == {"1": int(cands[top].sum())} and cands[top].sum() > 0
    assert counts["consensus"] == {"1": int((cands.mean(0) >= 0.5).sum())}
    assert result["image"]["size_ijk"] == list(ct.GetSize())  # the whole scan, not a crop
