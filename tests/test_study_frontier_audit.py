"""The frontier's membership-inference side: every audited level (defenses included) carries its LiRA AUC and
its black-box one-run eps_lb into the table, and the figure's second panel draws one line per defense."""

from __future__ import annotations

from dpmi.study.frontier import FrontierPoint, frontier_figure, frontier_table


def _point(key, defense, accuracy, auc, bound):
    return FrontierPoint(key, key, defense, accuracy, "mi-face", 5, 20, 0.1, 0.5, None, auc, None, bound)


def test_table_and_figure_show_membership_inference_per_defense():
    points = [
        _point("nonprivate", "none", 0.97, 0.870, (1.82, 3.51)),
        _point("label-smoothing", "label-smoothing", 0.95, 0.815, (0.56, 1.06)),
        _point("mid", "mid", 0.96, 0.975, (2.72, 5.38)),
        _point("unaudited", "bido", 0.9, None, None),
    ]
    table = frontier_table(points)
    assert "black-box ε_lb, one run (Steinke / f-DP)" in table
    assert "1.82 / 3.51" in table and "0.56 / 1.06" in table and table.count("<td>-</td>") == 2
    png = frontier_figure(points, 0.05, "recognizer")
    assert png.startswith(b"\x89PNG")
