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


def _reading_point(key, defense, accuracy, hits, n=20, matched_to=None):
    from scipy.stats import binomtest

    ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="exact")
    return FrontierPoint(key, key, defense, accuracy, "pca-prior", hits, n, ci.low, ci.high,
                         2.0 if defense == "dp-sgd" else None, None, matched_to)


def test_the_reading_compares_in_plain_words_singular_and_plural():
    """The frontier reading once said "as many people than DP-SGD" and "1 more reconstructions"."""
    from dpmi.study.frontier import frontier_reading

    dp = _reading_point("eps3", "dp-sgd", 0.45, 3)
    same = _reading_point("early-eps3", "early-stop", 0.46, 3, matched_to="eps3")
    one_more = _reading_point("ls", "label-smoothing", 0.44, 4)
    two_fewer = _reading_point("mid", "mid", 0.47, 1)
    lines = frontier_reading([dp, same, one_more, two_fewer], chance=0.05, judge="pretrained face recognizer")
    first = lines[0]
    assert "leaks 3 of 20" in first and "as many reconstructions recognised as DP-SGD at that accuracy." in first
    assert "(1 more reconstruction recognised than DP-SGD (the intervals overlap))" in first
    assert "(2 fewer reconstructions recognised than DP-SGD (the intervals overlap))" in first
    assert "than DP-SGD than" not in first and "people than" not in first
