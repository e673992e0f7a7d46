"""The raters' answers: RUN_DIR/lineups/<rater>.json, one file per rater, rewritten atomically after each answer.

A file holds {"format", "version", "rater", "answers": [...]} with one record per answered item, in answer
order: the item id, the choice (0..k-1 or "not-a-face"), and what the summary needs without rebuilding the
lineups (level, attack, seed, true and chosen person, k, correct). The page never sees these files.

Answers of one rater are serialised by a lock per rater (a thread lock, and an flock on
lineups/.<rater>.lock where the OS has one, for two servers on one run directory): an answer is read-modified-
written under it, so two pages rating as the same rater never lose an answer or store one twice. Different
raters have different files and locks and never mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dpmi.atomic_files import atomic_write_json
from dpmi.lineup.items import LINEUPS_DIR, NOT_A_FACE, LineupItem

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone (one server per run directory)
    fcntl = None  # type: ignore[assignment]

ANSWERS_FORMAT = "dpmi-lineup-answers"
ANSWERS_VERSION = 1
RATER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}", re.ASCII)


class RaterNameError(ValueError):
    """A rater name that is not 1..40 letters, digits, '-' or '_'."""


class AlreadyAnswered(ValueError):
    """This rater has already answered this item (the first answer stands)."""


def check_rater(name: Any) -> str:
    """`name` if it is a valid rater name (it becomes a file name), else RaterNameError."""
    if not isinstance(name, str) or not RATER_PATTERN.fullmatch(name):
        raise RaterNameError("A rater name is 1 to 40 letters, digits, '-' or '_' (no spaces), e.g. alice or rater_2")
    return name


def check_choice(choice: Any, k: int) -> int | str:
    """A valid choice: a position 0..k-1 or "not-a-face"; else ValueError."""
    if choice == NOT_A_FACE:
        return NOT_A_FACE
    if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < k:
        raise ValueError(f'choice must be a face position 0..{k - 1} or "{NOT_A_FACE}", got {choice!r}')
    return choice


def answer_record(item: LineupItem, choice: int | str) -> dict[str, Any]:
    """What is stored for one answer."""
    chosen = None if choice == NOT_A_FACE else item.choices[int(choice)]
    return {
        "item": item.id,
        "choice": choice,
        "chosen_person": chosen,
        "person": item.person,
        "correct": chosen == item.person,
        "not_a_face": choice == NOT_A_FACE,
        "k": item.k,
        "level": item.level,
        "level_label": item.level_label,
        "attack": item.attack,
        "seed": item.seed,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_answer_file(path: Path) -> dict[str, Any]:
    """One rater's file (an empty one when it does not exist). Raises ValueError when it is not one."""
    if not path.is_file():
        return {"format": ANSWERS_FORMAT, "version": ANSWERS_VERSION, "rater": path.stem, "answers": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable lineup answer file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != ANSWERS_FORMAT or not isinstance(data.get("answers"), list):
        raise ValueError(f"{path} is not a dpmi lineup answer file")
    return data


class AnswerStore:
    """The answer files of one run directory (RUN_DIR/lineups/<rater>.json)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.directory = Path(run_dir) / LINEUPS_DIR
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def path(self, rater: str) -> Path:
        return self.directory / f"{check_rater(rater)}.json"

    @contextlib.contextmanager
    def _rater_lock(self, rater: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(rater, threading.Lock())
        with lock:
            if fcntl is None:
                yield
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / f".{rater}.lock", "a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def answers(self, rater: str) -> dict[str, dict[str, Any]]:
        """Item id -> the rater's answer record (none when they have not rated)."""
        data = read_answer_file(self.path(rater))
        return {str(a.get("item")): a for a in data["answers"] if isinstance(a, dict)}

    def record(self, rater: str, item: LineupItem, choice: int | str) -> int:
        """Store `rater`'s answer to `item` and return how many answers they have now.

        Raises:
            RaterNameError: a bad rater name. ValueError: a bad choice.
            AlreadyAnswered: the rater has answered this item already (nothing is written).
        """
        path = self.path(rater)
        choice = check_choice(choice, item.k)
        with self._rater_lock(rater):
            data = read_answer_file(path)
            if any(isinstance(a, dict) and a.get("item") == item.id for a in data["answers"]):
                raise AlreadyAnswered(f"{rater} has already answered this item")
            data["answers"].append(answer_record(item, choice))
            data["rater"] = rater
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, data)
            return len(data["answers"])


def rater_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Every rater's answer file of RUN_DIR, by name."""
    directory = Path(run_dir) / LINEUPS_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if RATER_PATTERN.fullmatch(p.stem))
