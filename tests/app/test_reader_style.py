"""How the answer names each candidate's reader and says how the readers were used (``lib.infers.ssb``), from the
reader labels :func:`ssb_core.volume.segment_lesion` sampled with (``LesionCandidates.reader_labels``)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from tests.app._server import APP_DIR

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.infers.ssb import candidate_readers, reader_style  # noqa: E402

READERS = ["reader_1", "reader_2", "reader_3", "reader_4"]
CYCLING = "each candidate imitates the trained readers in turn"


def _lesion(labels):
    return SimpleNamespace(reader_labels=tuple(labels))


def test_candidates_are_named_by_the_labels_they_were_sampled_with():
    assert candidate_readers(_lesion([0, 1, 2, 3, 4]), READERS) == [*READERS, "none"]
    assert candidate_readers(_lesion([0] * 3), READERS) == ["reader_1"] * 3


def test_outlines_by_fewer_readers_than_voted_are_told_with_the_rest_of_the_answer_kept():
    style = reader_style(CYCLING + "; reader_2 with guidance 2", None, _lesion([0] * 8), READERS)
    assert style.startswith("every trained reader votes") and "its outlines imitate reader_1 (" in style
    assert style.endswith("; reader_2 with guidance 2")


@pytest.mark.parametrize(("label", "labels"), [
    (None, [0, 1, 2, 3, 0, 1, 2, 3]),  # no lesion found (or no reader skipped): every reader in turn, as said
    (None, [0, 1]),  # two candidates cycle through two of four readers: nothing skipped
    (1, [1] * 8),  # a reader asked for
])
def test_the_resolved_reader_is_kept_when_nothing_was_skipped(label, labels):
    assert reader_style(CYCLING, label, _lesion(labels), READERS) == CYCLING
