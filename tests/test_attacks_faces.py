"""Headline numbers on the real faces: the prior attacks against softmax targets trained by dpmi on the 20
private identities (identities 0-19; the priors see only identities 20-39), scored by both judges of
`dpmi.metrics` (an evaluation CNN and an LBP face matcher, trained on the private images only).

Every attack runs with its registered defaults. Chance is 1/20 = 0.05. Slow: trains two targets, reads
the judges and the GAN prior from the cache (training them when cold), runs six attacks."""

from __future__ import annotations

import pytest
import torch

from dpmi.attacks import make_attack
from dpmi.data import split_identities
from dpmi.metrics import evaluate_inversion, load_or_train_judges
from dpmi.models import build_model
from dpmi.privacy.accounting import get_noise_multiplier
from dpmi.privacy.accounting.steps import dpsgd_steps
from dpmi.privacy.dpsgd import TrainConfig, train

pytestmark = pytest.mark.slow
ATTACKS = ("mi-face", "pca-prior", "gmi")


@pytest.fixture(scope="module")
def identities(faces):
    return split_identities(faces)


@pytest.fixture(scope="module")
def private_split(identities):
    return identities.private.split(train_per_class=7, seed=0)


@pytest.fixture(scope="module")
def judges(private_split):
    train_set, test_set = private_split
    return load_or_train_judges(train_set, test_set, seed=0)


def trained_target(train_set, epsilon: float | None):
    """The study's softmax recipe (lr 0.01, momentum 0.9, 30 epochs, lot 40, clip 1); at `epsilon`, sigma
    is calibrated by RDP at delta 1e-5 for the steps of 30 epochs at q = 40 / N."""
    model = build_model("softmax", num_classes=train_set.num_classes, input_shape=train_set.input_shape, seed=0)
    sigma = None
    if epsilon is not None:
        rate = 40 / len(train_set)
        sigma = get_noise_multiplier(epsilon, 1e-5, rate, dpsgd_steps(30, rate), "rdp")
    train(model, *train_set.to_tensors(), TrainConfig(noise_multiplier=sigma, seed=0))
    return model.eval()


def scores(identities, private_split, judges, epsilon):
    train_set, _ = private_split
    model = trained_target(train_set, epsilon)
    labels = list(range(train_set.num_classes))
    out = {}
    for name in ATTACKS:
        result = make_attack(name, model, public=identities.public, input_shape=train_set.input_shape).invert(labels)
        summary = evaluate_inversion(result, train_set, judges)
        out[name] = {
            "eval": summary["eval_acc1"],
            "judge2": summary["judge2_acc1"],
            "no_reconstruction": summary["attack_no_reconstruction"],
        }
    return out


@pytest.fixture(scope="module")
def non_private(identities, private_split, judges):
    return scores(identities, private_split, judges, None)


@pytest.fixture(scope="module")
def epsilon_8(identities, private_split, judges):
    return scores(identities, private_split, judges, 8.0)


def best_prior(table, judge):
    return max(table["pca-prior"][judge], table["gmi"][judge])


def test_judges_are_strong_enough_to_trust(judges, private_split):
    _, test_set = private_split
    assert judges.evaluator.accuracy(test_set) >= 0.90


def test_non_private_target_gives_its_people_back(non_private):
    print("non-private acc@1:", non_private)
    assert best_prior(non_private, "eval") >= 0.70
    assert best_prior(non_private, "judge2") >= 0.50
    for judge in ("eval", "judge2"):
        assert best_prior(non_private, judge) > non_private["mi-face"][judge]


def test_non_private_prior_attack_nearly_doubles_mi_face(non_private):
    # Measured with target seeds 0/1/2 (attack defaults of 100 steps at lr 0.1): MI-FACE (cost log-p) 0.45 /
    # 0.35 / 0.45 by the evaluation CNN (1 - p: 0.40 each time; docs/results/miface_cost.md), pca-prior 0.85 /
    # 0.80 / 0.85 (gmi 0.80 / 0.65 / 0.60): 1.9x / 2.3x / 1.9x, so the floor of 1.8x holds for all three.
    assert best_prior(non_private, "eval") >= 1.8 * non_private["mi-face"]["eval"]


def test_mi_face_images_leave_the_blank_start(non_private, epsilon_8):
    for table in (non_private, epsilon_8):
        assert table["mi-face"]["no_reconstruction"] == 0.0


def test_epsilon_8_prior_attacks_identify_at_least_twice_as_many_as_mi_face(epsilon_8):
    print("epsilon 8 acc@1:", epsilon_8)
    for judge in ("eval", "judge2"):
        assert best_prior(epsilon_8, judge) >= 2 * epsilon_8["mi-face"][judge]
        assert best_prior(epsilon_8, judge) >= 0.25  # chance is 0.05


def test_epsilon_8_prior_attack_identifies_half_the_people_by_one_judge(epsilon_8):
    # Measured (pca-prior defaults, target seeds 0/1/2): LBP 0.65 / 0.45 / 0.50, evaluation CNN
    # 0.35 / 0.35 / 0.45; this test's seed 0 and seed 2 reach the floor, seed 1 misses it by one identity. (With
    # the study's tuned epsilon-8 recipe instead of this base one: 0.60 / 0.50 / 0.65 by the better judge.)
    assert max(best_prior(epsilon_8, "eval"), best_prior(epsilon_8, "judge2")) >= 0.50
