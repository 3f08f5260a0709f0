"""The MONAI Label app end to end: /info/, infer in every output mode, geometry, readers, bad requests.

One real server for the module (tiny checkpoint, small images, 4 candidates at NFE 2), driven through
``monailabel.client.MONAILabelClient`` (the Slicer plugin's client) and plain HTTP (what OHIF sends).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nrrd
import numpy as np
import pytest
import requests
import SimpleITK as sitk

from tests.app._server import blob, client_for, free_port, running_server, write_tiny_checkpoint, write_volume
from tests.conftest import SHARED_DATA, shared_data

pytestmark = pytest.mark.slow

BRAIN = SHARED_DATA / "mr3d" / "brain1_image.nrrd"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_app")
    studies = root / "studies"
    studies.mkdir()
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    rng = np.random.default_rng(0)
    vol = 100.0 * blob((12, 48, 48), (6, 24, 24), 6.0, (3.0, 0.9, 0.9)) + rng.normal(0, 5, (12, 48, 48))
    write_volume(studies / "blob3d.nii.gz", vol.astype(np.float32), spacing_xyz=(0.9, 0.9, 3.0), origin=(5.0, -3.0, 12.0))
    img2d = 100.0 * blob((1, 40, 40), (0, 20, 20), 6.0)[0] + rng.normal(0, 5, (40, 40))
    write_volume(studies / "blob2d.nii.gz", img2d.astype(np.float32), spacing_xyz=(0.8, 0.8), origin=(3.0, -2.0))
    if BRAIN.exists():
        shutil.copy(BRAIN, studies / "brain1.nrrd")  # at test time, into the tmp studies folder only
    conf = {"num_threads": 1, "cors_origins": "http://viewer.example"}
    with running_server(studies, model, root / "server.log", conf) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return client_for(server, tmp_path_factory.mktemp("client"))


def _geometry(img: sitk.Image) -> tuple:
    return img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection()


def test_info_lists_model_labels_and_params(client):
    info = client.info()
    model = info["models"]["ssb"]
    assert model["type"] == "segmentation"
    assert model["labels"] == {"some candidates": 1, "consensus": 2, "all candidates": 3, "chosen candidate": 4}
    assert info["labels"][:3] == ["some candidates", "consensus", "all candidates"]
    cfg = model["config"]
    assert (cfg["num_candidates"], cfg["nfe"], cfg["guidance_weight"], cfg["seed"], cfg["candidate"]) == (4, 2, -1.0, 0, -1)  # guidance -1: the reader's own
    assert cfg["output_mode"] == ["agreement", "segments", "variability"] and cfg["presence"] == ["vote", "as_sampled"]
    assert cfg["reader"][:4] == ["all", "none", "reader0 (trained)", "reader1 (trained)"]
    ssb = info["ssb"]["ssb"]
    assert ssb["conventions"]["roi_size"] == [32, 32] and ssb["reader_map"]["null_label"] == 2


def test_outputs_keep_the_anisotropic_volume_geometry(client, server, tmp_path):
    shared_data("mr3d", "brain1_image.nrrd")
    ref = sitk.ReadImage(str(server.studies / "brain1.nrrd"))
    # as sampled: the untrained tiny network's noise on this MR often loses the vote at the click (the geometry is
    # what is checked here)
    click = {"foreground": [[128, 100, 12]], "result_extension": ".nrrd", "result_dtype": "uint8", "presence": "as_sampled"}
    expected = {"agreement": {0, 1, 2, 3}, "variability": set(range(11)), "candidate": {0, 4}}  # read as NRRD
    results = {}
    for mode, extra in (("agreement", {}), ("variability", {"output_mode": "variability"}), ("candidate", {"candidate": 2})):
        out, res = client.infer("ssb", "brain1", {**click, **extra})
        img = sitk.ReadImage(out, imageIO="NrrdImageIO")
        assert _geometry(img) == _geometry(ref), mode
        arr = sitk.GetArrayFromImage(img)
        assert arr.dtype == np.uint8 and set(np.unique(arr)) <= expected[mode] and arr.any(), mode
        results[mode] = res
    res = results["agreement"]
    roi = res["roi"]
    assert roi["source"] == "foreground" and roi["slices"][0] <= 12 <= roi["slices"][1]  # grown from the clicked slice
    assert roi["num_slices"] == roi["slices"][1] - roi["slices"][0] + 1 and set(roi["stopped"]) == {"below", "above"}
    assert [(c["index"], c["seed"]) for c in res["candidates"]] == [(0, 0), (1, 0), (2, 0), (3, 0)] and sorted(res["ranking"]) == [0, 1, 2, 3]
    assert all(c["volume_mm3"] >= 0 and 0 <= c["dice_to_consensus"] <= 1 for c in res["candidates"])
    assert res["ddi_gen"] is not None and res["timings"]["total_s"] > 0
    assert results["candidate"]["candidates"] == res["candidates"]  # same seed, same candidates

    # the Slicer .seg.nrrd: every candidate and the consensus as overlapping segments, same geometry
    out, res = client.infer("ssb", "brain1", {**click, "output_mode": "segments"})
    assert out.endswith(".seg.nrrd")
    data, header = nrrd.read(out)
    assert data.shape == (5, *ref.GetSize()) and data[:, :, :, : roi["slices"][0]].sum() == 0 and header["kinds"][0] == "list"
    names = [header[f"Segment{i}_Name"] for i in range(5)]
    for k, c in enumerate(res["candidates"]):  # index, rank and volume in each segment's name
        size = c["volume_mm3"]
        shown = f"{size / 1000:.2f} ml" if size >= 1000 else f"{size:.0f} mm3"
        assert names[k] == f"candidate {k} (rank {c['rank']}, {shown})"
    assert names[4] == "consensus"
    colours = [[round(255 * float(v)) for v in header[f"Segment{i}_Color"].split()] for i in range(5)]
    assert colours[:4] == [c["colour"] for c in res["candidates"]]  # what the OHIF panel draws them in too
    assert len({tuple(c) for c in colours}) == 5 and colours[4] == [255, 255, 0]  # each its own colour, the consensus yellow
    direction = np.array(ref.GetDirection()).reshape(3, 3) * np.array(ref.GetSpacing())[None]
    np.testing.assert_allclose(header["space directions"][1:], direction.T, atol=1e-9)
    np.testing.assert_allclose(header["space origin"], ref.GetOrigin(), atol=1e-9)

    # the infer task samples and answers: nothing written to the datastore (no variability map, no label)
    assert 0.0 <= res["variability"]["max"] <= 1.0 and res["variability"]["num_candidates"] == 4
    labels = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["blob3d"]["labels"]
    assert not [t for t in labels if t.startswith("ssb_")], labels


def test_plain_http_2d_image_as_ohif_asks(server):
    r = requests.post(f"{server.url}/infer/ssb?image=blob2d&output=image", files={"params": (None, "{}")}, timeout=60)
    assert r.status_code == 200
    out = server.studies.parent / "ohif.nii.gz"
    out.write_bytes(r.content)
    img, ref = sitk.ReadImage(str(out)), sitk.ReadImage(str(server.studies / "blob2d.nii.gz"))
    assert img.GetDimension() == 2 and _geometry(img) == _geometry(ref)
    arr = sitk.GetArrayFromImage(img)
    lesion = blob((1, 40, 40), (0, 20, 20), 6.0)[0]
    assert set(np.unique(arr)) <= {0, 1, 2, 3} and (arr[lesion] >= 2).mean() > 0.9  # the bright disc is the consensus

    params = {"params": (None, json.dumps({"foreground": [20, 20]}))}
    r = requests.post(f"{server.url}/infer/ssb?image=blob2d&output=json", files=params, timeout=60)
    res = r.json()
    assert res["image"]["is_2d"] and "area_mm2" in res["candidates"][0] and res["roi"]["num_slices"] == 1


def test_roi_box_from_slicer_centres_the_window_and_picks_the_slices(client):
    # Slicer sends the ROI node as a flat [i0, i1, j0, j1, k0, k1] in voxel indices
    _, res = client.infer("ssb", "blob3d", {"roi": [14, 34, 12, 36, 4, 8], "guidance_weight": 1.5, "reader": "reader1"})
    roi = res["roi"]
    assert roi["source"] == "roi" and roi["slices"] == [4, 8] and roi["centre_ijk"] == [24.0, 24.0, 6.0]
    assert (roi["nx"], roi["ny"]) == (36, 36)  # 32 model pixels of 1 mm = 35.6 voxels of 0.9 mm
    assert res["params"]["guidance_weight"] == 1.5 and {c["reader"] for c in res["candidates"]} == {"reader1"}
    assert res["consensus_volume_mm3"] > 0


def test_dicom_series_folder(client, server, tmp_path):
    """A DICOM series given as a folder path (pydicom's bundled CT slice): read, segmented, nothing saved."""
    from pydicom.data import get_testdata_file

    series = tmp_path / "ct_series"
    series.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), series / "1.dcm")
    before = _snapshot(server.studies)
    out, res = client.infer("ssb", str(series), {"result_extension": ".nrrd", "foreground": [[64, 64, 0]]})
    img, ref = sitk.ReadImage(out, imageIO="NrrdImageIO"), sitk.ReadImage(str(series / "1.dcm"))
    assert img.GetSize() == ref.GetSize()
    assert np.allclose(img.GetSpacing(), ref.GetSpacing()) and np.allclose(img.GetOrigin(), ref.GetOrigin())
    assert res["image"]["id"] is None and res["variability"]["num_candidates"] == 4
    assert _snapshot(server.studies) == before


def _snapshot(studies: Path) -> dict:
    return {str(p.relative_to(studies)): p.read_bytes() for p in sorted(studies.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("query, params, status, words", [
    ("image=nothere", {}, 404, "unknown image"),
    ("image=blob3d", {"foreground": [[200, 10, 3]]}, 400, "outside the image"),
    ("image=blob3d", {"foreground": [[10, 10, 30]]}, 400, "outside the image"),
    ("image=blob3d", {"num_candidates": "many"}, 400, "num_candidates"),
    ("image=blob3d", {"nfe": 0}, 400, "nfe"),
    ("image=blob3d", {"candidate": 7}, 400, "candidate"),
    ("image=blob3d", {"reader": "nobody"}, 400, "'nobody' has never been seen"),
    ("image=blob3d", {"output_mode": "rainbow"}, 400, "output_mode"),
    ("image=blob3d", {"roi": [1, 2, 3]}, 400, "roi"),
])
def test_bad_requests_get_4xx_json_and_write_nothing(server, query, params, status, words):
    before = _snapshot(server.studies)
    r = requests.post(f"{server.url}/infer/ssb?{query}&output=json", files={"params": (None, json.dumps(params))}, timeout=60)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert _snapshot(server.studies) == before


def test_unknown_model_and_strategy_are_404(server):
    r = requests.post(f"{server.url}/infer/nomodel?image=blob3d&output=json", timeout=30)
    assert r.status_code == 404 and "unknown model" in r.json()["detail"]
    r = requests.post(f"{server.url}/activelearning/nostrategy", json={}, timeout=30)
    assert r.status_code == 404 and "unknown active-learning strategy" in r.json()["detail"]


def test_two_readers_submit_labels(client, server, tmp_path):
    ref = sitk.ReadImage(str(server.studies / "blob3d.nii.gz"))
    for reader, radius in (("alice", 6.0), ("bob", 7.5)):
        mask = blob((12, 48, 48), (6, 24, 24), radius, (3.0, 0.9, 0.9)).astype(np.uint8)
        lab = sitk.GetImageFromArray(mask)
        lab.CopyInformation(ref)
        sitk.WriteImage(lab, str(tmp_path / f"{reader}.nii.gz"))
        answer = client.save_label("blob3d", str(tmp_path / f"{reader}.nii.gz"), tag=reader)
        assert answer["reader"] == reader and answer["new_readers"] == [reader]
    tags = client.datastore()["objects"]["blob3d"]["labels"]
    assert {"alice", "bob"} <= set(tags)
    registry = json.loads(server.model.with_name("tiny.readers.json").read_text())
    assert registry["readers"] == {"reader0": 0, "reader1": 1} and set(registry["pending"]) == {"alice", "bob"}
    info = client.info()
    assert info["models"]["ssb"]["config"]["reader"][2:] == ["reader0 (trained)", "reader1 (trained)", "alice (pending)", "bob (pending)"]
    assert info["ssb"]["ssb"]["reader_map"]["status"] == {"reader0": "trained", "reader1": "trained", "alice": "pending",
                                                                       "bob": "pending"}
    # the viewers' "Annotated": images with any reader's label (MONAI Label counts only the tag "final")
    objects = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]
    labelled = [i for i, o in objects.items() if any(not t.startswith("ssb_") and t != "original" for t in o["labels"])]
    stats = requests.get(f"{server.url}/datastore/?output=stats", timeout=30).json()
    assert "blob3d" in labelled and stats["completed"] == len(labelled) < stats["total"]
    _, res = client.infer("ssb", "blob3d", {"reader": "alice (pending)", "foreground": [[24, 24, 6]]})  # as the dropdown sends it
    assert "is pending" in res["reader_style"] and res["ddi_gen_reference"].startswith("2 reader label")


def test_model_loaded_once(server):
    assert server.log_text().count("loaded in") == 1


def test_missing_model_is_a_clear_startup_error(tmp_path):
    missing = tmp_path / "no_such_model.pt"
    cmd = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(Path(__file__).parents[2] / "apps" / "ssb"),
           "--studies", str(tmp_path / "studies"), "--conf", "model_path", str(missing), "--host", "127.0.0.1", "--port", str(free_port())]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"model file not found: {missing}" in proc.stdout + proc.stderr


def _ids(out: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(out, imageIO="NrrdImageIO"))


def test_views_of_one_lesion_reuse_one_sampled_set_and_a_pick_is_saved_under_the_readers_name(server, tmp_path):
    """The Slicer path (MONAILabelClient, the plugin's client, with its "Client ID" set): segments, agreement,
    variability and candidate k of one click come from one sampling; the pick is then saved as alice's lesion by the
    viewer's Submit (untagged, ``final``), and as carol's by the OHIF panel's route (``POST /ssb/lesions``, no upload),
    and the server holds candidate k voxel for voxel."""
    from monailabel.client import MONAILabelClient

    alice = MONAILabelClient(server.url, tmpdir=str(tmp_path), client_id="alice")
    click = {"foreground": [[24, 24, 6]], "seed": 5, "result_extension": ".nrrd", "result_dtype": "uint8"}  # as Slicer asks
    seg_file, seg = alice.infer("ssb", "blob3d", {**click, "output_mode": "segments"})
    assert seg["cache"]["hit"] is False and seg_file.endswith(".seg.nrrd")
    channels, _ = nrrd.read(seg_file)  # (5, X, Y, Z): 4 candidates and the consensus
    views = {}
    for name, extra in (("agreement", {}), ("variability", {"output_mode": "variability"}), ("candidate", {"candidate": 2})):
        views[name] = alice.infer("ssb", "blob3d", {**click, **extra})
        assert views[name][1]["cache"] == {**views[name][1]["cache"], "hit": True, "context": seg["cache"]["context"]}
        assert views[name][1]["candidates"] == seg["candidates"]
    var_file, var = views["variability"]
    assert var_file.endswith(".seg.nrrd")  # a labelmap whose levels Slicer shows with the colour scale
    _, header = nrrd.read(var_file)
    colours = [header[f"Segment{i}_Color"] for i in range(10)]
    assert header["Segment0_Name"] == "variability <= 0.10" and header["Segment9_LabelValue"] == "10"
    assert len(set(colours)) == 10 and colours[0] != colours[9]
    # the same with the plugin's result format set to .seg.nrrd (as the README says for candidates): colour scale kept
    seg_var, _ = alice.infer("ssb", "blob3d", {**click, "output_mode": "variability", "result_extension": ".seg.nrrd"})
    _, seg_header = nrrd.read(seg_var)
    assert seg_var.endswith(".seg.nrrd") and [seg_header[f"Segment{i}_Color"] for i in range(10)] == colours
    picked = _ids(views["candidate"][0])
    assert set(np.unique(picked)) <= {0, 4} and ((picked == 4) == channels[2].transpose(2, 1, 0).astype(bool)).all()

    # the viewer's Submit: no tag, so MONAI Label says "final"; the plugin's Client ID names the reader
    answer = alice.save_label("blob3d", views["candidate"][0], params={"label_info": [{"name": "chosen candidate", "idx": 4}]})
    assert answer["reader"] == "alice", answer
    (saved,) = answer["saved"]  # one lesion (added, or replacing alice's lesion of an earlier test at the same place)
    assert saved["lesion"] == 1 and saved["voxels"] == int((picked == 4).sum()) and answer["lesions"] == [1]
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(server.studies / "labels" / "alice" / "blob3d.nii.gz")))
    assert (stored.astype(bool) == (picked == 4)).all() and set(np.unique(stored)) == {0, 1}
    labels = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["blob3d"]["labels"]
    assert "final" not in labels
    assert labels["alice"]["info"]["lesions"][0]["source"] == "candidate 2"  # traced to the set on screen, not edited
    # touched up in the Segment Editor (a few voxels added), then submitted: recorded as that candidate, edited
    edited = sitk.ReadImage(views["candidate"][0])
    arr = sitk.GetArrayFromImage(edited)
    z, y, x = (int(v.mean()) for v in np.nonzero(arr == 4))
    arr[z, y - 1 : y + 2, :] = np.where(arr[z, y - 1 : y + 2, :] == 4, 4, 0)
    arr[z, y, x : x + 40] = 4
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(edited)
    sitk.WriteImage(out, str(tmp_path / "edited.nrrd"))
    dave = MONAILabelClient(server.url, tmpdir=str(tmp_path), client_id="dave")
    dave.save_label("blob3d", str(tmp_path / "edited.nrrd"))
    labels = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["blob3d"]["labels"]
    assert labels["dave"]["info"]["lesions"][0]["source"] == "candidate 2, edited by dave"
    # what 3D Slicer shows of the lesions saved on the image: model ssb_lesions, one segment per saved lesion
    saved_file, saved = alice.infer("ssb_lesions", "blob3d", {})
    _, saved_header = nrrd.read(saved_file)
    assert saved_header["Segment0_Name"].startswith("alice: lesion 1 (candidate 2; ")
    assert any(saved_header[f"Segment{i}_Name"].startswith("dave: lesion 1 (candidate 2, edited by dave; ")
               for i in range(len(saved["lesions"])))

    # the panel's pick: saved by the label service from the same sampled set, no upload
    r = requests.post(f"{server.url}/ssb/lesions", params={"image": "blob3d"}, timeout=120,
                      json={"reader": "carol", "params": {**click, "output_mode": "segments"}, "candidate": 2})
    res = r.json()
    assert r.status_code == 200 and res["same_set"] is True and res["reader"] == "carol" and res["candidate"] == 2, r.text
    labels = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["blob3d"]["labels"]
    r = requests.get(f"{server.url}/datastore/label", params={"label": "blob3d", "tag": "carol"}, timeout=30)
    (tmp_path / "carol.nii.gz").write_bytes(r.content)
    carol = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "carol.nii.gz")))
    assert labels["carol"]["info"]["lesions"][0]["candidate"] == 2 and (carol.astype(bool) == (picked == 4)).all()


def test_each_save_answer_names_its_own_reader(server, tmp_path):
    """Two readers saving the same image within one second: each answer names the reader of that request."""
    ref = sitk.ReadImage(str(server.studies / "blob3d.nii.gz"))
    lab = sitk.GetImageFromArray(blob((12, 48, 48), (6, 24, 24), 6.0, (3.0, 0.9, 0.9)).astype(np.uint8))
    lab.CopyInformation(ref)
    sitk.WriteImage(lab, str(tmp_path / "l.nii.gz"))
    for order in (("Dr. Müller", "carol"), ("carol", "Dr. Müller")):
        for reader in order:
            r = requests.put(f"{server.url}/datastore/label", params={"image": "blob3d", "tag": reader},
                             files={"label": ("l.nii.gz", (tmp_path / "l.nii.gz").read_bytes())}, timeout=60)
            assert r.status_code == 200 and r.json()["reader"] == reader, r.text


def test_cors_allows_the_configured_viewer_origin_only(server):
    ok = requests.get(f"{server.url}/info/", headers={"Origin": "http://viewer.example"}, timeout=30)
    assert ok.headers.get("access-control-allow-origin") == "http://viewer.example"
    other = requests.get(f"{server.url}/info/", headers={"Origin": "http://attacker.example"}, timeout=30)
    assert "access-control-allow-origin" not in other.headers


def test_ohif_pages_get_the_ssb_panel_and_the_servers_own_url(server):
    """The OHIF pages the server serves carry the SSB panel's script; the MONAI Label panel's server URL cookie is
    set to the page's own origin unless the browser has one; the panel's files are served, nothing else is."""
    page = requests.get(f"{server.url}/ohif/", timeout=30)
    assert page.status_code == 200 and '<script src="/ssb/viewer/ssb-panel.js" defer></script>' in page.text
    assert "ssb-signin.js" not in page.text  # sign-in off: no login page
    assert int(page.headers["content-length"]) == len(page.content)
    assert page.cookies.get("MONAILABEL_SERVER_URL") is not None
    assert requests.utils.unquote(page.cookies["MONAILABEL_SERVER_URL"]) == f"{server.url}/"
    again = requests.get(f"{server.url}/ohif/viewer", cookies={"MONAILABEL_SERVER_URL": "http%3A%2F%2Fother%3A8000%2F"}, timeout=30)
    assert "set-cookie" not in again.headers and "ssb-panel.js" in again.text  # the reader's own choice is kept
    assert requests.head(f"{server.url}/ohif/", timeout=30).status_code in (200, 405)
    js = requests.get(f"{server.url}/ssb/viewer/ssb-panel.js", timeout=30)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "window.ssbPanel" in js.text
    assert requests.get(f"{server.url}/ssb/viewer/..%2Fmain.py", timeout=30).status_code == 404
    assert requests.get(f"{server.url}/ssb/viewer/nothing.js", timeout=30).status_code == 404


def test_batch_infer_passes_monai_labels_own_keys(server):
    """MONAI Label's batch infer adds its own keys (images, device, _id ...) to each request: not refused as unknown."""
    r = requests.post(f"{server.url}/batch/infer/ssb?run_sync=true", json={"images": ["blob2d"], "max_workers": 1}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    assert "original" in requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["blob2d"]["labels"]
