"""Next Sample per reader (``lib.activelearning.per_reader``): each reader gets the next image THEY have not labelled.

Fast tests of the rules on MONAI Label's own ``LocalDatastore`` (labels laid out in a studies folder), and one real
server on a local studies folder driven with ``MONAILabelClient`` as the 3D Slicer plugin calls it (its Client ID in
every request, Submit Label without a tag). The same on a DICOMweb PACS: ``tests/hospital/test_pacs_requests.py``.
"""

from __future__ import annotations

import contextvars
import sys
from pathlib import Path

import numpy as np
import pytest
from monailabel.datastore.local import LocalDatastore
from monailabel.tasks.activelearning.first import First

from tests.app._server import APP_DIR, SlicerReaders, blob, running_server, write_tiny_checkpoint, write_volume

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.activelearning.disagreement import RandomUnlabelled  # noqa: E402
from lib.activelearning.per_reader import PerReader, ReaderView, request_reader, unread_images  # noqa: E402
from lib.identity.claims import Identity  # noqa: E402
from lib.identity.context import bind  # noqa: E402

SHAPE = (6, 32, 32)


def _image(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    vol = 100.0 * blob(SHAPE, (3, 16, 16), 5.0) + rng.normal(0, 5, SHAPE)
    return write_volume(path, vol.astype(np.float32))


def _label(path: Path) -> Path:
    return write_volume(path, blob(SHAPE, (3, 16, 16), 4.0).astype(np.uint8))


# --- the rules ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params, reader", [
    ({"client_id": "alice"}, "alice"),
    ({"client_id": " alice "}, "alice"),
    ({"reader": "bob", "client_id": "alice"}, "bob"),  # as for a save: reader before the client id
    ({"client_id": "user-xyz"}, None),  # the Slicer plugin's placeholder: unknown
    ({"client_id": ""}, None),
    ({"strategy": "random"}, None),
    ({"client_id": "final"}, None),  # what a save without a known reader is stored under
])
def test_the_reader_of_a_request(params, reader):
    assert request_reader({"strategy": "random", **params}) == reader


def test_the_signed_in_user_is_the_reader_whatever_the_params():
    def ask():
        bind(Identity("carol", frozenset(), is_reader=True, is_admin=False))
        return request_reader({"client_id": "alice", "reader": "bob"})

    assert contextvars.copy_context().run(ask) == "carol"


@pytest.fixture
def folder(tmp_path) -> LocalDatastore:
    """Images a, b, c; alice labelled a, bob labelled b; c holds only the app's own map (not a reader's label)."""
    for i, name in enumerate("abc"):
        _image(tmp_path / f"{name}.nii.gz", i)
    for tag, name in (("alice", "a"), ("bob", "b"), ("ssb_variability", "c"), ("original", "c")):
        (tmp_path / "labels" / tag).mkdir(parents=True, exist_ok=True)
        _label(tmp_path / "labels" / tag / f"{name}.nii.gz")
    return LocalDatastore(str(tmp_path), auto_reload=False)


def test_unread_images_are_those_without_the_readers_own_label(folder):
    assert unread_images(folder, "alice") == ["b", "c"]
    assert unread_images(folder, "bob") == ["a", "c"]
    assert unread_images(folder, "carol") == ["a", "b", "c"]  # a new reader reads everything
    assert unread_images(folder, None) == ["c"]  # unknown reader: what nobody labelled (as before)


def test_every_strategy_is_run_on_the_readers_view(folder):
    """The wrapper the app puts around every strategy: the app's own, and MONAI Label's stock ``first`` (which asks
    the datastore for ``get_unlabeled_images``)."""
    first = PerReader(First())
    assert first({"strategy": "first", "client_id": "alice"}, folder) == {"id": "b"}
    assert first({"strategy": "first", "client_id": "bob"}, folder) == {"id": "a"}
    assert first({"strategy": "first"}, folder) == {"id": "c"}
    assert {PerReader(RandomUnlabelled())({"client_id": "alice"}, folder)["id"] for _ in range(20)} <= {"b", "c"}
    view = ReaderView(folder, "alice")
    assert view.get_labeled_images() == ["a"] and view.get_unlabeled_images() == ["b", "c"]
    assert view.get_image_uri("a") == folder.get_image_uri("a")  # everything else is the datastore's own


def test_nothing_left_for_the_reader_is_none(folder):
    _label(Path(folder._datastore_path) / "labels" / "alice" / "b.nii.gz")
    _label(Path(folder._datastore_path) / "labels" / "alice" / "c.nii.gz")
    folder.refresh()
    assert PerReader(First())({"strategy": "first", "client_id": "alice"}, folder) is None
    assert PerReader(First())({"strategy": "first", "client_id": "bob"}, folder) == {"id": "a"}


# --- the real server, a local studies folder ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssb_next_sample")
    studies = root / "studies"
    studies.mkdir()
    for i, name in enumerate(("case_a", "case_b")):
        _image(studies / f"{name}.nii.gz", i)
    model = write_tiny_checkpoint(root / "models" / "tiny.pt")
    with running_server(studies, model, root / "server.log", {"num_threads": 1, "scoring_nfe": 1}) as srv:
        yield srv


@pytest.mark.slow
def test_next_sample_per_reader_with_every_strategy_in_a_folder(server, tmp_path):
    """Readers as the Slicer plugin names them (Client ID): each gets what they have not labelled, whoever else did."""
    label = str(_label(tmp_path / "mask.nii.gz"))
    readers = SlicerReaders(server, tmp_path)
    assert {"disagreement", "random"} <= set(readers.strategies)

    readers.client("alice").save_label("case_a", label)  # Submit Label: no tag, stored under the Client ID
    assert readers.served("alice") == readers.every("case_b")
    readers.client("bob").save_label("case_b", label)
    assert readers.served("bob") == readers.every("case_a")  # alice's label on case_a does not count for bob
    assert readers.served("alice") == readers.every("case_b")  # nor bob's for alice
    assert readers.served(None, {"reader": "bob"}) == readers.every("case_a")
    assert readers.served("user-xyz") == readers.every(None)  # unknown reader: both images have someone's label
    readers.client("alice").save_label("case_b", label)
    assert readers.served("alice") == readers.every(None)  # nothing left: {} (the plugin says so)
    assert readers.served("bob") == readers.every("case_a")
