"""Aggregation, the terminal table, the figures and report.html, from synthetic cells (the real-faces run is in
test_study_end_to_end.py): numbers match an independent computation, the page is self-contained and escapes
user text."""

from __future__ import annotations

import base64
import re
import statistics

import numpy as np
import pytest

from dpmi.study.levels import PrivacyLevel
from dpmi.study.report import near_chance, plain_reading, render_report
from dpmi.study.results import csv_rows
from dpmi.study.figures import reconstruction_grid, tradeoff_figure
from dpmi.study.summary import aggregate, summary_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LEVELS = [
    PrivacyLevel("nonprivate", "non-private"),
    PrivacyLevel("sigma0.5", "DP-SGD σ=0.5", 0.5, None, 1 / 7, 210, 35.2, 31.4),
    PrivacyLevel("eps1", "DP-SGD ε=1", 3.1, 1.0, 1 / 7, 210, 1.0, 0.8),
]


def _record(level: PrivacyLevel, seed: int, rng: np.random.Generator) -> dict:
    return {
        "level": level.to_dict(), "seed": seed,
        "test_accuracy": float(rng.uniform(0.3, 1)), "train_accuracy": float(rng.uniform(0.3, 1)),
        "attack": {"labels": [0], "stop_reason": ["max_iter"]},
        "metrics": {"nearest_mean_top1": float(rng.uniform()), "eval_acc1": float(rng.uniform()),
                    "ssim_mean_face": float(rng.uniform())},
        "per_label": {}, "timings": {"train": 1.0, "attack": 0.5, "metrics": 0.1},
    }


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(0)
    return [_record(level, seed, rng) for level in LEVELS for seed in (0, 1, 2)]


def test_aggregate_matches_statistics_module(records):
    summaries = aggregate(LEVELS, records)
    assert [s.level.key for s in summaries] == [level.key for level in LEVELS]
    for s in summaries:
        values = [r["metrics"]["nearest_mean_top1"] for r in records if r["level"]["key"] == s.level.key]
        assert s.mean["nearest_mean_top1"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert s.std["nearest_mean_top1"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        assert s.seeds == [0, 1, 2]


def test_table_and_csv_have_one_row_per_level_and_per_cell(records):
    table = summary_table(aggregate(LEVELS, records)).splitlines()
    assert len(table) == 2 + len(LEVELS)
    assert table[2].startswith("non-private") and "inf" in table[2]
    fields, rows = csv_rows(records)
    assert len(rows) == len(records) and {"level", "seed", "epsilon_pld", "nearest_mean_top1"} <= set(fields)


def test_near_chance_is_two_binomial_standard_deviations():
    # 40 identities x 3 seeds at chance 1/40: std = sqrt(p(1-p)/120) = 0.01425.
    assert near_chance(0.025 + 2 * 0.01425 - 1e-4, 1 / 40, 120)
    assert not near_chance(0.025 + 2 * 0.01425 + 1e-4, 1 / 40, 120)


def test_reading_states_the_numbers(records):
    text = " ".join(plain_reading(aggregate(LEVELS, records), identities=40))
    s = aggregate(LEVELS, records)[0]
    assert "Chance is 2.5%" in text
    top1 = s.mean["nearest_mean_top1"]
    assert (f"{100 * top1:.0f}%" if top1 >= 0.1 else f"{100 * top1:.1f}%") in text
    assert "DP-SGD ε=1" in text


def test_figures_are_pngs_of_a_sensible_size(records):
    png = tradeoff_figure(aggregate(LEVELS, records))
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000
    means = np.random.default_rng(1).normal(size=(40, 112, 92))
    grid = reconstruction_grid(means, [("a", means, np.ones(40, bool)), ("b", means * 0, None)], list(range(8)))
    assert grid.startswith(PNG_MAGIC)


def test_report_is_self_contained_and_escapes_user_text(records):
    evil = '<script>alert("x")</script>'
    png = tradeoff_figure(aggregate(LEVELS, records))
    page = render_report(title=f"run {evil}", config={"name": evil, "data": "/faces & co"},
                         summaries=aggregate(LEVELS, records), figures={f"caption {evil}": png},
                         versions={"dpmi": "0"}, created="now", identities=40, notes=[evil])
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page and "/faces &amp; co" in page
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page  # nothing fetched from elsewhere
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == 1 and base64.b64decode(embedded[0]) == png
