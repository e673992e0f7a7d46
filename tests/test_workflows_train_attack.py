"""`dpmi.workflows`: train a model on the private identities (sidecar says which), attack it from its file
with the registry's attacks, score it, and keep the results. On the synthetic faces: these tests are about
bookkeeping, not about what the faces show."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dpmi.data import make_synthetic_faces, select_identities
from dpmi.models.accuracy import accuracy
from dpmi.models.model_file import load_model
from dpmi.privacy.dpsgd import TrainConfig
from dpmi.workflows import attack_saved_model, default_attack_dir, train_model

CONFIG = TrainConfig(epochs=2, batch_size=8, noise_multiplier=1.0, seed=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_faces):
    out = tmp_path_factory.mktemp("model") / "target.pt"
    return train_model(out, data=synthetic_faces, config=CONFIG, train_per_class=4, split_seed=2)


def test_trains_on_the_private_identities_only_and_records_them(trained, synthetic_faces):
    meta = json.loads(trained.sidecar.read_text())
    private, public = meta["identities"]["private"], meta["identities"]["public"]
    half = synthetic_faces.num_classes // 2
    assert private == list(range(half)) and public == list(range(half, synthetic_faces.num_classes))
    assert meta["num_classes"] == half and meta["input_shape"] == [1, 28, 24]
    assert meta["train_config"] == {**CONFIG.__dict__}  # the whole recipe, for the audit
    assert meta["split"] == {"train_per_class": 4, "split_seed": 2}
    assert meta["data"]["root"] is None and len(meta["data"]["images_sha256"]) == 64
    # Poisson rate q = 8 / (4 identities x 4 images) and steps = ceil(2 / q) = 4.
    assert meta["sample_rate"] == pytest.approx(0.5) and meta["steps"] == 4
    assert meta["epsilon"]["pld"] <= meta["epsilon"]["rdp"] and meta["accounting_errors"] == {}
    assert meta["mode"] == "seeded"
    # The saved weights reproduce the recorded held-out accuracy on the same private split.
    model, _ = load_model(trained.path)
    _, test = select_identities(synthetic_faces, private).split(train_per_class=4, seed=2)
    assert accuracy(model, *test.to_tensors()) == pytest.approx(meta["test_accuracy"], abs=1e-12)


def test_a_failing_accountant_never_loses_the_trained_model(tmp_path, synthetic_faces, monkeypatch):
    from dpmi.privacy import accounting

    real = accounting.compute_epsilon

    def pld_out_of_memory(sigma, q, steps, delta, accountant="rdp"):
        if accountant == "pld":
            raise MemoryError("Unable to allocate 325. GiB for an array")
        return real(sigma, q, steps, delta, accountant=accountant)

    monkeypatch.setattr(accounting, "compute_epsilon", pld_out_of_memory)
    notes: list[str] = []
    result = train_model(tmp_path / "m.pt", data=synthetic_faces, config=CONFIG, train_per_class=4, log=notes.append)
    meta = json.loads(result.sidecar.read_text())
    assert result.path.is_file() and load_model(result.path)[0] is not None
    assert meta["epsilon"]["pld"] is None and meta["epsilon"]["rdp"] == pytest.approx(
        real(1.0, meta["sample_rate"], meta["steps"], 1e-5, accountant="rdp"))
    assert "MemoryError" in meta["accounting_errors"]["pld"] and len(notes) == 1 and "saved" in notes[0]


def test_attack_writes_files_beside_the_model_and_scores_private_faces(trained, synthetic_faces):
    report = attack_saved_model(trained.path, "mi-face", options={"max_iter": 15}, identities=[1, 3],
                                data=synthetic_faces, metrics=True)
    assert report.out_dir == default_attack_dir(trained.path, "mi-face") == trained.path.with_name("target-mi-face")
    assert set(report.files) == {"reconstructions.npy", "attack.json", "reconstructions.png"}
    for path in report.files.values():
        assert path.is_file() and path.stat().st_mode & 0o777 == 0o600  # reconstructions of private faces
    images = np.load(report.files["reconstructions.npy"])
    assert images.shape == (2, 1, 28, 24) and images.min() >= -1 and images.max() <= 1
    record = json.loads(report.files["attack.json"].read_text())
    assert record["identities"] == [1, 3] and record["options"]["max_iter"] == 15
    assert record["options"]["patience"] == 100  # the registry's default filled in
    # Scored against the PRIVATE training images: 4 identities, so chance is 1/4, and the verdicts are the
    # nearest-mean test's, recomputed here from the saved reconstructions.
    assert report.scores["chance_top1"] == pytest.approx(0.25)
    from dpmi.metrics import target_rank

    train, _ = select_identities(synthetic_faces, range(4)).split(train_per_class=4, seed=2)
    ranks = target_rank(torch.from_numpy(images), np.array([1, 3]), train.class_means())
    assert record["per_identity"]["nearest_mean_top1"] == [float(r <= 1) for r in ranks]
    # The figure's frames are the verdicts of the judge the calibration trusts, never the nearest-mean test's:
    # with no trusted judge (synthetic faces: no face detector finds these blobs) the frames carry no verdict.
    from dpmi.metrics import load_or_train_judges
    from dpmi.metrics.judge_trust import trusted_judges

    assert record["answer_judge"] == report.answer_judge
    if report.answer_judge is None:
        judges = load_or_train_judges(train, seed=0)
        assert trusted_judges(judges.calibration, judges.members) == []


def test_attack_refuses_public_identities_unknown_options_and_other_faces(trained, synthetic_faces):
    with pytest.raises(ValueError, match="public"):
        attack_saved_model(trained.path, identities=[5], data=synthetic_faces, save=False)
    with pytest.raises(ValueError, match="takes no option 'bogus'"):
        attack_saved_model(trained.path, options={"bogus": 1}, data=synthetic_faces, save=False)
    other = make_synthetic_faces(num_identities=8, per_identity=6, image_shape=(28, 24), seed=9)
    with pytest.raises(ValueError, match="not the ones the model was trained on"):
        attack_saved_model(trained.path, data=other, save=False, metrics=False)


def test_an_unwritable_output_fails_before_the_attack(trained, synthetic_faces, tmp_path, monkeypatch):
    from dpmi.attacks import registry

    def never(*args, **kwargs):
        raise AssertionError("the attack ran although its output directory cannot be written")

    monkeypatch.setattr(registry, "make_attack", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be written|is a file"):
        attack_saved_model(trained.path, out=blocker / "results", data=synthetic_faces)
    with pytest.raises(ValueError, match="is a file"):
        attack_saved_model(trained.path, out=blocker, data=synthetic_faces)
    assert blocker.read_text() == "x"


def test_scores_are_worded_with_the_stated_chance_test():
    from scipy.stats import binom

    from dpmi.workflows.attack_model import score_lines

    lines = dict(score_lines({"num_labels": 40.0, "chance_top1": 0.025, "chance_top5": 0.125,
                              "nearest_mean_top1": 3 / 40, "eval_acc1": 6 / 40, "psnr_mean_face": 11.5,
                              "knn_dist": float("nan")}))
    from dpmi.metrics import SUMMARY_DESCRIPTIONS

    # 3 of 40 at chance 1/40: one-sided binomial p = P(X >= 3) = 0.078 > 0.05 -> "near chance"; 6 of 40: above.
    assert binom.sf(2, 40, 0.025) == pytest.approx(0.078, abs=1e-3)
    assert "3/40 = 7.5 %" in lines[SUMMARY_DESCRIPTIONS["nearest_mean_top1"]]
    assert "near chance" in lines[SUMMARY_DESCRIPTIONS["nearest_mean_top1"]]
    assert "6/40" in lines[SUMMARY_DESCRIPTIONS["eval_acc1"]] and "above chance" in lines[SUMMARY_DESCRIPTIONS["eval_acc1"]]
    assert lines[SUMMARY_DESCRIPTIONS["psnr_mean_face"]] == "11.5"
    assert SUMMARY_DESCRIPTIONS["knn_dist"] not in lines  # NaN (no judge): not printed as a number


def test_prior_attacks_get_the_public_identities_only(trained, synthetic_faces, monkeypatch):
    from dpmi.attacks import registry

    seen = {}
    real = registry.make_attack

    def spy(name, model, *, public=None, **kwargs):
        seen["public"] = public
        return real(name, model, public=public, **kwargs)

    monkeypatch.setattr(registry, "make_attack", spy)
    report = attack_saved_model(trained.path, "pca-prior", data=synthetic_faces, save=False, metrics=False,
                                options={"steps": 3, "candidates": 8, "restarts": 1, "components": 4})
    public = select_identities(synthetic_faces, range(4, 8))
    assert np.array_equal(seen["public"].images, public.images)  # the sidecar's public identities, nothing else
    assert report.images.shape == (4, 1, 28, 24) and report.identities == [0, 1, 2, 3]


def test_a_model_from_before_the_identity_split_is_attacked_on_all_its_identities(tmp_path):
    from dpmi.models import build_model
    from dpmi.models.model_file import save_model

    path = tmp_path / "old.pt"
    save_model(build_model("softmax", num_classes=3, input_shape=(1, 8, 6), seed=0), path,
               {"model": "softmax", "num_classes": 3, "input_shape": [1, 8, 6]})
    report = attack_saved_model(path, options={"max_iter": 2}, save=False, metrics=False, data=tmp_path / "none")
    assert report.identities == [0, 1, 2]
    with pytest.raises(ValueError, match="records none"):
        attack_saved_model(path, "pca-prior", save=False, metrics=False)


def linear_factory(num_classes: int, input_shape: tuple[int, int, int]) -> torch.nn.Module:
    """A user model for the test below (importable as test_workflows_train_attack:linear_factory)."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(input_shape)), num_classes))


def test_a_user_factory_model_trains_saves_and_is_attacked(tmp_path, synthetic_faces):
    spec = f"{__name__}:linear_factory"
    trained = train_model(tmp_path / "user.pt", data=synthetic_faces, model=spec, train_per_class=4,
                          config=TrainConfig(epochs=1, batch_size=8, noise_multiplier=0.5))
    assert json.loads(trained.sidecar.read_text())["model"] == spec
    report = attack_saved_model(trained.path, options={"max_iter": 2}, data=synthetic_faces, save=False,
                                metrics=False)
    assert report.images.shape == (4, 1, 28, 24)


def test_the_attack_logs_its_start_and_end_instead_of_a_bar_with_a_jumping_total(trained, synthetic_faces, capsys):
    """Issue 23: `dpmi attack`'s bar counted the target's forward calls and its total jumped (11/302, then 12/12).
    The attack now says one line as it starts and one as it ends, and draws no bar of its own."""
    lines: list[str] = []
    attack_saved_model(trained.path, "mi-face", options={"max_iter": 5}, identities=[1], data=synthetic_faces,
                       save=False, metrics=False, progress=True, log=lines.append)
    assert lines[0] == "mi-face (white-box access) on 1 person (person 1) ..."  # synthetic faces: unnamed
    assert lines[-1].startswith("mi-face finished in ") and lines[-1].endswith(" s")
    assert "query" not in capsys.readouterr().err  # no forward-call bar ("... query/s") on stderr
