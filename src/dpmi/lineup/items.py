"""Lineup items from a run directory: one per saved reconstruction (level x seed x attack x attacked person).

Each item shows one reconstruction beside k real faces (the run's per-person mean training faces): the true
person and k-1 other private people, in random positions. What the page may see of an item is its opaque id
and its image URLs; the truth, the level and the attack stay on the server (and in the rater's answer file).

Ids are a keyed hash (HMAC-SHA256) of the item's coordinates and the lineup settings (k, seed), keyed by a
secret kept in RUN_DIR/lineups/.key (made on first use): stable across restarts, so a rater resumes, and not
computable by someone who sees only the page.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.study.records import CellRecord
from dpmi.study.store import MEAN_FACES

LINEUPS_DIR = "lineups"
KEY_FILE = ".key"
NOT_A_FACE = "not-a-face"


@dataclass(frozen=True)
class LineupItem:
    """One lineup.

    Attributes:
        id: opaque item id (16 hex digits); the page knows the item only by it.
        level / level_label: the privacy level's key and label (never sent to the page).
        seed: the cell's seed. attack: the attack's name. row: the row of the reconstruction in its attack's
            array (cells/<level>__seed<k>.npy[attack index, row]); attack_index: that attack index.
        person: the true person (the private label the reconstruction was made for).
        choices: the k people shown, in display order (private labels); `person` is among them exactly once.
    """

    id: str
    level: str
    level_label: str
    seed: int
    attack: str
    attack_index: int
    row: int
    person: int
    choices: tuple[int, ...]

    @property
    def k(self) -> int:
        return len(self.choices)

    @property
    def truth(self) -> int:
        """The position (0..k-1) of the true person among the choices."""
        return self.choices.index(self.person)


class LineupItems(list[LineupItem]):
    """build_items' answer: the items in rating order, plus what they were built from.

    k: faces per lineup; seed: the shuffling seed; people: how many private people have a real face;
    skipped: reconstructions left out because their attack recorded no reconstruction ("no_reconstruction").
    """

    def __init__(self, items: Iterable[LineupItem], *, k: int, seed: int, people: int, skipped: int) -> None:
        super().__init__(items)
        self.k, self.seed, self.people, self.skipped = k, seed, people, skipped


def lineup_key(run_dir: str | os.PathLike[str]) -> bytes:
    """This run's secret id key (RUN_DIR/lineups/.key, 32 random bytes as hex), made once, race-free."""
    directory = Path(run_dir) / LINEUPS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE
    if not path.is_file():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
    for _ in range(50):  # another process may be between creating and writing it
        text = path.read_text(encoding="ascii").strip()
        if len(text) == 64:
            return bytes.fromhex(text)
        import time

        time.sleep(0.01)
    raise ValueError(f"{path} is not a lineup key (64 hex digits): delete it to make a new one")


def item_id(key: bytes, *parts: Any) -> str:
    message = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class _Row:
    level: str
    level_label: str
    seed: int
    attack: str
    attack_index: int
    row: int
    person: int


def _cells(run_dir: Path) -> list[tuple[CellRecord, Path]]:
    cells_dir = run_dir / "cells"
    found: list[tuple[CellRecord, Path]] = []
    for path in sorted(cells_dir.glob("*.json")) if cells_dir.is_dir() else []:
        npy = path.with_suffix(".npy")
        if not npy.is_file():
            continue
        try:
            import json

            cell = CellRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # unreadable or unfinished: not a reconstruction anyone can rate
        found.append((cell, npy))
    return found


def level_order(run_dir: str | os.PathLike[str]) -> list[str]:
    """The run's level keys in its own order (results.json's levels), or [] when it has none yet."""
    import json

    path = Path(run_dir) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [str(level["key"]) for level in data.get("levels", [])]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []


def reconstruction_stack(npy: Path) -> np.ndarray:
    """A cell's reconstructions as [attacks, people, C, H, W] (format-1 cells: [people, H, W])."""
    stacked = np.load(npy, mmap_mode="r", allow_pickle=False)
    if stacked.ndim == 3:
        stacked = stacked[None, :, None]
    elif stacked.ndim == 4:
        stacked = stacked[None]
    if stacked.ndim != 5:
        raise ValueError(f"{npy} holds an array of shape {stacked.shape}, not [attacks, people, C, H, W]")
    return stacked


def _rows(run_dir: Path) -> tuple[list[_Row], int]:
    rows: list[_Row] = []
    skipped = 0
    order = {key: i for i, key in enumerate(level_order(run_dir))}
    cells = sorted(_cells(run_dir), key=lambda c: (order.get(c[0].level.key, len(order)), c[0].level.key, c[0].seed))
    for cell, npy in cells:
        stacked = reconstruction_stack(npy)
        for index, (name, attack) in enumerate(cell.attacks.items()):
            if index >= stacked.shape[0]:
                break
            count = stacked.shape[1]
            labels = attack.per_label.get("label") or list(range(count))
            blank = attack.per_label.get("no_reconstruction") or []
            for row in range(min(count, len(labels))):
                if row < len(blank) and blank[row] is not None and bool(blank[row]):
                    skipped += 1
                    continue
                rows.append(_Row(cell.level.key, cell.level.label, cell.seed, name, index, row, int(labels[row])))
    return rows, skipped


def _order(rows: list[_Row], rng: np.random.Generator) -> list[_Row]:
    """A random order in which the same true person never comes twice in a row (where that is possible at
    all: with one person holding more than half the items it is not, and the repeats are then as few as can be)."""
    groups: dict[int, list[_Row]] = {}
    for row in rows:
        groups.setdefault(row.person, []).append(row)
    for group in groups.values():
        rng.shuffle(group)
    ordered: list[_Row] = []
    last: int | None = None
    remaining = len(rows)
    while remaining:
        people = [p for p, g in groups.items() if g]
        counts = {p: len(groups[p]) for p in people}
        biggest = max(counts.values())
        # Forced: a person who would otherwise run out of non-adjacent slots goes now (if allowed).
        forced = [p for p in people if counts[p] == biggest and 2 * biggest - 1 >= remaining and p != last]
        allowed = forced or [p for p in people if p != last] or people
        weights = np.array([counts[p] for p in allowed], dtype=np.float64)
        person = allowed[int(rng.choice(len(allowed), p=weights / weights.sum()))]
        ordered.append(groups[person].pop())
        last = person
        remaining -= 1
    return ordered


def load_real_faces(run_dir: str | os.PathLike[str], data: Any = None) -> np.ndarray:
    """The private people's real mean training faces, float32 [people, H, W] or [people, H, W, C] in [-1, 1]:
    RUN_DIR/mean_faces.npy, else computed from `data` (see `dpmi.lineup.faces.mean_faces_from_data`).

    Raises:
        ValueError: no mean_faces.npy and no `data`.
    """
    path = Path(run_dir) / MEAN_FACES
    if path.is_file():
        faces = np.load(path, allow_pickle=False)
    elif data is not None:
        from dpmi.lineup.faces import mean_faces_from_data

        faces = mean_faces_from_data(run_dir, data)
    else:
        raise ValueError(
            f"{path} does not exist: pass the faces the run used (data=..., `dpmi lineup --data DIR`) so the "
            "lineups can show the real people"
        )
    faces = np.asarray(faces, dtype=np.float32)
    if faces.ndim not in (3, 4) or len(faces) < 2:
        raise ValueError(f"real faces must be [people >= 2, H, W] or [people, H, W, C], got shape {faces.shape}")
    return faces


def build_items(
    run_dir: str | os.PathLike[str], k: int = 5, seed: int = 0, data: Any = None, *, faces: np.ndarray | None = None
) -> LineupItems:
    """One lineup item per saved reconstruction of RUN_DIR (every level, seed, attack and attacked person),
    in a shuffled order (by `seed`) with never the same true person twice in a row.

    k: faces per lineup, 2..people (the true person and k-1 other private people, positions random).
    data: the faces the run used, only needed when RUN_DIR has no mean_faces.npy. faces: the real faces when
    the caller already loaded them (`load_real_faces`).

    Raises:
        ValueError: no reconstructions in RUN_DIR, no real faces, k outside 2..people, or a reconstruction of a
            person with no real face.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ValueError(f"run directory {root} does not exist (pass the --out of a `dpmi run`)")
    rows, skipped = _rows(root)
    if not rows:
        more = f" ({skipped} attacks recorded no reconstruction)" if skipped else ""
        raise ValueError(f"{root} has no reconstructions: run dpmi run first (cells/*.npy){more}")
    real = load_real_faces(root, data) if faces is None else np.asarray(faces)
    people = len(real)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= int(k) <= people:
        raise ValueError(
            f"k (faces per lineup) must be an integer in 2..{people} (the run's private people), got {k!r}"
        )
    k = int(k)
    outside = sorted({r.person for r in rows if not 0 <= r.person < people})
    if outside:
        raise ValueError(f"reconstructions of people {outside} have no real face (mean_faces.npy has {people})")
    key = lineup_key(root)
    rng = np.random.default_rng([int(seed), k, 0x11E])
    items: list[LineupItem] = []
    for row in _order(rows, rng):
        others = [p for p in range(people) if p != row.person]
        chosen = [int(p) for p in rng.choice(others, size=k - 1, replace=False)]
        chosen.insert(int(rng.integers(k)), row.person)
        ident = item_id(key, "item", row.level, row.seed, row.attack, row.row, row.person, k, seed)
        items.append(
            LineupItem(
                ident,
                row.level,
                row.level_label,
                row.seed,
                row.attack,
                row.attack_index,
                row.row,
                row.person,
                tuple(chosen),
            )
        )
    return LineupItems(items, k=k, seed=int(seed), people=people, skipped=skipped)
