"""The one markdown renderer: fixed rows render to fixed text (the tables the docs are regenerated with)."""

from __future__ import annotations

import math

from ssb_core.evaluation.report import markdown_table, results_table, results_tables
from ssb_core.metrics import DatasetMetrics


def _rows() -> list[DatasetMetrics]:
    ssb = [{"case_id": "a", "ged": 0.5, "d_max": 0.75, "ddi_gen": math.nan, "time_s": 1.0},
           {"case_id": "b", "ged": 0.25, "d_max": 0.25, "ddi_gen": math.nan, "time_s": 2.0}]
    readers = [{"case_id": "a", "ged": 0.125, "d_max": 0.5, "ddi_gen": 0.5}]
    return [DatasetMetrics("SSB", 2, 8, 0, "exclude", ssb), DatasetMetrics("SSB", 2, 8, 0, "empty", ssb),
            DatasetMetrics("Readers (leave-one-out)", absent_reader="exclude", per_case=readers)]


def test_markdown_table_cells_title_and_empty_cells():
    assert markdown_table(["a", "b"], [[1, ""], ["x", 2.5]], "T") == "### T\n\n| a | b |\n|---|---|\n| 1 | |\n| x | 2.5 |\n"


def test_results_table_is_byte_stable():
    rows = _rows()
    assert results_table(rows[:1] + rows[2:]) == (
        "| Method | NFE | N | images | GED ↓ | D_max ↑ | D_DDI^gen | s / image |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| SSB | 2 | 8 | 2 | 0.375 | 0.500 | – | 1.50 |\n"
        "| Readers (leave-one-out) | – | – | 1 | 0.125 | 0.500 | 0.500 | – |\n")
    assert results_table(rows[:2], columns=("ged",), show_convention=True, spread=True) == (
        "| Method | NFE | N | images | absent readers | GED ↓ |\n|---|---|---|---|---|---|\n"
        "| SSB | 2 | 8 | 2 | excluded | 0.375 ± 0.125 |\n| SSB | 2 | 8 | 2 | as empty | 0.375 ± 0.125 |\n")


def test_results_tables_split_by_convention():
    text = results_tables(_rows(), "lidc64")
    assert text.count("### ") == 2 and "### lidc64, absent readers excluded\n" in text
    assert "### lidc64, absent readers as empty masks (Kohl et al.)\n" in text
    assert results_tables(_rows()[:1], "t").startswith("### t, absent readers excluded\n")
