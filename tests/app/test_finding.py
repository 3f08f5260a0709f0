"""The words a viewer shows about a click (``finding``) and the vote's trace in the answer, without a server."""

from __future__ import annotations

import sys

import numpy as np

from tests.app._server import APP_DIR

if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from lib.candidate_set import lesion_finding, summary_json  # noqa: E402


def _vote(drawn_at_click: int, lesion: bool, open_emptied: tuple[int, ...] = ()) -> dict:
    return {"mode": "vote", "drawn_at_click": drawn_at_click, "num_candidates": 8, "lesion": lesion, "redrawn": [],
            "open_emptied": list(open_emptied)}


def test_the_message_says_what_the_vote_saw():
    f = lesion_finding([0] * 8, 0, _vote(3, False))
    assert not f["lesion"] and f["message"].startswith("No lesion found here: 3 of 8 samples drew something at the click")
    f = lesion_finding([0] * 8, 0, _vote(5, False, (1, 2, 3)))
    assert f["message"].startswith("No lesion found here: 5 of 8 first samples") and "ran on past the growth limit" in f["message"]
    f = lesion_finding([40] * 8, 100, _vote(6, True))
    assert f["lesion"] and f["drawn_at_click"] == 6 and f["message"].startswith("Lesion found: 6 of 8 first samples drew it")
    assert "still draw nothing" not in f["message"]
    f = lesion_finding([40] * 7 + [0], 100, _vote(5, True, (7,)))
    assert f["message"].endswith("1 of 8 still draw nothing.") and f["drawn_by"] == 7
    assert lesion_finding([40] * 8, 100, _vote(8, True))["message"] == "Lesion found: all 8 candidates draw it."


def test_the_message_names_draws_with_no_lung_around_them():
    vote = {**_vote(1, False), "outside_lung": 5}
    f = lesion_finding([0] * 8, 0, vote)
    assert f["message"].startswith("No lesion found here: 1 of 8 samples drew a lesion at the click, fewer than half; 5 more")
    assert "no lung around it" in f["message"] and not f["lesion"]


def test_the_message_says_a_click_in_the_air_outside_the_body_is_not_a_lesion():
    f = lesion_finding([0] * 8, 0, {**_vote(0, False), "outside_body": True})
    assert not f["lesion"] and f["message"].startswith("No lesion found here: the click is in the air outside the body")


def test_without_a_vote_the_consensus_decides_as_before():
    assert lesion_finding([0, 0, 5, 0], 0)["message"].startswith("No lesion found here: 1 of 4 candidates draw something")
    f = lesion_finding([5, 5, 5, 0], 12, {"mode": "as_sampled", "drawn_at_click": 3})
    assert f["message"].startswith("Lesion found; 1 of 4 candidates draw nothing here") and f["drawn_at_click"] == 3


def test_the_summary_marks_redrawn_candidates_and_carries_the_vote():
    masks = np.zeros((3, 2, 8, 8), dtype=bool)
    masks[:, :, 2:5, 2:5] = True
    vote = {**_vote(2, True), "num_candidates": 3, "redrawn": [1]}
    s = summary_json(masks, 1.0, "volume_mm3", None, 0, ["a", "b", "c"], vote)
    assert [c["redrawn"] for c in s["candidates"]] == [False, True, False]
    assert s["presence"] == vote and s["finding"]["drawn_at_click"] == 2
    assert summary_json(masks, 1.0, "volume_mm3", None, 0, [])["presence"] is None
