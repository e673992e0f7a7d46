"""The lineup page in a real headless Chromium (Debian's chromium + chromium-driver, `make browser`): a rater
types a name and clicks choices, each click is in their JSON file at once, a reload resumes at the next item,
and a second rater in a second browser session writes only to their own file.

Skipped (with the reason) only where chromium is not installed and CI is not set; under CI it fails instead.
Selenium Manager is never used (no network): the driver is /usr/bin/chromedriver, named explicitly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from test_lineup import TOTAL, make_run

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")

if not (CHROMIUM and Path(CHROMEDRIVER).is_file()):
    if IN_CI:
        pytest.fail(
            f"CI is set but chromium ({CHROMIUM}) or {CHROMEDRIVER} is missing: run `make browser`",
            pytrace=False,
        )
    pytest.skip("no chromium/chromium-driver (install them with `make browser`)", allow_module_level=True)

if not IN_CI:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from dpmi.lineup import LineupServer  # noqa: E402

K = 4


def _browser(tmp_path: Path, name: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,800",
        f"--user-data-dir={tmp_path / name}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture()
def setup(tmp_path):
    run_dir = make_run(tmp_path / "run")
    server = LineupServer(run_dir, k=K, seed=2).start()
    browsers: list[webdriver.Chrome] = []

    def open_browser(name: str) -> webdriver.Chrome:
        browser = _browser(tmp_path, name)
        browsers.append(browser)
        return browser

    yield run_dir, server, open_browser
    for browser in browsers:
        browser.quit()
    server.stop()


def _answers(run_dir: Path, rater: str) -> list[dict]:
    path = run_dir / "lineups" / f"{rater}.json"
    return json.loads(path.read_text())["answers"] if path.is_file() else []


def _wait(browser, condition, timeout: float = 15):
    return WebDriverWait(browser, timeout).until(condition)


def _progress(browser) -> str:
    return browser.find_element(By.ID, "progress").text


def _wait_progress(browser, text: str) -> None:
    _wait(browser, lambda b: b.find_element(By.ID, "rate").is_displayed() and _progress(b) == text)


def _start(browser, url: str, rater: str) -> None:
    browser.get(url)
    field = _wait(browser, ec.visibility_of_element_located((By.ID, "rater")))
    field.send_keys(rater)
    browser.find_element(By.ID, "begin").click()


def _faces(browser) -> list:
    return _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#faces .face") or False)


def _shown_id(browser) -> str:
    return browser.find_element(By.ID, "target").get_attribute("src").rsplit("/", 1)[-1][:-4]


def test_a_rater_clicks_resumes_and_a_second_rater_keeps_their_own_file(setup):
    run_dir, server, open_browser = setup
    items = server.items
    alice = open_browser("alice")

    # a bad name: the server's message on the page, nothing written
    _start(alice, server.url, "not ok!")
    _wait(alice, lambda b: "letters, digits" in b.find_element(By.ID, "start-message").text)
    assert not (run_dir / "lineups" / "not ok!.json").exists()

    field = alice.find_element(By.ID, "rater")
    field.clear()
    field.send_keys("alice")
    alice.find_element(By.ID, "begin").click()
    _wait_progress(alice, f"1 of {TOTAL}")
    assert "Which of these people is this?" in alice.find_element(By.ID, "question").text
    page = alice.page_source
    for secret in ("eps8", "nonprivate", "mi-face", "pca-prior"):
        assert secret not in page

    # three clicks: a face, another face, "not a face"; each one on disk before the next screen
    clicks = [items[0].truth, (items[1].truth + 1) % K, "not-a-face"]
    for n, choice in enumerate(clicks):
        assert _shown_id(alice) == items[n].id and len(_faces(alice)) == K
        if choice == "not-a-face":
            alice.find_element(By.ID, "not-a-face").click()
        else:
            _faces(alice)[choice].click()
        _wait_progress(alice, f"{n + 2} of {TOTAL}")
        stored = _answers(run_dir, "alice")
        assert [a["item"] for a in stored] == [i.id for i in items[: n + 1]]
        assert stored[-1]["choice"] == choice
    assert [a["correct"] for a in _answers(run_dir, "alice")] == [True, False, False]

    # reload: the page resumes at the next unanswered item (the name is in the URL)
    alice.refresh()
    _wait_progress(alice, f"4 of {TOTAL}")
    assert _shown_id(alice) == items[3].id and "rater=alice" in alice.current_url
    # a closed page, opened again by typing the name: the same place
    alice.get(server.url)
    _start(alice, server.url, "alice")
    _wait_progress(alice, f"4 of {TOTAL}")

    # a second rater in a second browser session: their own file, from the first item
    bob = open_browser("bob")
    _start(bob, server.url, "bob")
    _wait_progress(bob, f"1 of {TOTAL}")
    assert _shown_id(bob) == items[0].id
    _faces(bob)[0].click()
    _wait_progress(bob, f"2 of {TOTAL}")
    assert [a["item"] for a in _answers(run_dir, "bob")] == [items[0].id]
    assert len(_answers(run_dir, "alice")) == 3

    # keyboard: "2" picks the second face
    alice.find_element(By.TAG_NAME, "body").send_keys("2")
    _wait_progress(alice, f"5 of {TOTAL}")
    assert _answers(run_dir, "alice")[-1]["choice"] == 1 and len(_answers(run_dir, "bob")) == 1


def test_two_pages_as_one_rater_move_on_without_a_double_answer(setup):
    run_dir, server, open_browser = setup
    first, second = open_browser("one"), open_browser("two")
    for browser in (first, second):
        _start(browser, server.url, "carol")
        _wait_progress(browser, f"1 of {TOTAL}")
    _faces(first)[0].click()
    _wait_progress(first, f"2 of {TOTAL}")
    _faces(second)[1].click()  # the same item, answered in the other page: 409, and this page moves on
    _wait_progress(second, f"2 of {TOTAL}")
    assert "already answered" in second.find_element(By.ID, "rate-note").text
    stored = _answers(run_dir, "carol")
    assert len(stored) == 1 and stored[0]["choice"] == 0


def test_all_done(setup):
    run_dir, server, open_browser = setup
    for item in server.items[:-1]:
        server.answers.record("dave", item, 0)
    browser = open_browser("dave")
    _start(browser, server.url, "dave")
    _wait_progress(browser, f"{TOTAL} of {TOTAL}")
    browser.find_element(By.ID, "not-a-face").click()
    _wait(browser, lambda b: b.find_element(By.ID, "done").is_displayed())
    assert f"all {TOTAL}" in browser.find_element(By.ID, "done-count").text
    assert len(_answers(run_dir, "dave")) == TOTAL
