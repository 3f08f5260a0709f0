"""The PACS path as safe as the folder path: the viewer's DICOMweb queries, unknown series, Next Sample per reader.

One real Orthanc holding two patients (pydicom's ``CT_small.dcm``, patient ``1CT1``, and the same instance rewritten
as patient ``SSB0002`` with its own UIDs), and one real app server on it whose datastore lists patient 1CT1's CT only
(``MONAI_LABEL_DICOMWEB_SEARCH_FILTER``): the PACS's only study for Next Sample, while the viewer's proxy sees the
whole PACS. Driven with plain HTTP (what OHIF sends) and ``MONAILabelClient`` (the 3D Slicer plugin's client).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import SimpleITK as sitk
from dicomweb_client import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.app._server import SlicerReaders, blob
from tests.hospital._orthanc import running_app_on, running_orthanc
from tests.hospital._series import as_other_patient

from lib.dicom.pacs_series import check_uid  # the app's lib: on sys.path through tests/hospital/conftest.py
from lib.dicom.proxy import forwarded
from lib.errors import bad_request

CT = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
UNKNOWN = generate_uid(entropy_srcs=["a series no PACS holds"])


# --- the rules ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, path, query, expected", [
    ("qido", "studies", "PatientID=1CT1&limit=2", ("qido", "studies?PatientID=1CT1&limit=2")),
    ("qido", "studies", "", ("qido", "studies")),
    ("wado", "studies/1.2/series/3.4", "includefield=00080060", ("wado", "studies/1.2/series/3.4?includefield=00080060")),
    ("qido", "studies/1.2/series/3.4/metadata", "includefield=all", ("wado", "studies/1.2/series/3.4/metadata?includefield=all")),
    ("qido", "studies", "PatientName=Smith%5EJo%2A&fuzzymatching=true", ("qido", "studies?PatientName=Smith%5EJo%2A&fuzzymatching=true")),
])
def test_the_query_is_forwarded_as_sent(op, path, query, expected):
    assert forwarded(op, path, query) == expected


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2", "1.2.840.0113", "1" * 64])
def test_uids_are_accepted(uid):
    assert check_uid("image id", uid) == uid


@pytest.mark.parametrize("bad", ["", "case_0001", "../1.2.3", "1.2.3 ", "1" * 65, None])
def test_what_cannot_be_a_uid_is_400_naming_it(bad):
    with pytest.raises(type(bad_request(""))) as err:
        check_uid("image id", bad)
    assert err.value.status_code == 400 and repr(bad) in err.value.detail


# --- the real PACS and server -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pacs_requests")
    with running_orthanc(root / "orthanc.log") as orthanc:
        first = Path(get_testdata_file("CT_small.dcm"))
        orthanc.upload(first, *as_other_patient([first], root / "patient2", "SSB0002"))
        yield orthanc


@pytest.fixture(scope="module")
def other(pacs):
    """Patient SSB0002's study and series, as the PACS has them."""
    (series,) = DICOMwebClient(pacs.dicomweb).search_for_series(search_filters={"PatientID": "SSB0002"})
    return pydicom.Dataset.from_json(series)


@pytest.fixture(scope="module")
def server(pacs, tmp_path_factory):
    only_ct_small = {"MONAI_LABEL_DICOMWEB_SEARCH_FILTER": json.dumps({"Modality": "CT", "PatientID": "1CT1"})}
    with running_app_on(pacs, tmp_path_factory.mktemp("ssb_pacs_requests"), only_ct_small, {"scoring_nfe": 1}) as srv:
        yield srv


def _objects(server) -> dict:
    r = requests.get(f"{server.url}/datastore/?output=all", timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r.json()["objects"]


@pytest.mark.slow
def test_qido_and_wado_through_the_server_answer_what_orthanc_answers(server, pacs, other):
    """Filters, paging, includefield and fuzzy matching reach the PACS (before: every patient for any query)."""
    study, series = str(other.StudyInstanceUID), str(other.SeriesInstanceUID)
    asks = [
        ("qido", "studies", {"PatientID": "1CT1"}),
        ("qido", "studies", {"PatientID": "SSB0002"}),
        ("qido", "studies", {"StudyInstanceUID": study}),
        ("qido", "studies", {"limit": "1"}),
        ("qido", "studies", {"limit": "1", "offset": "1"}),
        ("qido", "studies", {"PatientName": "compressed*", "fuzzymatching": "true"}),
        ("qido", "studies", {"PatientID": "1CT1", "includefield": "00081030"}),
        ("qido", f"studies/{study}/series", {"Modality": "CT", "includefield": "0020000E"}),
        ("wado", "studies", {"PatientID": "SSB0002"}),
        ("wado", f"studies/{study}/series/{series}/metadata", {}),
    ]
    answers = {}
    for op, path, query in asks:
        ours = requests.get(f"{server.url}/proxy/dicom/{op}/{path}", params=query, timeout=60)
        theirs = requests.get(f"{pacs.dicomweb}/{path}", params=query, timeout=60)
        assert ours.status_code == theirs.status_code == 200, (op, path, query, ours.text[:300])
        assert ours.json() == theirs.json(), (op, path, query)
        answers[(op, path, json.dumps(query))] = ours.json()
    def studies(**query: str) -> list[dict]:
        return answers[("qido", "studies", json.dumps(query))]

    assert [s["00100020"]["Value"] for s in studies(PatientID="1CT1")] == [["1CT1"]]  # one patient, not both
    assert len(studies(limit="1")) == 1 and studies(limit="1") != studies(limit="1", offset="1")


@pytest.mark.slow
@pytest.mark.parametrize("image, status", [(UNKNOWN, 404), ("not-a-series", 400)])
def test_an_unknown_series_is_a_4xx_naming_it_and_nothing_is_written(server, pacs, tmp_path, image, status):
    segs_before = DICOMwebClient(pacs.dicomweb).search_for_series(search_filters={"Modality": "SEG"})
    mask = sitk.GetImageFromArray(blob((1, 128, 128), (0, 64, 64), 8.0).astype(np.uint8))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    answers = {
        "infer": requests.post(f"{server.url}/infer/ssb", params={"image": image, "output": "json"},
                               data={"params": json.dumps({"foreground": [[64, 64, 0]]})}, timeout=120),
        "save": requests.put(f"{server.url}/datastore/label", params={"image": image, "tag": "alice"},
                             files={"label": ("mask.nii.gz", (tmp_path / "mask.nii.gz").read_bytes())}, timeout=120),
        "slicer save": requests.put(f"{server.url}/datastore/label", params={"image": image},
                                    files={"label": ("mask.nii.gz", (tmp_path / "mask.nii.gz").read_bytes())},
                                    data={"params": json.dumps({"client_id": "alice"})}, timeout=120),
        "download": requests.get(f"{server.url}/datastore/image", params={"image": image}, timeout=120),
    }
    for what, r in answers.items():
        assert r.status_code == status and image in r.json()["detail"], (what, r.status_code, r.text[:500])
    assert not [p for p in server.cache.rglob("*") if image in p.name]  # no cache entry, no label file
    assert image not in _objects(server)
    assert DICOMwebClient(pacs.dicomweb).search_for_series(search_filters={"Modality": "SEG"}) == segs_before
    assert "IndexError" not in server.log_text()


@pytest.mark.slow
def test_next_sample_follows_the_reader_on_the_pacs(server, tmp_path):
    """After alice saved a label on the PACS's only study, bob is still served that series by every strategy, alice is
    told nothing is left, and an unknown reader (the plugin's placeholder id) keeps today's "nobody labelled" rule."""
    uid = str(CT.SeriesInstanceUID)
    assert list(_objects(server)) == [uid]  # listed before anything is fetched (before: no objects)
    readers = SlicerReaders(server, tmp_path)
    assert {"disagreement", "random"} <= set(readers.strategies)
    assert readers.served("alice") == readers.served("bob") == readers.served("user-xyz") == readers.every(uid)

    image = tmp_path / "image.nii.gz"
    image.write_bytes(requests.get(f"{server.url}/datastore/image", params={"image": uid}, timeout=120).content)
    mask = sitk.GetImageFromArray(blob((1, 128, 128), (0, 64, 64), 8.0).astype(np.uint8))
    mask.CopyInformation(sitk.ReadImage(str(image)))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    readers.client("alice").save_label(uid, str(tmp_path / "mask.nii.gz"))  # the plugin's Submit Label: no tag
    assert "alice" in _objects(server)[uid]["labels"]

    assert readers.served("bob") == readers.every(uid)
    assert readers.served(None, {"reader": "bob"}) == readers.every(uid)
    assert readers.served("alice") == readers.every(None)  # {}: nothing left for alice
    assert readers.served("user-xyz") == readers.every(None)
