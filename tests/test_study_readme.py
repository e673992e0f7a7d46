"""The README's results tables are generated (`python -m dpmi.study.readme_table`) from the results files
committed beside it (docs/results/*.json, kept from real `make run` / `dpmi run --model cnn` runs): a table
typed or edited by hand, or a results file changed without regenerating the README, fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpmi.study.readme_table import (
    BEGIN,
    load_kept,
    markdown_table,
    render_readme,
    replace_block,
)

REPO = Path(__file__).resolve().parents[1]
TABLES = {"softmax": REPO / "docs" / "results" / "softmax.json", "cnn": REPO / "docs" / "results" / "cnn.json"}


def test_readme_tables_match_the_committed_results():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in TABLES:
        assert BEGIN.format(name=name) in readme, name
    assert render_readme(readme, TABLES) == readme, (
        "README results tables differ from docs/results: run python -m dpmi.study.readme_table --readme README.md "
        + " ".join(f"{k}={v.relative_to(REPO)}" for k, v in TABLES.items()))


def test_committed_results_are_full_studies():
    """Every attack the default study runs (all access levels), every level, 3 seeds: what the README shows."""
    from dpmi.study.config.sections import default_attacks

    for name, path in TABLES.items():
        results = load_kept(path)
        assert results.config["model"] == name and not results.quick
        assert set(results.attacks) == set(default_attacks()), name
        summaries = results.summaries()
        assert [s.level.key for s in summaries if not s.level.defended] == [
            "nonprivate", "sigma0.5", "eps8", "eps3", "eps1"]
        assert all(len(s.seeds) == 3 and set(s.attack_mean) == set(results.attacks) for s in summaries)
        table = markdown_table(results)
        assert table.count("\n| ") == 1 + len(summaries) * len(results.attacks)  # the separator row, then one row per (level, attack)


def test_the_readme_answer_comes_from_the_trusted_judge_only():
    """Every number of the README's short answer is the trusted judge's (the pretrained recognizer on the default
    run), recomputed here from the committed results' cells, and no fooled judge's number appears in it."""
    import re

    from dpmi.study.trusted import judge_panel

    results = load_kept(TABLES["softmax"])
    panel = judge_panel(results)
    assert panel.answer == "recognizer" and panel.verdicts["eval"].fooled
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN.format(name="softmax-answer"))[1].split("<!--")[0]
    lines = [line for line in block.splitlines() if line.startswith("- ")]
    privacy = [s for s in results.summaries() if not s.level.defended]
    assert len(lines) == len(privacy)
    for line, summary in zip(lines, privacy):
        assert "pretrained face recognizer" in line and "evaluation classifier" not in line
        hits, n = (int(v) for v in re.search(r"recognises (\d+) of (\d+)", line).groups())
        best = max(summary.attack_mean.values(), key=lambda values: values["recognizer_acc1"])
        assert n == summary.trials and hits == round(best["recognizer_acc1"] * n), line
    header = markdown_table(results).splitlines()[0]
    assert "pretrained face recognizer acc@1 (trusted)" in header
    assert "evaluation classifier acc@1 (fooled by optimised images)" in header


def test_a_missing_block_is_a_clear_error():
    with pytest.raises(ValueError, match="no <!-- dpmi-results:cnn:begin -->"):
        replace_block("# README\n", "cnn", "table")


def test_an_early_stopped_row_off_its_dp_level_says_not_matched():
    """The cnn's early-stopped model cannot get below ~75 % accuracy, so its rows for epsilon 3 and 1 must not
    read as accuracy-matched: each row whose accuracy is more than 5 points from its DP-SGD level's says so, and
    no row within 5 points does (the gap recomputed here from the summaries)."""
    for path in TABLES.values():
        results = load_kept(path)
        summaries = {s.level.key: s for s in results.summaries()}
        table = markdown_table(results)
        rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| early-stop")}
        early = [s for s in summaries.values() if s.level.matched_to]
        assert early, path
        for s in early:
            gap = abs(s.mean["test_accuracy"] - summaries[s.level.matched_to].mean["test_accuracy"])
            assert ("not matched" in rows[s.level.label]) == (gap > 0.05 + 1e-9), (path.name, s.level.label, gap)
    cnn = load_kept(TABLES["cnn"])
    assert markdown_table(cnn).count("not matched") >= 2  # epsilon 3 and 1 (43.9 % and 11.7 % against 76.7 %)
