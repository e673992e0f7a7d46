"""Blind lineups (dpmi.lineup) on a small synthetic run directory: the items hide the truth and show it exactly
once, the order never repeats a person, every POST is on disk at once, a rater resumes, bad input is refused
with the right status, two threads as one rater lose and double nothing, and the summary matches a hand count
and an independent Clopper-Pearson interval (scipy.stats.beta)."""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from dpmi.lineup import LineupServer, build_items, lineup_report_html, summarize_lineups
from dpmi.lineup.images import display_stretch, reconstruction_png
from dpmi.lineup.items import _order, _Row
from dpmi.lineup.summary import lineup_answer_lines
from dpmi.study.levels import PrivacyLevel
from dpmi.study.recipe import Recipe
from dpmi.study.records import AttackRecord, CellRecord, TrainRecord
from dpmi.study.store import RunStore

PEOPLE, ATTACKED, H, W = 8, 6, 14, 12
LEVELS = [
    PrivacyLevel("nonprivate", "non-private"),
    PrivacyLevel("eps8", "DP-SGD ε=8", 2.1, 8.0, 0.3, 105, 8.0, 7.3),
]
ATTACKS = ("mi-face", "pca-prior")
SEEDS = (0, 1)
BLANK = {("eps8", 1, "mi-face"): [4]}  # rows whose attack recorded no reconstruction
RECIPE = Recipe(0.01, 30, 40, 1.0, 0.9)


def _cell(level: PrivacyLevel, seed: int) -> CellRecord:
    labels = [float(p) for p in range(1, ATTACKED + 1)]  # people 1..6 attacked: rows are not labels
    attacks = {}
    for name in ATTACKS:
        per_label: dict[str, list] = {"label": labels, "eval_top1": [0.0] * ATTACKED}
        blank = BLANK.get((level.key, seed, name))
        if blank:
            per_label["no_reconstruction"] = [row in blank for row in range(ATTACKED)]
        attacks[name] = AttackRecord(name, {"eval_acc1": 0.0}, per_label, {}, 0.1, 0.1)
    return CellRecord(
        level,
        seed,
        RECIPE,
        TrainRecord([1.0], [], 10, level.sample_rate, level.noise_multiplier),
        0.9,
        0.95,
        attacks,
        {},
    )


def make_run(root: Path, colour: bool = False) -> Path:
    store = RunStore(root)
    store.prepare({}, {})
    rng = np.random.default_rng(0)
    shape = (PEOPLE, H, W, 3) if colour else (PEOPLE, H, W)
    np.save(store.root / "mean_faces.npy", rng.uniform(-1, 1, size=shape).astype(np.float32))
    (store.root / "results.json").write_text(json.dumps({"levels": [lv.to_dict() for lv in LEVELS]}))
    for level in LEVELS:
        for seed in SEEDS:
            stack = rng.normal(size=(len(ATTACKS), ATTACKED, 3 if colour else 1, H, W)).astype(np.float32)
            store.save_cell(_cell(level, seed).to_dict(), stack)
    store.release_lock()
    return store.root


TOTAL = len(LEVELS) * len(SEEDS) * len(ATTACKS) * ATTACKED - sum(len(v) for v in BLANK.values())


@pytest.fixture()
def run_dir(tmp_path):
    return make_run(tmp_path / "run")


@pytest.fixture()
def server(run_dir):
    with LineupServer(run_dir, k=4, seed=3) as running:
        yield running


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _post(server, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + "api/answers", data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _items(server, rater: str) -> tuple[int, dict]:
    status, _, body = _get(server.url + f"api/items?rater={rater}")
    return status, json.loads(body)


def _file(run_dir: Path, rater: str) -> dict:
    return json.loads((run_dir / "lineups" / f"{rater}.json").read_text())


# -- items ------------------------------------------------------------------------------------------------------


def test_one_item_per_reconstruction_truth_once_and_no_repeats(run_dir):
    items = build_items(run_dir, k=5, seed=0)
    assert len(items) == TOTAL and items.skipped == 1 and items.k == 5 and items.people == PEOPLE
    coordinates = {(i.level, i.seed, i.attack, i.row) for i in items}
    assert len(coordinates) == TOTAL and ("eps8", 1, "mi-face", 4) not in coordinates
    for item in items:
        assert len(item.choices) == 5 and len(set(item.choices)) == 5
        assert item.choices.count(item.person) == 1 and item.choices[item.truth] == item.person
        assert item.person == item.row + 1  # the per_label "label", not the row
        assert all(0 <= p < PEOPLE for p in item.choices)
    assert all(a.person != b.person for a, b in zip(items, items[1:]))
    assert len({i.id for i in items}) == TOTAL
    # positions spread (not always first), the same build twice is the same, another seed is another order
    assert len({i.truth for i in items}) == 5
    again = build_items(run_dir, k=5, seed=0)
    assert [(i.id, i.choices) for i in again] == [(i.id, i.choices) for i in items]
    assert [i.id for i in build_items(run_dir, k=5, seed=1)] != [i.id for i in items]


def test_order_never_repeats_whenever_possible():
    rng = np.random.default_rng(1)
    for trial in range(200):
        counts = rng.integers(1, 6, size=int(rng.integers(2, 6)))
        if counts.max() > (counts.sum() + 1) // 2:
            continue
        rows = [_Row("l", "l", 0, "a", 0, r, int(p)) for p, c in enumerate(counts) for r in range(c)]
        order = _order(rows, np.random.default_rng(trial))
        assert sorted(map(id, order)) == sorted(map(id, rows))
        assert all(a.person != b.person for a, b in zip(order, order[1:])), counts


def test_bad_k_and_empty_runs_are_refused(tmp_path, run_dir):
    for k in (1, PEOPLE + 1, 2.5, True):
        with pytest.raises(ValueError, match="k"):
            build_items(run_dir, k=k)
    assert len(build_items(run_dir, k=2)) == len(build_items(run_dir, k=PEOPLE)) == TOTAL
    empty = RunStore(tmp_path / "empty")
    empty.prepare({}, {})
    with pytest.raises(ValueError, match="has no reconstructions: run dpmi run first"):
        build_items(empty.root)
    (run_dir / "mean_faces.npy").unlink()
    with pytest.raises(ValueError, match="mean_faces.npy"):
        build_items(run_dir)


def test_real_faces_from_data_when_mean_faces_are_missing(run_dir):
    from dpmi.data import FaceDataset

    (run_dir / "mean_faces.npy").unlink()
    images = np.random.default_rng(0).integers(0, 256, size=(2 * PEOPLE, H, W), dtype=np.uint8)
    data = FaceDataset(images, np.repeat(np.arange(PEOPLE), 2), np.tile([1, 2], PEOPLE), PEOPLE)
    assert len(build_items(run_dir, k=3, data=data)) == TOTAL
    with LineupServer(run_dir, k=3, data=data) as running:
        item = running.items[0]
        status, _, body = _get(running.url + f"img/{item.id}-0.png")
        expected = images[data.labels == item.choices[0]].mean(axis=0) / 127.5 - 1.0
        shown = np.asarray(Image.open(io.BytesIO(body)))[::2, ::2]
        assert status == 200 and np.abs(shown - np.rint((expected + 1) / 2 * 255)).max() <= 1


# -- images -----------------------------------------------------------------------------------------------------


def test_images_are_pngs_stretched_like_the_report_and_upscaled(server, run_dir):
    from dpmi.study.figures import _display

    item = server.items[0]
    status, headers, body = _get(server.url + f"img/{item.id}.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    picture = np.asarray(Image.open(io.BytesIO(body)))
    assert picture.shape == (2 * H, 2 * W)
    raw = np.load(run_dir / "cells" / f"{item.level}__seed{item.seed}.npy")[item.attack_index, item.row, 0]
    assert np.abs(picture[::2, ::2] - np.rint(_display(raw) * 255)).max() <= 1
    assert np.array_equal(display_stretch(raw), _display(raw))
    faces = np.load(run_dir / "mean_faces.npy")
    for j, person in enumerate(item.choices):
        status, _, body = _get(server.url + f"img/{item.id}-{j}.png")
        face = np.asarray(Image.open(io.BytesIO(body)))[::2, ::2].astype(float)
        assert status == 200 and np.abs(face - (faces[person] + 1) / 2 * 255).max() <= 1
    assert _get(server.url + f"img/{item.id}-{item.k}.png")[0] == 404
    assert _get(server.url + "img/0123456789abcdef.png")[0] == 404
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(reconstruction_png(np.zeros((1, 3, 2)))))), np.full((6, 4), 128)
    )


def test_colour_runs_are_served_in_colour(tmp_path):
    with LineupServer(make_run(tmp_path / "colour", colour=True), k=3) as running:
        item = running.items[0]
        for path in (f"img/{item.id}.png", f"img/{item.id}-1.png"):
            status, _, body = _get(running.url + path)
            assert status == 200 and np.asarray(Image.open(io.BytesIO(body))).shape == (2 * H, 2 * W, 3)


# -- the API ----------------------------------------------------------------------------------------------------


def test_items_hide_the_truth_level_and_attack(server):
    status, data = _items(server, "alice")
    assert status == 200 and data["total"] == TOTAL and data["k"] == 4 and data["next"] == 0
    assert data["answered"] == 0 and len(data["items"]) == TOTAL
    text = json.dumps(data)
    for secret in (
        "nonprivate",
        "eps8",
        "ε",
        "mi-face",
        "pca-prior",
        'person"',
        "truth",
        "level",
        "attack",
        "seed",
        "correct",
    ):
        assert secret not in text, secret
    for shown, item in zip(data["items"], server.items):
        assert set(shown) == {"id", "image", "faces", "answered", "choice"}
        assert shown["id"] == item.id and len(shown["faces"]) == 4 and not shown["answered"]
    urls = {url for shown in data["items"] for url in [shown["image"], *shown["faces"]]}
    assert len(urls) == TOTAL * 5  # every image its own opaque URL: no face URL repeats across items


def test_each_answer_is_on_disk_at_once_and_the_rater_resumes(server, run_dir):
    first, second, third = server.items[:3]
    assert _post(server, {"rater": "alice", "item": first.id, "choice": first.truth}) == (
        200,
        {"ok": True, "answered": 1, "total": TOTAL},
    )
    stored = _file(run_dir, "alice")
    assert stored["rater"] == "alice" and [a["item"] for a in stored["answers"]] == [first.id]
    assert stored["answers"][0]["correct"] is True and stored["answers"][0]["level"] == first.level
    wrong = (second.truth + 1) % 4
    assert _post(server, {"rater": "alice", "item": second.id, "choice": wrong})[0] == 200
    stored = _file(run_dir, "alice")["answers"]
    assert [a["item"] for a in stored] == [first.id, second.id] and stored[1]["correct"] is False
    assert stored[1]["chosen_person"] == second.choices[wrong]
    status, data = _items(server, "alice")
    assert data["next"] == 2 and data["answered"] == 2 and data["items"][2]["id"] == third.id
    assert data["items"][1]["answered"] and data["items"][1]["choice"] == wrong
    # a new server on the same directory (the page was closed, the server restarted) resumes there too
    server.stop()
    with LineupServer(run_dir, k=4, seed=3) as again:
        assert _items(again, "alice")[1]["next"] == 2
        assert _items(again, "bob")[1]["next"] == 0
        assert _post(again, {"rater": "alice", "item": third.id, "choice": "not-a-face"})[0] == 200
    last = _file(run_dir, "alice")["answers"][-1]
    assert last["not_a_face"] is True and last["correct"] is False and last["chosen_person"] is None


def test_bad_requests(server, run_dir):
    item = server.items[0]
    for name in ("", "a b", "x" * 41, "../etc", "ålice", "a.json", "a/b"):
        status, body = _post(server, {"rater": name, "item": item.id, "choice": 0})
        assert status == 400 and "letters, digits" in body["error"], name
    assert _items(server, "a%20b")[0] == 400 and _items(server, "")[0] == 400
    assert _get(server.url + "api/items")[0] == 400
    status, body = _post(server, {"rater": "alice", "item": "0123456789abcdef", "choice": 0})
    assert status == 404 and "no such item" in body["error"]
    for choice in (4, -1, "0", None, True, 1.0, "not a face"):
        assert _post(server, {"rater": "alice", "item": item.id, "choice": choice})[0] == 400, choice
    assert _post(server, b"not json")[0] == 400 and _post(server, b"[1]")[0] == 400
    assert _post(server, b"{" + b" " * 5000 + b"}")[0] == 413
    status, _, body = _get(server.url + "nowhere")
    assert status == 404 and "error" in json.loads(body)
    assert not (run_dir / "lineups" / "alice.json").exists()
    rebound = urllib.request.Request(server.url, headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 403


def test_same_rater_from_many_threads_loses_nothing_and_doubles_nothing(server, run_dir):
    items = server.items[:12]
    barrier = threading.Barrier(len(items) + 2)
    results: list[int] = []

    def answer(item, choice=0):
        barrier.wait()
        results.append(_post(server, {"rater": "carol", "item": item.id, "choice": choice})[0])

    threads = [threading.Thread(target=answer, args=(item,)) for item in items]
    threads += [threading.Thread(target=answer, args=(server.items[20], c)) for c in (1, 2)]  # the same item twice
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 13 + [409]
    stored = _file(run_dir, "carol")["answers"]
    assert sorted(a["item"] for a in stored) == sorted([i.id for i in items] + [server.items[20].id])
    assert len(stored) == 13
    status, body = _post(server, {"rater": "carol", "item": items[0].id, "choice": 1})
    assert status == 409 and "already answered" in body["error"]
    assert _post(server, {"rater": "dave", "item": items[0].id, "choice": 1})[0] == 200  # raters never mix
    assert len(_file(run_dir, "carol")["answers"]) == 13 and len(_file(run_dir, "dave")["answers"]) == 1


def test_hosts_and_ports(run_dir):
    with pytest.raises(ValueError, match="not loopback"):
        LineupServer(run_dir, host="0.0.0.0")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} is already in use.*--port 0"):
            LineupServer(run_dir, port=port)
    with LineupServer(run_dir, host="localhost") as running:
        assert running.url.startswith("http://127.0.0.1:") and _get(running.url)[0] == 200
    with LineupServer(run_dir) as running:
        status, headers, page = _get(running.url)
    assert status == 200 and b"Which of these people is this?" in page and "text/html" in headers["Content-Type"]


def test_serve_prints_the_url_and_stops(run_dir, capsys):
    from dpmi.lineup import serve

    seen: list[str] = []

    def ready(url: str) -> None:
        seen.append(url)
        assert _get(url)[0] == 200
        raise KeyboardInterrupt

    serve(run_dir, ready=ready)
    out = capsys.readouterr().out
    assert seen and seen[0] in out and f"{TOTAL} reconstructions" in out


# -- the summary ------------------------------------------------------------------------------------------------


def _exact(successes: int, trials: int) -> tuple[float, float]:
    low = 0.0 if successes == 0 else stats.beta.ppf(0.025, successes, trials - successes + 1)
    high = 1.0 if successes == trials else stats.beta.ppf(0.975, successes + 1, trials - successes)
    return low, high


def test_summary_matches_a_hand_count(server, run_dir):
    assert summarize_lineups(run_dir)["raters"] == [] and lineup_report_html(run_dir) == ""
    rng = np.random.default_rng(5)
    given: dict[str, list] = {"alice": [], "bob": []}
    for rater, count in (("alice", 30), ("bob", 17)):
        for item in server.items[:count]:
            roll = rng.random()
            choice = item.truth if roll < 0.4 else "not-a-face" if roll < 0.5 else (item.truth + 1) % 4
            assert _post(server, {"rater": rater, "item": item.id, "choice": choice})[0] == 200
            given[rater].append((item, choice))
    summary = summarize_lineups(run_dir)
    assert summary["raters"] == ["alice", "bob"]
    blocks = [("pooled", summary["pooled"], given["alice"] + given["bob"])] + [
        (name, summary["per_rater"][name], given[name]) for name in given
    ]
    for _, block, answers in blocks:
        assert [lv["level"] for lv in block["levels"]] == [lv.key for lv in LEVELS]
        for level in block["levels"]:
            for attack, got in [*level["attacks"].items(), (None, level["all"])]:
                mine = [(i, c) for i, c in answers if i.level == level["level"] and attack in (None, i.attack)]
                correct = sum(1 for i, c in mine if c == i.truth)
                assert got["n"] == len(mine) and got["correct"] == correct
                assert got["acc1"] == pytest.approx(correct / len(mine))
                assert got["ci95"] == pytest.approx(list(_exact(correct, len(mine))), abs=1e-12)
                assert got["chance"] == pytest.approx(0.25)
                assert got["not_a_face"] == sum(1 for _, c in mine if c == "not-a-face")
        assert block["all"]["n"] == len(answers)
    lines = lineup_answer_lines(run_dir)
    assert len(lines) == 2 and lines[0].startswith("non-private: people named ")
    eps8 = summary["pooled"]["levels"][1]["all"]
    low, high = _exact(eps8["correct"], eps8["n"])
    assert lines[1] == (
        f"DP-SGD ε=8: people named {eps8['correct']} of {eps8['n']} reconstructions correctly "
        f"({100 * eps8['correct'] / eps8['n']:.1f} %, 95 % CI {100 * low:.1f}-{100 * high:.1f} %; "
        "chance 25 %), 2 raters".replace(".0 %", " %").replace(".0-", "-")
    )
    page = lineup_report_html(run_dir)
    assert "<table" in page and "Rater alice" in page and "Rater bob" in page and "25 %" in page


def test_answer_line_format():
    from dpmi.lineup.summary import _pct

    assert (_pct(3 / 40), _pct(0.2), _pct(0.016), _pct(0.204)) == ("7.5", "20", "1.6", "20.4")


def test_report_html_is_escaped(run_dir):
    (run_dir / "lineups").mkdir(exist_ok=True)
    record = {
        "item": "x",
        "choice": 0,
        "correct": True,
        "not_a_face": False,
        "k": 5,
        "level": "<b>",
        "level_label": "<script>alert(1)</script>",
        "attack": "<i>a</i>",
        "seed": 0,
    }
    (run_dir / "lineups" / "eve.json").write_text(
        json.dumps({"format": "dpmi-lineup-answers", "version": 1, "rater": "eve", "answers": [record]})
    )
    page = lineup_report_html(run_dir)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<i>a</i>" not in page
    assert "chance 20 %), 1 rater" in lineup_answer_lines(run_dir)[0]
