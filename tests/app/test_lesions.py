"""Lesions as the unit of a reader's work: the rules of a save (``lib.labels.lesion_map``) and the one label service
every save goes through (``lib.labels.service``), on the app's real local datastore in a temporary folder (fast:
no server). The same paths through the real server and the viewers' clients: ``test_lesion_saves.py``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import SimpleITK as sitk

from tests.app._server import APP_DIR, blob, write_volume

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.labels.lesion_map import Lesion, LesionRefused, lesions_of_labelmap, merge, remove  # noqa: E402

SHAPE = (10, 40, 40)


def _ball(centre, radius=4.0):
    return blob(SHAPE, centre, radius)


# --- the rules ---------------------------------------------------------------------------------------------------
def test_a_second_lesion_is_added_and_the_first_kept():
    a, b = _ball((5, 10, 10)), _ball((5, 30, 30))
    lab, recs, first = merge(None, [], a, {"source": "candidate 1"})
    lab, recs, second = merge(lab, recs, b, {"source": "candidate 4"})
    assert (first.lesion, first.action, second.lesion, second.action) == (1, "added", 2, "added")
    assert ((lab == 1) == a).all() and ((lab == 2) == b).all()
    assert [r.source for r in recs] == ["candidate 1", "candidate 4"]


def test_a_mask_over_a_saved_lesion_replaces_it_and_keeps_its_id():
    a, b = _ball((5, 10, 10)), _ball((5, 30, 30))
    lab, recs, _ = merge(None, [], a, {})
    lab, recs, _ = merge(lab, recs, b, {})
    bigger = _ball((5, 11, 10), 5.5)
    lab, recs, saved = merge(lab, recs, bigger, {"source": "candidate 2, edited by alice", "edited": True})
    assert (saved.lesion, saved.action, saved.replaced_voxels) == (1, "replaced", int(a.sum()))
    assert ((lab == 1) == bigger).all() and ((lab == 2) == b).all()
    assert recs[0].edited and recs[0].voxels == int(bigger.sum())


def test_nothing_is_overwritten_by_nothing():
    lab, recs, _ = merge(None, [], _ball((5, 10, 10)), {})
    with pytest.raises(LesionRefused, match="empty"):
        merge(lab, recs, np.zeros(SHAPE, bool), {})
    with pytest.raises(LesionRefused, match="empty"):
        lesions_of_labelmap(np.zeros(SHAPE, np.uint8))


def test_a_mask_over_two_lesions_is_refused_and_an_explicit_lesion_is_replaced():
    a, b = _ball((5, 10, 10)), _ball((5, 10, 22))
    lab, recs, _ = merge(None, [], a, {})
    lab, recs, _ = merge(lab, recs, b, {})
    both = _ball((5, 10, 16), 9)
    with pytest.raises(LesionRefused, match="overlaps 2 of your saved lesions"):
        merge(lab, recs, both, {})
    elsewhere = _ball((5, 30, 30), 2)
    lab2, _, saved = merge(lab, recs, elsewhere, {}, lesion=2)  # the reader says which: lesion 2 is redrawn there
    assert saved.lesion == 2 and ((lab2 == 2) == elsewhere).all() and ((lab2 == 1) == a).all()
    with pytest.raises(LesionRefused, match=r"overlaps your lesion\(s\) \[1\] besides lesion 2"):
        merge(lab, recs, _ball((5, 10, 10), 2), {}, lesion=2)


def test_removing_is_explicit_and_keeps_the_others():
    a, b = _ball((5, 10, 10)), _ball((5, 30, 30))
    lab, recs, _ = merge(None, [], a, {})
    lab, recs, _ = merge(lab, recs, b, {})
    lab, recs, gone = remove(lab, recs, 1)
    assert gone == int(a.sum()) and [r.id for r in recs] == [2] and not (lab == 1).any() and ((lab == 2) == b).all()
    with pytest.raises(LesionRefused, match="not one of"):
        remove(lab, recs, 7)


def test_a_file_with_several_values_is_one_lesion_per_value_unless_they_touch():
    lab = np.zeros(SHAPE, np.uint8)
    lab[_ball((5, 10, 10))] = 1
    lab[_ball((5, 30, 30))] = 3
    assert [int(m.sum()) for m in lesions_of_labelmap(lab)] == [int((lab == 1).sum()), int((lab == 3).sum())]
    nested = np.zeros(SHAPE, np.uint8)
    nested[_ball((5, 20, 20), 6)] = 1
    nested[_ball((5, 20, 20), 3)] = 2  # an agreement map: levels nest
    with pytest.raises(LesionRefused, match="touch each other"):
        lesions_of_labelmap(nested)


def test_lesion_records_round_trip():
    rec = Lesion(id=3, saved=5, voxels=7, centre_ijk=[1.0, 2.0, 3.0], source="candidate 2", candidate=2, seed=0, model="ab")
    assert Lesion.from_dict({**rec.to_dict(), "unknown": 1}) == rec


# --- the service on the app's real local datastore ---------------------------------------------------------------
@pytest.fixture
def datastore(tmp_path):
    from lib.safety.datastore import SafeLocalDatastore

    studies = tmp_path / "studies"
    studies.mkdir()
    write_volume(studies / "ct.nii.gz", np.random.default_rng(0).normal(size=SHAPE).astype(np.float32), (0.8, 0.8, 2.5))
    return SafeLocalDatastore(str(studies), extensions=["*.nii.gz"], auto_reload=False)


def _upload(tmp_path, datastore, array, name="l.nii.gz"):
    ref = sitk.ReadImage(datastore.get_image_uri("ct"))
    img = sitk.GetImageFromArray(array.astype(np.uint8))
    img.CopyInformation(ref)
    sitk.WriteImage(img, str(tmp_path / name))
    return str(tmp_path / name)


def test_the_service_stores_lesions_per_reader_and_emits_one_event_per_save(tmp_path, datastore):
    events = []
    datastore.labels.listeners.append(events.append)
    a, b = _ball((5, 10, 10)), _ball((5, 30, 30))
    first = datastore.save_label("ct", _upload(tmp_path, datastore, a), "alice", {})
    second = datastore.labels.save_mask("ct", "alice", b, {"candidate": 3, "seed": 0, "model": "abc", "edited_by": "alice"})
    bob = datastore.save_label("ct", _upload(tmp_path, datastore, a * 4), "bob", {})  # a candidate as label 4
    assert first == "ct" and second["saved"][0]["lesion"] == 2 and bob == "ct"
    assert [(e["reader"], e["action"], e["lesion"], e["lesions"]) for e in events] == [
        ("alice", "added", 1, 1), ("alice", "added", 2, 2), ("bob", "added", 1, 1)]
    stored = sitk.GetArrayFromImage(sitk.ReadImage(datastore.get_label_uri("ct", "alice")))
    assert ((stored == 1) == a).all() and ((stored == 2) == b).all()
    info = datastore.get_label_info("ct", "alice")
    assert [d["source"] for d in info["lesions"]] == ["label file", "candidate 3, edited by alice"]
    # an empty upload is refused and changes nothing
    from fastapi import HTTPException

    with pytest.raises(HTTPException) as refused:
        datastore.save_label("ct", _upload(tmp_path, datastore, np.zeros(SHAPE)), "alice", {})
    assert refused.value.status_code == 400 and "empty" in refused.value.detail
    assert (sitk.GetArrayFromImage(sitk.ReadImage(datastore.get_label_uri("ct", "alice"))) == stored).all() and len(events) == 3
    # removal is explicit; the last lesion's removal removes the reader's label
    datastore.labels.remove("ct", "bob", 1)
    assert "bob" not in datastore.get_labels_by_image_id("ct") and events[-1]["action"] == "removed"


def test_a_viewers_untagged_save_is_stored_and_read_back(tmp_path, datastore):
    """3D Slicer's Submit Label with the plugin's default Client ID and no tag: stored under ``final`` as one lesion."""
    datastore.save_label("ct", _upload(tmp_path, datastore, _ball((5, 20, 20)), "m.nrrd"), "", {"client_id": "user-xyz"})
    labelmap, records = datastore.labels.reader_lesions("ct", "final")
    assert [r.id for r in records] == [1] and labelmap.max() == 1


def test_the_server_log_does_not_say_every_save_was_by_admin(caplog):
    """MONAI Label logs each upload 'by admin' (its user with sign-in off) under the tag as sent: the line keeps the
    image and tag and drops the user; the label service logs the reader it stored the lesion for."""
    import logging

    from lib.labels import save_log

    save_log.install()
    with caplog.at_level(logging.INFO, logger=save_log.UPSTREAM_LOGGER):
        logging.getLogger(save_log.UPSTREAM_LOGGER).info("Saving Label for ct for tag: final by admin")
    assert caplog.messages[-1] == "Label upload for ct (tag 'final' as sent)"
