"""Blind lineups: a person's eyes on the reconstructions.

`dpmi lineup RUN_DIR` (`serve`) shows each saved reconstruction beside k real faces of the private people
(the true person and k-1 others, level and attack hidden) and asks "which of these people is this?"; every
answer is saved to RUN_DIR/lineups/<rater>.json. `summarize_lineups` turns the answers into human acc@1 per
level and attack (per rater and pooled, with exact intervals and chance 1/k), `lineup_report_html` into the
report's table.
"""

from dpmi.lineup.answers import AnswerStore, check_rater
from dpmi.lineup.items import LineupItem, LineupItems, build_items
from dpmi.lineup.server import LineupServer, serve
from dpmi.lineup.summary import lineup_answer_lines, lineup_report_html, summarize_lineups

__all__ = [
    "AnswerStore",
    "LineupItem",
    "LineupItems",
    "LineupServer",
    "build_items",
    "check_rater",
    "lineup_answer_lines",
    "lineup_report_html",
    "serve",
    "summarize_lineups",
]
