"""The hospital path end to end: a real Orthanc PACS, the app served on its DICOMweb, DICOM SEG out and back in.

One Orthanc (``scripts/orthanc.sh``) and one app server (``--studies http://127.0.0.1:PORT/dicom-web``, tiny
checkpoint) for the module. The PACS holds pydicom's ``CT_small.dcm`` and an MR series written at test time from
``../shared/data/mr3d/brain1_image.nrrd`` (25 slices, a flipped y axis: a left-handed volume the DICOM series
stores with the opposite slice order, so geometry errors show). SEGs are read back with highdicom and pydicom.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nrrd
import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk
from dicomweb_client import DICOMwebClient
from pydicom.data import get_testdata_file

from tests.app._server import client_for, running_server, write_tiny_checkpoint
from tests.conftest import shared_data
from tests.hospital._orthanc import running_orthanc
from tests.hospital._series import write_mr_series

pytestmark = pytest.mark.slow

CLICK = [[128, 100, 12]]  # voxel (i, j, k) of the series volume: the tumour's slice, mid-volume


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pacs")
    with running_orthanc(root / "orthanc.log") as orthanc:
        orthanc.upload(Path(get_testdata_file("CT_small.dcm")))
        yield orthanc


@pytest.fixture(scope="module")
def mr(pacs, tmp_path_factory):
    volume = sitk.ReadImage(str(shared_data("mr3d", "brain1_image.nrrd")))
    files = write_mr_series(volume, tmp_path_factory.mktemp("mr") / "series")
    pacs.upload(*files)
    headers = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in files]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(files[0].parent)))
    return SimpleNamespace(volume=volume, series_volume=reader.Execute(), headers=headers,
                           uid=str(headers[0].SeriesInstanceUID), study=str(headers[0].StudyInstanceUID),
                           sops=[str(h.SOPInstanceUID) for h in headers])


@pytest.fixture(scope="module")
def server(pacs, tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_pacs_app")
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MONAI_LABEL_DICOMWEB_CACHE_PATH", str(root / "dicomweb-cache"))
        # the untrained tiny network draws the window's bright noise: the vote at the click would often answer "no
        # lesion" on this MR. These tests check the PACS path (SEG geometry, names, storing), so the candidates are
        # kept as sampled (the vote itself: tests/volume/test_presence_vote.py, tests/app/test_whole_scan.py)
        with running_server(pacs.dicomweb, model, root / "server.log", {"num_threads": 1, "presence": "as_sampled"}) as srv:
            yield srv


def _infer(server, uid: str, output: str, **params) -> requests.Response:
    r = requests.post(f"{server.url}/infer/ssb", params={"image": uid, "output": output},
                      data={"params": json.dumps({"foreground": CLICK, "label_info": [], **params})}, timeout=300)
    assert r.status_code == 200, r.text[:500]
    return r


def _on_instances(arr_zyx: np.ndarray, volume: sitk.Image, headers) -> np.ndarray:
    """``arr_zyx`` on ``volume``'s grid, re-ordered to the instances ``headers`` by their ImagePositionPatient."""
    ks = [volume.TransformPhysicalPointToIndex([float(v) for v in h.ImagePositionPatient])[2] for h in headers]
    return arr_zyx[ks]


def _geometry(img: sitk.Image) -> tuple:
    return img.GetSize(), np.round(img.GetSpacing(), 5).tolist(), np.round(img.GetOrigin(), 4).tolist(), np.round(img.GetDirection(), 6).tolist()


def test_orthanc_serves_the_written_series_with_its_geometry(pacs, mr):
    client = DICOMwebClient(pacs.dicomweb)
    found = {s["0020000E"]["Value"][0]: s for s in client.search_for_series()}
    assert mr.uid in found and len(found) == 2  # the MR series and CT_small
    instances = client.retrieve_series(mr.study, mr.uid)
    assert sorted(str(i.SOPInstanceUID) for i in instances) == sorted(mr.sops)
    # the series is the NRRD volume in physical space: resampling the NRRD onto it changes no voxel
    same = sitk.Resample(mr.volume, mr.series_volume, sitk.Transform(), sitk.sitkNearestNeighbor, -1)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(same), sitk.GetArrayFromImage(mr.series_volume))
    assert mr.series_volume.GetDirection()[8] == -1.0  # stored in the opposite slice order to the NRRD


def test_server_starts_offline_and_lists_the_pacs(server, pacs):
    log = server.log_text()
    assert "dcmqi is not needed" in log and "Downloading" not in log
    stats = requests.get(f"{server.url}/datastore/?output=stats", timeout=60).json()
    assert stats["total"] == 1  # QIDO with MONAI Label's default filter (Modality CT): CT_small, not the MR series


def test_infer_through_dicomweb_returns_a_dicom_seg_on_the_series(server, mr, tmp_path):
    labelmap = tmp_path / "agreement.nrrd"
    labelmap.write_bytes(_infer(server, mr.uid, "image", result_extension=".nrrd").content)
    img = sitk.ReadImage(str(labelmap))
    assert _geometry(img) == _geometry(mr.series_volume)
    arr = sitk.GetArrayFromImage(img)
    values = [int(v) for v in np.unique(arr) if v]
    assert values and set(values) <= {1, 2, 3}

    r = _infer(server, mr.uid, "dicom_seg")
    assert r.headers["content-type"] == "application/dicom"
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(r.content))
    assert ds.Modality == "SEG" and ds.StudyInstanceUID == mr.study and ds.FrameOfReferenceUID == mr.headers[0].FrameOfReferenceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == mr.uid
    positions = {tuple(float(v) for v in h.ImagePositionPatient) for h in mr.headers}
    for frame in ds.PerFrameFunctionalGroupsSequence:
        ipp = tuple(float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient)
        assert min(np.abs(np.subtract(ipp, p)).max() for p in positions) < 1e-3

    from lib.dicom.seg_read import read_seg

    seg = read_seg(r.content, mr.sops)
    names = {1: "some candidates", 2: "consensus", 3: "all candidates"}
    assert seg.labels == [names[v] for v in values]
    expected = _on_instances(arr, img, mr.headers)
    for s, v in enumerate(values):
        np.testing.assert_array_equal(seg.masks[s], expected == v)


@pytest.mark.parametrize("result_extension", [None, ".nrrd"])  # a labelmap NIfTI, or the one-layer .seg.nrrd Slicer asks for
def test_the_variability_map_and_a_chosen_candidate_as_a_seg_keep_their_names(server, mr, result_extension):
    """As a DICOM SEG, the variability levels and candidate k are named as the viewers name them (before: the
    agreement labels' names, "all candidates" for level 3)."""
    from lib.dicom.seg_read import read_seg

    ext = {"result_extension": result_extension} if result_extension else {}
    seg = read_seg(_infer(server, mr.uid, "dicom_seg", output_mode="variability", variability_levels=4, **ext).content, mr.sops)
    levels = ["variability <= 0.25", "variability <= 0.50", "variability <= 0.75", "variability <= 1.00"]
    assert seg.labels and set(seg.labels) <= set(levels) and seg.labels == sorted(seg.labels), seg.labels
    assert seg.content_label == "SSB_VARIABILITY" and all(m.any() for m in seg.masks)
    answer = _infer(server, mr.uid, "json", candidate=1, **ext).json()
    seg = read_seg(_infer(server, mr.uid, "dicom_seg", candidate=1, **ext).content, mr.sops)
    assert seg.labels == [answer["candidates"][1]["name"]]  # "candidate 1 (rank r, v mm3)"


def test_candidates_exported_as_one_seg_and_as_slicer_seg_nrrd(server, mr, tmp_path):
    from lib.dicom.seg_read import read_seg

    seg = read_seg(_infer(server, mr.uid, "dicom_seg", output_mode="segments").content, mr.sops)
    names = seg.labels  # "candidate 2 (rank 1, 412 mm3)": index, rank and volume
    assert [n.split(" (rank ")[0] for n in names] == ["candidate 0", "candidate 1", "candidate 2", "candidate 3", "consensus"]
    assert sorted(int(n.split("rank ")[1].split(",")[0]) for n in names[:4]) == [1, 2, 3, 4]
    assert seg.content_label == "SSB_CANDIDATES"
    np.testing.assert_array_equal(seg.masks[4], seg.masks[:4].sum(0) >= 2)  # consensus: at least half of 4

    # the same candidates through the Slicer plugin's client call, as a .seg.nrrd (layered, overlapping)
    client = client_for(server, tmp_path)
    out, res = client.infer("ssb", mr.uid, {"foreground": CLICK, "output_mode": "segments",
                                            "result_extension": ".seg.nrrd", "result_dtype": "uint8"})
    assert out.endswith(".seg.nrrd") and res["output"]["file_format"] == ".seg.nrrd"
    data, header = nrrd.read(out)
    size = mr.series_volume.GetSize()
    assert data.shape == (5, *size) and data.dtype == np.uint8 and header["kinds"] == ["list", "domain", "domain", "domain"]
    assert header["space"] == "left-posterior-superior" and header["Segmentation_MasterRepresentation"] == "Binary labelmap"
    ids = [header[f"Segment{i}_ID"] for i in range(5)]
    assert len(set(ids)) == 5 and [header[f"Segment{i}_Name"] for i in range(5)] == names
    for i in range(5):
        color = [float(c) for c in header[f"Segment{i}_Color"].split()]
        assert len(color) == 3 and all(0 <= c <= 1 for c in color)
        assert header[f"Segment{i}_Layer"] == str(i) and header[f"Segment{i}_LabelValue"] == "1"  # one layer each
        extent = [int(e) for e in header[f"Segment{i}_Extent"].split()]
        assert extent[0::2] == [0, 0, 0] and extent[1::2] == [n - 1 for n in size]
        assert set(np.unique(data[i])) <= {0, 1}
    assert (data[:4].sum(0) > 1).any()  # candidates overlap: only the layered layout can hold them
    direction = np.array(mr.series_volume.GetDirection()).reshape(3, 3) * np.array(mr.series_volume.GetSpacing())[None]
    np.testing.assert_allclose(header["space directions"][1:], direction.T, atol=1e-6)
    np.testing.assert_allclose(header["space origin"], mr.series_volume.GetOrigin(), atol=1e-4)
    # same seed, same candidates: the SEG's segments are the .seg.nrrd's layers, slice by slice in space
    layers = data.transpose(0, 3, 2, 1)  # (C, Z, Y, X)
    for i in range(5):
        np.testing.assert_array_equal(seg.masks[i], _on_instances(layers[i], mr.series_volume, mr.headers) > 0)


def test_reader_accepts_a_candidate_stored_back_to_the_pacs_as_seg(server, pacs, mr, tmp_path):
    chosen = tmp_path / "chosen.nrrd"
    chosen.write_bytes(_infer(server, mr.uid, "image", candidate=2, result_extension=".nrrd").content)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(chosen))) > 0
    assert mask.any()
    with open(chosen, "rb") as f:
        r = requests.put(f"{server.url}/datastore/label", params={"image": mr.uid, "tag": "alice"},
                         files={"label": ("chosen.nrrd", f)},
                         data={"params": json.dumps({"candidate": 2, "seed": 0, "model": "tiny"})}, timeout=120)
    assert r.status_code == 200, r.text[:500]

    client = DICOMwebClient(pacs.dicomweb)
    (ds,) = client.retrieve_series(mr.study, r.json()["seg_series"])
    assert str(ds.ContentCreatorName) == "alice" and ds.StudyInstanceUID == mr.study
    assert ds.SeriesDescription == "SSB 1 lesion by alice" and ds.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert ds.ContentDescription == "lesion 1: candidate 2"

    from lib.dicom.seg_read import read_seg

    seg = read_seg(ds, mr.sops)
    assert seg.creator == "alice" and seg.referenced_series == mr.uid and seg.labels == ["lesion 1 (alice)"]
    assert seg.descriptions == ["candidate 2 (seed 0, model tiny)"]
    np.testing.assert_array_equal(seg.masks[0], _on_instances(mask, mr.series_volume, mr.headers))
    # and the reader's label is in the app's datastore under the reader's own tag
    assert requests.get(f"{server.url}/datastore/label", params={"label": mr.uid, "tag": "alice"}, timeout=60).status_code == 200


def test_single_slice_ct_through_dicomweb(server):
    from lib.dicom.seg_read import read_seg

    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    r = _infer(server, str(ct.SeriesInstanceUID), "dicom_seg", foreground=[[64, 64, 0]])
    seg = read_seg(r.content, [str(ct.SOPInstanceUID)])
    assert seg.masks.shape[1:] == (1, ct.Rows, ct.Columns) and seg.referenced_series == ct.SeriesInstanceUID


def test_slicer_pick_submitted_untagged_is_stored_as_the_readers_seg(server, pacs, mr, tmp_path):
    """The 3D Slicer path with the plugin's own client and its "Client ID" set to alice: the candidates as a
    .seg.nrrd (segment names with rank and size), candidate k kept and submitted with the plugin's Submit (no tag,
    so MONAI Label says ``final``): alice's SEG in the PACS holds candidate k, ContentCreatorName alice."""
    from monailabel.client import MONAILabelClient

    from lib.dicom.seg_read import read_seg

    alice = MONAILabelClient(server.url, tmpdir=str(tmp_path), client_id="alice")
    out, res = alice.infer("ssb", mr.uid, {"foreground": CLICK, "output_mode": "segments", "seed": 3,
                                           "result_extension": ".nrrd", "result_dtype": "uint8"})
    data, header = nrrd.read(out)
    k = next(c["index"] for c in res["candidates"] if c["rank"] == 1)
    assert header[f"Segment{k}_Name"].startswith(f"candidate {k} (rank 1, ")
    kept = data[k].transpose(2, 1, 0)  # (Z, Y, X): the one segment the reader kept
    label = sitk.GetImageFromArray(kept.astype(np.uint8))
    label.CopyInformation(mr.series_volume)
    sitk.WriteImage(label, str(tmp_path / "kept.nrrd"))
    answer = alice.save_label(mr.uid, str(tmp_path / "kept.nrrd"), params={"label_info": [{"name": header[f"Segment{k}_Name"], "idx": 1}]})
    assert answer["reader"] == "alice", answer

    client = DICOMwebClient(pacs.dicomweb)
    (ds,) = client.retrieve_series(mr.study, answer["seg_series"])
    seg = read_seg(ds, mr.sops)
    assert seg.creator == "alice" and str(ds.ContentCreatorName) == "alice"
    np.testing.assert_array_equal(seg.masks[0], _on_instances(kept > 0, mr.series_volume, mr.headers))


def test_a_day_of_lesions_on_the_pacs_slicer_default_id_every_format(server, pacs, mr, tmp_path):
    """3D Slicer's Submit Label with the plugin's default Client ID and no tag (stored as ``final``), in NIfTI, NRRD
    and ``.seg.nrrd``: each save is one lesion (two separate lesions, then the first replaced), the PACS SEG of the
    reader holds one segment per lesion, every later infer on the series answers 200, and the label can be deleted."""
    from monailabel.client import MONAILabelClient

    from lib.dicom.seg_read import read_seg
    from lib.imageio import write_seg_nrrd

    slicer = MONAILabelClient(server.url, tmpdir=str(tmp_path), client_id="user-xyz")  # the plugin's default
    shape = sitk.GetArrayFromImage(mr.series_volume).shape
    first, second = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    first[10:14, 80:100, 110:130] = 1
    second[10:14, 150:170, 60:80] = 1
    grown = np.zeros(shape, np.uint8)
    grown[9:15, 78:102, 108:132] = 1

    def as_file(arr: np.ndarray, name: str) -> str:
        img = sitk.GetImageFromArray(arr)
        img.CopyInformation(mr.series_volume)
        sitk.WriteImage(img, str(tmp_path / name))
        return str(tmp_path / name)

    seg_nrrd = str(write_seg_nrrd(grown[None], ["Segment_1"], [(0.5, 0.5, 0.5)], _loaded(mr.series_volume),
                                  tmp_path / "grown.seg.nrrd"))  # as Slicer's Segment Editor saves one segment
    answers = []
    for path in (as_file(first, "first.nii.gz"), as_file(second, "second.nrrd"), seg_nrrd):
        answers.append(slicer.save_label(mr.uid, path, tag=""))
        assert _infer(server, mr.uid, "json").status_code == 200  # the series still answers, after every kind of save
    assert [a["reader"] for a in answers] == ["final"] * 3
    assert [(a["saved"][0]["lesion"], a["saved"][0]["action"]) for a in answers] == [(1, "added"), (2, "added"), (1, "replaced")]

    (ds,) = DICOMwebClient(pacs.dicomweb).retrieve_series(mr.study, answers[-1]["seg_series"])
    seg = read_seg(ds, mr.sops)
    assert seg.labels == ["lesion 1 (final)", "lesion 2 (final)"] and ds.SeriesDescription == "SSB 2 lesions by final"
    np.testing.assert_array_equal(seg.masks[0], _on_instances(grown > 0, mr.series_volume, mr.headers))
    np.testing.assert_array_equal(seg.masks[1], _on_instances(second > 0, mr.series_volume, mr.headers))

    lesions = requests.get(f"{server.url}/ssb/lesions", params={"image": mr.uid}, timeout=120).json()["lesions"]
    assert [(x["reader"], x["lesion"]) for x in lesions if x["reader"] == "final"] == [("final", 1), ("final", 2)]
    r = requests.delete(f"{server.url}/datastore/label", params={"id": mr.uid, "tag": "final"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert _infer(server, mr.uid, "json").status_code == 200


def _loaded(volume: sitk.Image):
    from lib.imageio import LoadedImage

    return LoadedImage(sitk.GetArrayFromImage(volume), volume, tuple(volume.GetSpacing()))
