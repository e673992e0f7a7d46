"""benchmarks/study_repeats.py's summary: min / median / max over repeats, checked against hand computations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st


def _module():
    path = Path(__file__).parents[1] / "benchmarks" / "study_repeats.py"
    spec = importlib.util.spec_from_file_location("study_repeats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_gives_min_median_max_per_phase_and_the_ratio():
    lines = _module().report(
        [90.0, 140.0, 100.0],
        [{"data": 1.0, "training": 10.0, "total": 90.0}, {"data": 3.0, "training": 30.0, "total": 140.0},
         {"data": 2.0, "training": 20.0, "total": 100.0}],
    )
    assert lines[1].split() == ["data", "1.0", "2.0", "3.0"]
    assert lines[2].split() == ["training", "10.0", "20.0", "30.0"]
    assert lines[3].split()[-3:] == ["90.0", "100.0", "140.0"]
    assert lines[4].endswith("max / min = 1.56")


@given(st.lists(st.floats(0.1, 1e4), min_size=1, max_size=9))
def test_spread_is_sorted_min_median_max(values):
    low, mid, high = _module().spread(values)
    ordered = sorted(values)
    assert (low, high) == (ordered[0], ordered[-1]) and low <= mid <= high
