"""A study's result for a terminal: the summary table (each judge's rate against chance) and the short answer."""

from __future__ import annotations

from typing import Any


def study_lines(results: Any, summaries: list[Any]) -> list[str]:
    """The table of `summaries` with chance 1 / private people, then "The short answer:" and its lines."""
    from dpmi.study.report import short_answer
    from dpmi.study.summary import summary_table
    from dpmi.study.trusted import judge_panel

    table = summary_table(summaries, chance=1 / results.private_people)
    answer = short_answer(results, results.summaries(), judge_panel(results))
    return [table, "", "The short answer:", *(f"  {line}" for line in answer)]
