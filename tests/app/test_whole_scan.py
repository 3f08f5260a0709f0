"""A click on a real nodule in a whole chest CT, through the real server with `make serve`'s settings.

The studies folder holds the two whole LIDC-IDRI CTs of ``../shared/data/lidc3d/full`` (512x512, 133 and 140
slices of 2.5 mm); the server runs the shipped model with ``sample-apps/ssb-local/server.conf``. The client is
the Slicer plugin's (``MONAILabelClient``); the result is the ``.seg.nrrd`` with every candidate as its own
segment, scored in 3D against the four radiologists' masks of each nodule.
"""

from __future__ import annotations

import json
import shutil

import nrrd
import numpy as np
import pytest
from scipy import ndimage

from benchmarks.server_latency import server_conf
from ssb_core.evaluation.whole_scan import load_lidc3d, read_volume
from ssb_core.metrics import image_metrics
from ssb_core.volume.lesion import CONNECTIVITY
from tests.app._server import REPO_ROOT, client_for, running_server
from tests.conftest import shared_data

pytestmark = pytest.mark.slow

CONF = REPO_ROOT / "sample-apps" / "ssb-local" / "server.conf"
MODEL = REPO_ROOT / "models" / "ssb_lidc64.pt"
#: LIDC-IDRI-0001, slice 90: a point in the right lung's parenchyma (5x5 mean -927 HU, no vessel), a rib inside
#: the chest wall (888 HU), and a rib whose cross-section bulges into the lung (882 HU): a bright oval on the
#: pleura, the look of a juxtapleural nodule
EMPTY_LUNG_IJK = [110, 230, 90]
RIB_IN_WALL_IJK = [382, 359, 90]
RIB_ON_PLEURA_IJK = [90, 263, 90]


def _conf() -> dict[str, str]:
    """`make serve`'s settings (the model is given separately), with both cores."""
    conf = {k: v for k, v in server_conf(CONF).items() if k != "model_path"}
    return {**conf, "num_threads": "2"}


@pytest.fixture(scope="module")
def lidc3d():
    return shared_data("lidc3d")


@pytest.fixture(scope="module")
def server(lidc3d, tmp_path_factory):
    root = tmp_path_factory.mktemp("whole_scan")
    studies = root / "studies"
    studies.mkdir()
    for patient in ("LIDC-IDRI-0001", "LIDC-IDRI-0003"):
        shutil.copy(lidc3d / "full" / patient / "ct.nii.gz", studies / f"{patient}.nii.gz")  # a copy, in tmp only
    with running_server(studies, MODEL, root / "server.log", _conf()) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return client_for(server, tmp_path_factory.mktemp("client"))


def _candidates(client, image: str, click: list[int]) -> tuple[np.ndarray, dict]:
    """(N, Z, Y, X) bool candidates of one click (the consensus segment dropped) and the result JSON."""
    out, res = client.infer("ssb", image, {"foreground": [click], "output_mode": "segments"})
    data, header = nrrd.read(out)  # (N + 1, X, Y, Z)
    names = [header[f"Segment{i}_Name"] for i in range(data.shape[0])]
    assert names[-1].startswith("consensus")  # "consensus: no lesion found here" on no lesion
    return np.transpose(data[:-1] > 0, (0, 3, 2, 1)), res


def test_a_click_on_each_nodule_gives_its_candidates_in_3d(client, lidc3d):
    d_max, report = [], []
    for case in load_lidc3d(lidc3d):
        readers = np.stack([read_volume(p)[0] > 0 for p in case.reader_paths])
        cands, res = _candidates(client, case.ct_path.parent.name, list(case.click_ijk))
        assert res["roi"]["source"] == "foreground"
        assert res["roi"]["stopped"] == {"below": "lesion ended", "above": "lesion ended"}  # every candidate ended
        k_readers = np.nonzero(readers.any(axis=(0, 2, 3)))[0]
        lo, hi = res["roi"]["slices"]
        assert lo <= k_readers.min() + 2 and hi >= k_readers.max() - 2  # followed through the nodule's slices
        assert hi - lo + 1 <= len(k_readers) + 16  # ... and at most 20 mm past them on each side
        i, j, k = case.click_ijk
        for n, cand in enumerate(cands):
            if not cand.any():
                continue
            labels, count = ndimage.label(cand, structure=CONNECTIVITY)
            assert count == 1, f"{case.nodule_id} candidate {n}: {count} separate parts"
            zz, yy, xx = np.nonzero(cand)
            assert np.min((zz - k) ** 2 * 6.25 + ((yy - j) ** 2 + (xx - i) ** 2) * 0.7**2) <= 3.5**2  # reaches the click
        drawn = readers.any(axis=0) | cands.any(axis=0)
        box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(drawn))
        m = image_metrics(cands[(slice(None), *box)], readers[(slice(None), *box)])
        d_max.append(m.d_max)
        report.append({"nodule": case.nodule_id, "d_max": round(m.d_max, 3), "ged": round(m.ged, 3),
                       "slices": [lo, hi], "seconds": res["timings"]["total_s"]})
    print(json.dumps(report))
    assert np.mean(d_max) >= 0.7, report
    assert min(d_max) >= 0.5, report


RIB_ON_PLEURA = pytest.param(RIB_ON_PLEURA_IJK, id="rib on the pleura", marks=pytest.mark.xfail(
    strict=True, reason="known limitation of the shipped model: most candidates draw this rib, followed down the "
                        "chest wall; see README, 'A click on a real nodule'"))


@pytest.mark.parametrize("click", [pytest.param(EMPTY_LUNG_IJK, id="empty lung"),
                                   pytest.param(RIB_IN_WALL_IJK, id="rib in the chest wall"), RIB_ON_PLEURA])
def test_a_click_on_no_lesion_draws_little_or_nothing(client, click):
    cands, res = _candidates(client, "LIDC-IDRI-0001", click)
    per_candidate_mm3 = cands.reshape(cands.shape[0], -1).sum(axis=1) * 0.703125**2 * 2.5
    # a 5 mm nodule is 65 mm^3: more than that in at most a quarter of the candidates, and nothing that half of them
    # agree on. (The growth follows any candidate that continues, so one stray candidate may lengthen it: on empty
    # lung 1-2 of 8 candidates draw a 0.2-0.8 ml blob, depending on the seed.)
    assert (per_candidate_mm3 > 65).sum() <= cands.shape[0] // 4, per_candidate_mm3
    assert not (cands.sum(axis=0) >= cands.shape[0] / 2).any(), "half of the candidates agree on a lesion here"
