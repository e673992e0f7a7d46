"""Attack a model saved by `train_model` (or `dpmi train`) with any registered attack, score it, keep the files.

    from dpmi.workflows import attack_saved_model
    report = attack_saved_model("model.pt", attack="mi-face", options={"max_iter": 100})
    print(report.scores["nearest_mean_top1"], report.out_dir)   # files beside the model by default

What `dpmi attack` does, as a library call. Everything comes from the model's sidecar: the private
identities the target was trained on (the ones attacked and scored), the public ones (the attacker's
faces, for attacks with a prior), the train/held-out split, and the faces it was trained on (checked by
their SHA-256 before use). Scores come from `dpmi.metrics.evaluate_inversion` on the private training
images, with the evaluation classifier trained on those images.

The output directory is created and checked writable before the attack runs, and the results are written
there: reconstructions.npy, attack.json (settings, scores, per-identity scores) and reconstructions.png.
They hold reconstructions of private faces: files are created readable by their owner only (0600).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dpmi.data import FaceDataset

GRID_COLUMNS = 10  # identities drawn in reconstructions.png (the first ones attacked)
PERSONAL_DATA = (
    "these files hold reconstructions of private faces (personal data); they are created readable "
    "by their owner only (0600): share them only as you would the training images"
)


def _chance_key(key: str) -> str | None:
    """The guessing rate an identification rate is read against (every judge's acc@1 / acc@5, nearest mean)."""
    if key.endswith(("_acc1", "_top1")):
        return "chance_top1"
    if key.endswith(("_acc5", "_top5")):
        return "chance_top5"
    return None


def _is_rate(key: str) -> bool:
    """Other shares in 0..1, shown as percent (held-out accuracies, face detection, verification, collapse)."""
    return key.endswith(("_test_acc", "_detected", "_verified", "_top_answer_share", "no_reconstruction")) or key in (
        "attack_confidence",
        "evaluator_test_acc",
    )


def score_lines(scores: Mapping[str, float]) -> list[tuple[str, str]]:
    """(what the score means, its value in words) for every finite score, for people to read.

    Identification rates are given as hits of n with their 95 % interval and the one-sided binomial test
    against guessing ("above chance" / "near chance", the words the report uses); the meanings come from
    `dpmi.metrics.SUMMARY_DESCRIPTIONS`.
    """
    import math

    from dpmi.metrics import chance_verdict, summary_descriptions

    descriptions = summary_descriptions()
    lines: list[tuple[str, str]] = []
    count = round(scores.get("num_labels", 0))
    for key, value in scores.items():
        if key in ("num_labels", "chance_top1", "chance_top5") or not math.isfinite(value):
            continue
        meaning = descriptions.get(key, key.replace("_", " "))
        chance = _chance_key(key)
        if chance is not None and count >= 1 and chance in scores and 0 < scores[chance] < 1:
            lines.append((meaning, chance_verdict(round(value * count), count, scores[chance]).describe()))
        elif chance is not None or _is_rate(key):
            lines.append((meaning, f"{100 * value:.1f} %"))
        else:
            lines.append((meaning, f"{value:.4g}"))
    return lines


@dataclass(frozen=True)
class AttackReport:
    """What `attack_saved_model` did and found.

    Attributes:
        model_path: the attacked weights file.
        attack: the registered attack's name. options: every option it ran with (defaults filled in).
        identities: the attacked identities (dataset labels, numbered from 0, as in the sidecar).
        labels: the same identities as the model's labels (row k attacks label labels[k]).
        images: float32 [K, C, H, W] reconstructions in the model's input range ([-1, 1] for dpmi's faces).
        confidence: float [K], the target's probability of its label at each reconstruction.
        diagnostics: the attack's own scalar summary (e.g. mean iterations).
        scores: `dpmi.metrics.evaluate_inversion`'s means (meanings: `dpmi.metrics.SUMMARY_DESCRIPTIONS`;
            `score_lines` puts them in words); {} when not scored.
        per_identity: per-row scores (lists of K values); {} when not scored.
        answer_judge: the judge whose verdicts the figure shows: the first the calibration trusts
            (`dpmi.metrics.judge_trust`), None when none passed (the figure then says so).
        out_dir: where the files went (None: nothing written). files: name -> path of every file written.
        access: what the attacker read of the target ("white-box", "scores", "labels"). queries: images sent
            to the target (None for white-box). query_budget: the budget per identity (None: none).
        people: the attacked identities' person names, as the study's grid names them (`attacked_people`).
    """

    model_path: Path
    attack: str
    options: dict[str, Any]
    identities: list[int]
    labels: list[int]
    images: np.ndarray
    confidence: np.ndarray
    diagnostics: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    per_identity: dict[str, list[Any]] = field(default_factory=dict)
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    answer_judge: str | None = None
    access: str = "white-box"
    queries: int | None = None
    query_budget: int | None = None
    people: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and inf become null): what `dpmi attack --json` prints and attack.json holds,
        without the images."""
        from dpmi.metrics import summary_descriptions
        from dpmi.study.store import json_safe

        descriptions = summary_descriptions()
        return json_safe(
            {
                "model": str(self.model_path),
                "attack": self.attack,
                "access": self.access,
                "queries": self.queries,
                "queries_per_identity": None if self.queries is None else self.queries / max(len(self.labels), 1),
                "query_budget": self.query_budget,
                "options": self.options,
                "identities": self.identities,
                "people": self.people,
                "labels": self.labels,
                "confidence": self.confidence.tolist(),
                "mean_confidence": float(np.mean(self.confidence)),
                "diagnostics": self.diagnostics,
                "scores": self.scores,
                "score_descriptions": {k: descriptions[k] for k in self.scores if k in descriptions},
                "per_identity": self.per_identity,
                "answer_judge": self.answer_judge,
                "out_dir": None if self.out_dir is None else str(self.out_dir),
                "files": {name: str(path) for name, path in self.files.items()},
                "personal_data": PERSONAL_DATA if self.files else None,
            }
        )


def default_attack_dir(model_path: str | os.PathLike[str], attack: str) -> Path:
    """Where results go by default: beside the model, `<model stem>-<attack>/` (model.pt -> model-mi-face/)."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}-{attack}")


def attack_saved_model(
    path: str | os.PathLike[str] | None,
    attack: str | None = None,
    *,
    access: str | None = None,
    query_budget: int | None = None,
    target: str | None = None,
    target_outputs: str = "probabilities",
    options: Mapping[str, Any] | None = None,
    identities: Sequence[int] | None = None,
    out: str | os.PathLike[str] | None = None,
    save: bool = True,
    data: str | os.PathLike[str] | FaceDataset | None = None,
    metrics: bool = True,
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> AttackReport:
    """Run the registered `attack` against the model saved at `path`, score it, write its files.

    Args:
        path: a weights file written by `train_model` / `dpmi train` (with its .json sidecar). With `target`
            its sidecar says who the classes are and which faces; None with `target`: the faces `data` (or
            $DPMI_DATA) split as `dpmi train` splits them (the first half of the people private, class k =
            private person k, 7 training images each, split seed 0).
        attack: one of `dpmi.attacks.available_attacks()`; default the access level's default attack
            (`DEFAULT_ATTACKS`: white-box mi-face, scores pca-prior-bb, labels brep-mi).
        access: what the attacker gets of the target, "white-box", "scores" or "labels"
            (`dpmi.attacks.access`); default the attack's own. An attack that needs more (a white-box attack on
            a scores-only target) is a ValueError before anything is written.
        query_budget: the most queries (images) per attacked identity, scores and labels access only (the
            target refuses queries past it; the attack's `query_budget` option is set to it unless given); a
            budget below one step of the attack is a ValueError before any query.
        target: "pkg.module:predict", a user's model behind a Python callable ([B, C, H, W] images in [-1, 1]
            -> [B, classes] scores, or [B] labels for labels access), instead of the saved weights
            (`dpmi.attacks.access.load_callable_target`: it is probed once; one that raises or returns the
            wrong shape is a ValueError). target_outputs: "probabilities" or "logits", what it returns.
        options: the attack's options (`dpmi.attacks.registry.attack_spec(attack).defaults` lists them with
            their defaults); an option it does not take is a ValueError.
        identities: dataset identities (from 0, as in the sidecar's "identities") to attack; default every
            private identity. A public identity is refused: the model never saw it.
        out: directory for the results; default `default_attack_dir(path, attack)`, beside the model.
        save: False writes nothing (`out` is then ignored).
        data: the faces the model was trained on: a directory or a `FaceDataset`; default the directory
            the sidecar records, else `$DPMI_DATA`, else the cache. Checked against the sidecar's SHA-256.
        metrics: False skips the scores (no evaluation classifier is trained).
        device: torch device for the attack and the scores.
        progress: show the judges' progress bars on stderr and log a line as the attack starts and one as it ends.
        log: where one-line notes go; default nowhere.

    Raises:
        ValueError: unknown attack or option, an identity that is not private, an output directory that
            cannot be written (checked before the attack), faces other than the training ones, a file that is
            not a dpmi model. FileNotFoundError: no model file, or no faces where needed.
    """

    from dpmi.attacks.access import WhiteBox, from_module
    from dpmi.attacks.registry import attack_spec, make_attack, resolve_options
    from dpmi.models.model_file import load_model
    from dpmi.study.config import check_device
    from dpmi.workflows.output_dir import prepare_output_dir, remove_empty_dirs
    from dpmi.workflows.saved_model_faces import sidecar_identities

    note = log or (lambda message: None)
    attack, access = choose_attack(attack, access, target=target, query_budget=query_budget)
    spec = attack_spec(attack)
    options = dict(options or {})
    if query_budget is not None and "query_budget" in spec.defaults and "query_budget" not in options:
        options["query_budget"] = int(query_budget)
    resolved = resolve_options(attack, options)
    check_device(device)
    if target is not None and path is None:
        model, metadata = None, callable_metadata(data, target)
    elif path is None:
        raise ValueError("the following arguments are required: MODEL (or --target PKG.MODULE:FUNCTION)")
    elif target is not None:
        from dpmi.models.model_file import read_sidecar

        model, metadata = None, read_sidecar(path)
    else:
        model, metadata = load_model(path, device)
    private_ids, public_ids = sidecar_identities(metadata)
    chosen = list(private_ids) if identities is None else [int(i) for i in identities]
    _check_identities(chosen, private_ids, public_ids)
    labels = [private_ids.index(i) for i in chosen]
    if spec.needs_public and not public_ids:
        raise ValueError(
            f"attack {attack!r} learns a face prior from public identities, and {path} records none "
            "(it was trained on every identity): retrain it with `dpmi train`, which keeps half of "
            "the identities public"
        )

    shape = _shape(metadata["input_shape"])
    budget = None if query_budget is None else int(query_budget) * len(labels)
    victim: Any
    if target is not None or model is None:
        victim = _callable_target(str(target), access, len(private_ids), shape, budget, target_outputs)
    else:
        victim = from_module(model, access, input_shape=shape, num_classes=int(metadata["num_classes"]), budget=budget)
    where = path if path is not None else Path.cwd() / str(target).rpartition(":")[2]
    out_dir = (Path(out) if out is not None else default_attack_dir(where, attack)) if save else None
    created = prepare_output_dir(out_dir, what="output directory") if out_dir is not None else []
    try:
        private_train, private_test, public, mean_faces = _faces(
            metadata, data, need=metrics or spec.needs_public, note=note
        )
        people = attacked_people(chosen, labels, private_train, metadata)
        built = make_attack(attack, victim, public=public, input_shape=shape, device=device, **resolved)
        # One line when the attack starts and one when it ends: its iterations run inside the attack (batched,
        # often on a functional copy of the model), so a bar counting the target's forward calls counted the
        # wrong thing and its total jumped (11/302, then 12/12).
        # Progress lines, so `progress=False` (--no-progress) leaves stderr to the one error line, if any.
        if progress:
            note(f"{attack} ({access} access) on {count_people(len(people))} ({people_list(people)}) ...")
        started = time.perf_counter()
        result = built.invert(labels)
        if progress:
            note(f"{attack} finished in {time.perf_counter() - started:.1f} s")
        scores: dict[str, float] = {}
        per_identity: dict[str, list[Any]] = {}
        answer: str | None = None
        if metrics and private_train is not None:
            from dpmi.metrics import evaluate_inversion
            from dpmi.metrics.judge_trust import trusted_judges

            judges = _judges(private_train, private_test, device, note, progress, public)
            answer = next(iter(trusted_judges(judges.calibration, judges.members)), None)
            full = evaluate_inversion(result, private_train, judges)
            per_label = full.pop("per_label", {})
            scores = {k: float(v) for k, v in full.items() if isinstance(v, (int, float, np.floating))}
            per_identity = {k: np.asarray(v).tolist() for k, v in per_label.items()}
        images = result.images.detach().to("cpu").float().numpy()
        confidence = np.asarray(result.confidence, dtype=np.float64)  # the AttackResult contract
        diagnostics = {k: float(v) for k, v in result.summary().items()}
        report = AttackReport(
            Path(path) if path is not None else Path(str(target)),
            attack,
            dict(resolved),
            chosen,
            labels,
            images,
            confidence,
            diagnostics,
            scores,
            per_identity,
            out_dir,
            answer_judge=answer if metrics and private_train is not None else None,
            access=access,
            queries=None if isinstance(victim, WhiteBox) else int(victim.queries),
            query_budget=None if query_budget is None else int(query_budget),
            people=people,
        )
        if out_dir is None:
            return report
        files = _write(report, out_dir, metadata, mean_faces)
    except BaseException:
        remove_empty_dirs(created)
        raise
    return replace(report, files=files)


# The attack `dpmi attack` runs at each access level when none is named (the study's, docs/results/access.md).
DEFAULT_ATTACKS = {"white-box": "mi-face", "scores": "pca-prior-bb", "labels": "brep-mi"}


def choose_attack(
    attack: str | None, access: str | None, *, target: str | None = None, query_budget: int | None = None
) -> tuple[str, str]:
    """(attack, access) for `dpmi attack`: the access level's default attack, or the attack's own access; a
    ValueError, before anything runs or is written, when the attack needs more than the access gives, a
    callable target is asked for white-box access, or a query budget is given for white-box access."""
    from dpmi.attacks.access import ACCESS_LEVELS
    from dpmi.attacks.registry import ATTACKS, attack_spec

    if access is not None and access not in ACCESS_LEVELS:
        raise ValueError(f"--access must be one of {', '.join(ACCESS_LEVELS)}, got {access!r}")
    if access is None and target is not None and (attack is None or attack_spec(attack).access == "white-box"):
        access = "scores"  # a callable answers queries: it never gives gradients
    chosen = attack if attack is not None else DEFAULT_ATTACKS[access or "white-box"]
    needs = attack_spec(chosen).access
    access = access or needs
    if ACCESS_LEVELS.index(needs) < ACCESS_LEVELS.index(access):
        fitting = [
            name for name, spec in ATTACKS.items() if ACCESS_LEVELS.index(spec.access) >= ACCESS_LEVELS.index(access)
        ]
        raise ValueError(
            f"attack {chosen!r} needs {needs} access but the target gives only {access} access"
            + (" (a --target callable answers queries, it has no gradients)" if target is not None else "")
            + f": choose an attack for {access} access ({', '.join(fitting)})"
        )
    if target is not None and access == "white-box":
        raise ValueError("a --target callable gives scores or labels access (--access scores or labels), not white-box")
    if query_budget is not None:
        if access == "white-box":
            raise ValueError("--query-budget applies to scores or labels access (--access scores or labels)")
        if int(query_budget) != query_budget or query_budget < 1:
            raise ValueError(f"--query-budget must be an integer >= 1 (queries per identity), got {query_budget}")
    return chosen, access


def callable_metadata(data: Any, target: str) -> dict[str, Any]:
    """A sidecar for a user's callable target without a saved model: the faces of `data` (default $DPMI_DATA,
    else the cache) split as `dpmi train` splits them (`dpmi.data.split_identities`: the first half private)."""
    from dpmi.data import load_faces, resolve_data_root, split_identities

    faces = data if isinstance(data, FaceDataset) else load_faces(resolve_data_root(data))
    split = split_identities(faces)
    shape = (
        (split.private.channels, *split.private.image_shape)
        if hasattr(split.private, "channels")
        else (1, *split.private.image_shape)
    )
    return {
        "model": target,
        "num_classes": len(split.private_ids),
        "input_shape": list(shape),
        "identities": {"private": list(split.private_ids), "public": list(split.public_ids)},
        "split": {"train_per_class": 7, "split_seed": 0},
        "data": {
            **({} if isinstance(data, FaceDataset) else {"root": str(resolve_data_root(data))}),
            "names": None if faces.names is None else list(faces.names),
        },
    }


def _callable_target(
    spec: str, access: str, classes: int, shape: tuple[int, int, int], budget: int | None, outputs: str
) -> Any:
    """`dpmi.attacks.access.load_callable_target`, whose failures during the attack are reported as the
    target's (a ValueError naming `spec`), not as dpmi's."""
    from dpmi.attacks.access import load_callable_target

    loaded = load_callable_target(spec, access, num_classes=classes, input_shape=shape, budget=budget, outputs=outputs)
    user = loaded.predict

    def guarded(images: Any) -> Any:
        try:
            return user(images)
        except Exception as error:  # the user's code: any failure is the target's
            raise ValueError(f"the target {spec!r} failed on a query: {type(error).__name__}: {error}") from error

    loaded.predict = guarded
    return loaded


def _shape(values: Sequence[Any]) -> tuple[int, int, int]:
    channels, height, width = (int(v) for v in values)
    return channels, height, width


def _check_identities(chosen: list[int], private_ids: list[int], public_ids: list[int]) -> None:
    if not chosen:
        raise ValueError("no identities to attack: give at least one")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"identities repeat: {chosen}")
    public = [i for i in chosen if i in public_ids]
    if public:
        raise ValueError(
            f"identities {public[:5]} are public (the attacker's faces), not ones the model was trained "
            f"on: attack its private identities, {identity_ranges(private_ids)}"
        )
    unknown = [i for i in chosen if i not in private_ids]
    if unknown:
        raise ValueError(
            f"identities {unknown[:5]} are not among the model's private identities "
            f"{identity_ranges(private_ids)} (identities are numbered from 0)"
        )


def attacked_people(
    identities: Sequence[int], labels: Sequence[int], private_train: FaceDataset | None, metadata: dict[str, Any]
) -> list[str]:
    """The person names of the attacked dataset `identities` (model labels `labels`), by
    `dpmi.data.person_name` as the study's grid names them: the faces' own names (a folder's person folders;
    the AT&T faces: identity i is s{i+1}), from the faces when they were loaded, else from the sidecar's record
    of them, else "person {identity}"."""
    from dpmi.data import person_name

    if private_train is not None and private_train.names is not None:  # label k is names[k]
        return [person_name(int(label), private_train.names) for label in labels]
    recorded = (metadata.get("data") or {}).get("names")  # every dataset identity's name, by identity
    return [person_name(int(i), recorded) for i in identities]


def count_people(count: int) -> str:
    """1 -> "1 person", 3 -> "3 people"."""
    return f"{count} person" if count == 1 else f"{count} people"


def people_list(people: Sequence[str], most: int = 8) -> str:
    """["s1", "s2", "s3"] -> "s1, s2, s3"; more than `most`: the first few, "...", and the last."""
    if len(people) <= most:
        return ", ".join(people)
    return ", ".join([*people[: most - 2], "...", people[-1]])


def identity_ranges(ids: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def _faces(metadata: dict[str, Any], data: Any, *, need: bool, note: Callable[[str], None]):
    """(private train, private held-out, public, mean faces of the private train) of the saved model.

    Without `need` (no scores, no prior) missing faces are not an error: everything is None and the figure
    goes without its mean-face row.
    """
    from dpmi.workflows.saved_model_faces import load_saved_model_faces

    try:
        faces = load_saved_model_faces(metadata, data)
    except FileNotFoundError:
        if need:
            raise
        note("faces not found: no scores and no mean faces in the figure")
        return None, None, None, None
    train = faces.private_train
    return train, faces.private_heldout, faces.public, train.class_means() / 127.5 - 1.0


def _judges(
    train: FaceDataset,
    test: FaceDataset | None,
    device: str,
    note: Callable[[str], None],
    progress: bool,
    public: FaceDataset | None = None,
):
    """Every registered judge for the private identities (from the artefact cache when built before),
    calibrated with the optimised-image probes when the public people are at hand."""
    from dpmi.metrics import load_or_train_judges

    bar: Any = None

    def advance(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(
                total=total, desc="training the judges", unit="epoch", file=sys.stderr, dynamic_ncols=True, disable=None
            )
        bar.update(done - bar.n)

    try:
        return load_or_train_judges(
            train, test=test, seed=0, device=device, log=note, progress=advance if progress else None, public=public
        )
    finally:
        if bar is not None:
            bar.close()


def _write(
    report: AttackReport, out_dir: Path, metadata: dict[str, Any], mean_faces: np.ndarray | None
) -> dict[str, Path]:
    from dpmi.atomic_files import atomic_save_npy, atomic_write_bytes, atomic_write_json
    from dpmi.data import person_name
    from dpmi.workflows.attack_figure import attack_grid

    files = {name: out_dir / name for name in ("reconstructions.npy", "attack.json", "reconstructions.png")}
    atomic_save_npy(files["reconstructions.npy"], report.images.astype(np.float32))
    shown = slice(0, GRID_COLUMNS)
    key = f"{report.answer_judge}_top1" if report.answer_judge else None
    hits = report.per_identity.get(key) if key else None
    judge = _judge_label(report.answer_judge) if hits is not None else None
    figure = attack_grid(
        report.images[shown],
        report.people[shown] if report.people else [person_name(i, None) for i in report.identities[shown]],
        mean_faces=None if mean_faces is None else _layout_like(mean_faces[report.labels[shown]], report.images),
        correct=None if hits is None else np.asarray(hits[shown]) > 0.5,
        judge=judge,
        title=f"{report.attack} against {report.model_path.name} ({metadata.get('model')}), "
        f"{count_people(len(report.identities))} attacked"
        + (f", first {GRID_COLUMNS} shown" if len(report.identities) > GRID_COLUMNS else ""),
    )
    atomic_write_bytes(files["reconstructions.png"], figure)
    record = {
        **report.to_dict(),
        "files": {k: str(v) for k, v in files.items()},
        "sidecar": metadata,
        "personal_data": PERSONAL_DATA,
    }
    from dpmi.study.store import json_safe

    atomic_write_json(files["attack.json"], json_safe(record))
    return files


def _judge_label(name: str | None) -> str:
    from dpmi.metrics.judge_registry import JUDGES

    return JUDGES.get(name).label if name and name in JUDGES else str(name)


def _layout_like(means: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Mean faces [K, H, W] or [K, H, W, C] -> the images' [K, C, H, W] layout."""
    return means[:, None] if means.ndim == 3 else np.moveaxis(means, -1, 1)
