"""Bad input against the real server: each request gets a 4xx JSON error saying what was wrong, nothing is written.

One server for the module (tiny checkpoint, one 3D image, ``--conf max_upload_mb 0.2``). Every case snapshots
the whole test folder (studies, labels, datastore index, the model's reader registry) before and after, and a
good image and a good label are accepted, so the checks are shown to refuse only what is wrong.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nrrd
import numpy as np
import pytest
import requests
import SimpleITK as sitk
from urllib3 import encode_multipart_formdata

from tests.app._server import blob, running_server, write_tiny_checkpoint, write_volume

pytestmark = pytest.mark.slow

SHAPE = (6, 24, 24)  # (Z, Y, X)
SPACING_XYZ, ORIGIN = (0.8, 0.8, 2.5), (3.0, -4.0, 10.0)


def _image() -> np.ndarray:
    return (100.0 * blob(SHAPE, (3, 12, 12), 4.0)).astype(np.float32)


def _files(folder: Path) -> dict[str, Path]:
    """Every bad file of the table, plus a good image and a good label."""
    f, vol = folder, _image()
    good = write_volume(f / "good.nii.gz", vol, SPACING_XYZ, ORIGIN)
    gz = good.read_bytes()
    (f / "truncated.nii.gz").write_bytes(gz[: len(gz) // 2])
    raw = gzip.decompress(gz)
    (f / "truncated.nii").write_bytes(raw[: len(raw) - 200])
    (f / "empty.nii.gz").write_bytes(b"")
    (f / "garbage.nii.gz").write_bytes(b"this is not an image" * 10)
    nrrd.write(str(f / "good.nrrd"), vol.transpose(2, 1, 0), {"encoding": "raw"})
    data = (f / "good.nrrd").read_bytes()
    (f / "truncated.nrrd").write_bytes(data[: len(data) - 500])
    from pydicom.data import get_testdata_file

    dicom = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (f / "truncated.dcm").write_bytes(dicom[:-100])
    nan, inf = vol.copy(), vol.copy()
    nan[3, 12, 12], inf[2, 5, 5] = np.nan, np.inf
    write_volume(f / "nan.nii.gz", nan, SPACING_XYZ, ORIGIN)
    write_volume(f / "inf.nii.gz", inf, SPACING_XYZ, ORIGIN)
    sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(vol)] * 2), str(f / "four_d.nii.gz"))
    write_volume(f / "one_pixel.nii.gz", np.ones((1, 1, 1), np.float32))
    mask = blob(SHAPE, (3, 12, 12), 4.0).astype(np.uint8)
    write_volume(f / "label_good.nii.gz", mask, SPACING_XYZ, ORIGIN)
    ring = blob(SHAPE, (3, 12, 12), 6.0).astype(np.uint8)
    write_volume(f / "label_values.nii.gz", mask + ring, SPACING_XYZ, ORIGIN)  # 0, 1, 2: an agreement-like map
    write_volume(f / "label_negative.nii.gz", -mask.astype(np.int16), SPACING_XYZ, ORIGIN)
    write_volume(f / "label_accepted_candidate.nii.gz", mask * 4, SPACING_XYZ, ORIGIN)  # candidate=k comes as label 4
    write_volume(f / "label_float.nii.gz", vol, SPACING_XYZ, ORIGIN)
    write_volume(f / "label_shape.nii.gz", mask[:, :20], SPACING_XYZ, ORIGIN)
    write_volume(f / "label_spacing.nii.gz", mask, (1.0, 1.0, 2.5), ORIGIN)
    write_volume(f / "label_origin.nii.gz", mask, SPACING_XYZ, (0.0, 0.0, 0.0))
    write_volume(f / "label_255.nii.gz", mask * 255, SPACING_XYZ, ORIGIN)  # an image-style 0/255 mask
    rng = np.random.default_rng(0)  # a colour picture (a holiday photo): sky above, sand below, noise
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[:20] = (70, 130, 220)
    photo[20:] = (230, 200, 140)
    photo = np.clip(photo + rng.integers(-10, 10, photo.shape), 0, 255).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(photo, isVector=True), str(f / "photo.png"))
    grey = np.repeat((np.arange(40 * 60).reshape(40, 60) % 200).astype(np.uint8)[..., None], 3, axis=2)
    sitk.WriteImage(sitk.GetImageFromArray(grey, isVector=True), str(f / "grey_as_rgb.png"))
    return {p.name: p for p in f.iterdir()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_bad_input")
    studies = root / "studies"
    studies.mkdir()
    write_volume(studies / "img.nii.gz", _image(), SPACING_XYZ, ORIGIN)
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    with running_server(studies, model, root / "server.log", {"num_threads": 1, "max_upload_mb": 0.2}) as srv:
        yield srv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("bad_files"))


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (".lock", "server.log")}


def _refused(server, send, status: int, words: str) -> None:
    root = server.studies.parent
    before = _snapshot(root)
    r = send()
    assert r.status_code == status, r.text
    assert words in r.json()["detail"], r.json()
    assert _snapshot(root) == before


IMAGE_CASES = [
    ("truncated.nii.gz", "truncated or corrupt gzip"),
    ("truncated.nii", "is truncated"),
    ("truncated.nrrd", "not a complete NRRD"),
    ("truncated.dcm", "as an image: sitk::ERROR: Unable to determine ImageIO reader"),
    ("empty.nii.gz", "is empty"),
    ("garbage.nii.gz", "corrupt"),
    ("nan.nii.gz", "NaN/Inf"),
    ("inf.nii.gz", "NaN/Inf"),
    ("four_d.nii.gz", "expected a 2D or 3D image, got 4D"),
    ("one_pixel.nii.gz", "at least 4 voxels"),
    ("photo.png", "is a colour image"),
]


@pytest.mark.parametrize("name, words", IMAGE_CASES)
def test_bad_images_are_refused_by_infer_and_upload(server, files, name, words):
    upload = {"file": (name, files[name].read_bytes())}
    _refused(server, lambda: requests.post(f"{server.url}/infer/ssb?output=json", files={**upload, "params": (None, "{}")},
                                           timeout=60), 400, words)
    _refused(server, lambda: requests.put(f"{server.url}/datastore/image?image=new", files=upload, timeout=60), 400, words)


@pytest.mark.parametrize("name, words", [
    ("label_values.nii.gz", "label values 1 and 2 touch each other"),
    ("label_negative.nii.gz", "got negative values"),
    ("label_float.nii.gz", "must be an integer labelmap"),
    ("label_shape.nii.gz", "size [24, 24, 6]"),
    ("label_spacing.nii.gz", "on the image's voxel grid"),
    ("label_origin.nii.gz", "origin [3.0, -4.0, 10.0]"),
    ("truncated.nii.gz", "truncated or corrupt gzip"),
    ("empty.nii.gz", "is empty"),
])
def test_bad_labels_are_refused(server, files, name, words):
    upload = {"label": (name, files[name].read_bytes())}
    _refused(server, lambda: requests.put(f"{server.url}/datastore/label?image=img&tag=alice", files=upload, timeout=60),
             400, words)


@pytest.mark.parametrize("query, status, words", [
    ("image=img&tag=../../escape", 400, "label tag must not contain a path separator"),
    ("image=img&tag=/tmp/escape", 400, "label tag must not contain a path separator"),
    ("image=img&tag=..", 400, "must not start with '.'"),
    ("image=img&tag=al%00ice", 400, "NUL byte"),
    ("image=../studies/img&tag=alice", 400, "image id must not contain a path separator"),
    ("image=nothere&tag=alice", 404, "unknown image 'nothere'"),
    ("image=img&tag=ssb_variability", 400, "label tag 'ssb_variability' is reserved"),
])
def test_label_names_with_path_tricks_are_refused(server, files, query, status, words):
    upload = {"label": ("l.nii.gz", files["label_good.nii.gz"].read_bytes())}
    _refused(server, lambda: requests.put(f"{server.url}/datastore/label?{query}", files=upload, timeout=60), status, words)


@pytest.mark.parametrize("image_id, words", [("../escape", "path separator"), ("/tmp/escape", "path separator"),
                                             (".hidden", "must not start with '.'"), ("img", "already in the datastore")])
def test_image_ids_with_path_tricks_or_taken_are_refused(server, files, image_id, words):
    upload = {"file": ("good.nii.gz", files["good.nii.gz"].read_bytes())}
    status = 409 if image_id == "img" else 400
    _refused(server, lambda: requests.put(f"{server.url}/datastore/image", params={"image": image_id}, files=upload,
                                          timeout=60), status, words)


@pytest.mark.parametrize("path, params, status, words", [
    ("/infer/ssb?image=img&output=json", {"foreground": [[30, 3, 2]]}, 400, "outside the image"),
    ("/infer/ssb?image=img&output=json", {"roi": [[30, 40], [30, 40], [0, 5]]}, 400, "lies outside the image"),
    ("/infer/ssb?image=img&output=json", {"num_candidates": 1000}, 400, "num_candidates must be an integer in [1, 32]"),
    ("/infer/ssb?image=img&output=json", {"nfe": 10**9}, 400, "nfe must be an integer"),
    ("/infer/ssb?image=img&output=json", {"guidance_weight": "inf"}, 400, "guidance_weight must be a number"),
    ("/infer/ssb?image=img&output=json", {"guidance_weight": -0.5}, 400, "guidance_weight must be a number"),
    ("/infer/ssb?image=img&output=json", {"reader": "mallory"}, 400, "reader must be one of"),
    ("/infer/ssb?image=img&output=json", {"num_candiates": 8}, 400,
     "unknown parameter(s) ['num_candiates']; the parameters of this model are ['candidate', 'guidance_weight', 'nfe', 'num_candidates'"),
    ("/infer/ssb?image=img&output=json", {"save_as": "alice", "candidate": 0}, 400, "no longer an infer parameter"),
    ("/infer/ssb?image=img&output=json", "{not json", 400, "not valid JSON"),
    ("/infer/ssb?image=im%00g&output=json", {}, 400, "NUL byte"),
    ("/infer/nomodel?image=img&output=json", {}, 404, "unknown model 'nomodel'"),
    ("/train/nomodel", None, 404, "unknown train task 'nomodel'"),
    ("/train/ssb", {"steps": -5}, 400, "invalid training setting(s) {'steps': -5}"),
    ("/train/ssb", {"stpes": 5}, 400, "unknown train parameter(s) ['stpes']; the parameters of this trainer are ['steps'"),
    ("/train/ssb", {"lr": "fast"}, 400, "train parameter lr must be float, got 'fast'"),
    ("/train/ssb", [1, 2], 400, "the train request body must be a JSON object"),
    ("/scoring/nomethod", None, 404, "unknown scoring task 'nomethod'"),
    ("/activelearning/nostrategy", None, 404, "unknown active-learning strategy"),
])
def test_bad_requests_are_refused(server, path, params, status, words):
    if params is None or path.startswith("/train/"):  # a JSON body
        send = lambda: requests.post(f"{server.url}{path}", json=params or {}, timeout=60)  # noqa: E731
    else:
        text = params if isinstance(params, str) else json.dumps(params)
        send = lambda: requests.post(f"{server.url}{path}", files={"params": (None, text)}, timeout=60)  # noqa: E731
    _refused(server, send, status, words)


def test_oversized_uploads_are_refused_before_reading(server):
    big = {"label": ("big.nii.gz", b"\0" * 300_000)}  # 0.29 MB > --conf max_upload_mb 0.2
    _refused(server, lambda: requests.put(f"{server.url}/datastore/label?image=img&tag=alice", files=big, timeout=60),
             413, "over the server's limit of 209715 bytes (--conf max_upload_mb)")

    body, content_type = encode_multipart_formdata({"label": ("big.nii.gz", b"\0" * 300_000)})

    def chunked():  # no Content-Length: the guard counts the body as it arrives
        yield from (body[i:i + 50_000] for i in range(0, len(body), 50_000))
    _refused(server, lambda: requests.put(f"{server.url}/datastore/label?image=img&tag=alice", data=chunked(),
                                          headers={"Content-Type": content_type}, timeout=60), 413, "limit")


@pytest.mark.parametrize("method", ["put", "delete"])
def test_the_served_model_is_not_replaced_over_http(server, method):
    upload = {"file": ("m.pt", b"not a model")} if method == "put" else None
    _refused(server, lambda: requests.request(method, f"{server.url}/model/ssb", files=upload, timeout=30), 405,
             "the served model is not replaced or deleted over HTTP")


def test_good_image_and_label_are_accepted(server, files):
    """The control: the same endpoints take a well-formed upload (so the refusals above are about the input)."""
    r = requests.post(f"{server.url}/infer/ssb?output=json", files={"file": ("g.png", files["grey_as_rgb.png"].read_bytes()),
                                                                     "params": (None, "{}")}, timeout=60)
    assert r.status_code == 200, r.text  # a grey picture stored as RGB is not a colour photo
    r = requests.put(f"{server.url}/datastore/image?image=fresh", files={"file": ("g.nii.gz", files["good.nii.gz"].read_bytes())},
                     timeout=60)
    assert r.status_code == 200, r.text
    r = requests.put(f"{server.url}/datastore/label?image=fresh&tag=alice",
                     files={"label": ("l.nii.gz", files["label_good.nii.gz"].read_bytes())}, timeout=60)
    assert r.status_code == 200, r.text
    saved = sitk.ReadImage(str(server.studies / "labels" / "alice" / "fresh.nii.gz"))
    assert sitk.GetArrayFromImage(saved).sum() == blob(SHAPE, (3, 12, 12), 4.0).sum()
    r = requests.put(f"{server.url}/datastore/label?image=fresh&tag=bob",  # an accepted candidate (label 4)
                     files={"label": ("l.nii.gz", files["label_accepted_candidate.nii.gz"].read_bytes())}, timeout=60)
    assert r.status_code == 200, r.text
    labels = requests.get(f"{server.url}/datastore/?output=all", timeout=30).json()["objects"]["fresh"]["labels"]
    assert {"alice", "bob"} <= set(labels)


def test_other_web_origins_cannot_read_or_write_by_default(server):
    """MONAI Label lets any origin in with credentials; here only pages the server serves itself may call it."""
    evil = "http://attacker.example"
    r = requests.get(f"{server.url}/datastore/?output=all", headers={"Origin": evil}, timeout=30)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    preflight = requests.options(f"{server.url}/datastore/label?image=img&tag=alice", timeout=30, headers={
        "Origin": evil, "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
