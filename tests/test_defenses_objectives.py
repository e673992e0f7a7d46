"""Each defense's objective against a hand computation, and the registry's refusals of bad input.

Label smoothing on a one-weight-per-class model whose softmax is (1/6, 2/6, 3/6); the HSIC estimate against
Gretton et al.'s sum formula evaluated by plain loops; the VIB KL term against the Gaussian closed form worked
by hand and a Monte Carlo estimate."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dpmi.defenses import DEFENSES, bido, check_defense, defended_trainer, label_smoothing, mid, train_with_defense
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig


def tiny_model() -> nn.Linear:
    """x = 1 -> logits (0, ln 2, ln 3): softmax (1/6, 1/3, 1/2)."""
    model = nn.Linear(1, 3).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0], [math.log(2)], [math.log(3)]], dtype=torch.float64))
        model.bias.zero_()
    return model


@pytest.mark.parametrize(
    "alpha, label, expected",
    [
        # t = 0.7 onehot(2) + 0.1 = (0.1, 0.1, 0.8): -(0.1 ln 1/6 + 0.1 ln 1/3 + 0.8 ln 1/2)
        (0.3, 2, 0.1 * math.log(6) + 0.1 * math.log(3) + 0.8 * math.log(2)),
        # t = 1.5 onehot(0) - 1/6 = (4/3, -1/6, -1/6): -(4/3 ln 1/6 - 1/6 ln 1/3 - 1/6 ln 1/2)
        (-0.5, 0, 4 / 3 * math.log(6) - math.log(3) / 6 - math.log(2) / 6),
        (0.0, 1, math.log(3)),  # plain cross-entropy: -ln 1/3
    ],
)
def test_label_smoothing_loss_and_gradient_by_hand(alpha, label, expected):
    model = tiny_model()
    x = torch.ones(1, 1, dtype=torch.float64)
    y = torch.tensor([label])
    loss = label_smoothing.loss(model(x), y, alpha, {})
    assert loss.shape == (1,)
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-12)
    # d loss / d logits = softmax - t (the targets sum to 1), and x = 1, so that is the weight gradient
    loss.sum().backward()
    p = torch.tensor([1 / 6, 1 / 3, 1 / 2], dtype=torch.float64)
    t = torch.full((3,), alpha / 3, dtype=torch.float64)
    t[label] += 1 - alpha
    torch.testing.assert_close(model.weight.grad[:, 0], p - t, rtol=0, atol=1e-12)


def test_label_smoothing_is_per_example_and_matches_torch_for_positive_alpha():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2])
    ours = label_smoothing.loss(logits, y, 0.1, {})
    torch.testing.assert_close(ours, F.cross_entropy(logits, y, reduction="none", label_smoothing=0.1))
    for i in range(5):  # example i's loss depends on example i only
        assert float(label_smoothing.loss(logits[i : i + 1], y[i : i + 1], -0.05, {})) == pytest.approx(
            float(label_smoothing.loss(logits, y, -0.05, {})[i]), abs=1e-12
        )


def naive_gaussian_kernel(a, sigma):
    n, d = a.shape
    k = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            sq = sum((float(a[i, t]) - float(a[j, t])) ** 2 for t in range(d))
            k[i][j] = math.exp(-sq / (2 * sigma * sigma * d))
    return k


def naive_hsic(k, l):  # noqa: E741
    """Gretton et al. 2005, biased estimator as sums: [1/n^2 sum_ij K_ij L_ij + 1/n^4 sum_ij K_ij sum_qr L_qr
    - 2/n^3 sum_ijq K_ij L_iq] times n^2 / (n - 1)^2 (= tr(KHLH) / (n - 1)^2)."""
    n = len(k)
    a = sum(k[i][j] * l[i][j] for i in range(n) for j in range(n)) / n**2
    b = sum(k[i][j] for i in range(n) for j in range(n)) * sum(l[i][j] for i in range(n) for j in range(n)) / n**4
    row_k = [sum(k[i][j] for j in range(n)) for i in range(n)]
    row_l = [sum(l[i][q] for q in range(n)) for i in range(n)]
    c = 2 * sum(row_k[i] * row_l[i] for i in range(n)) / n**3
    return (a + b - c) * n**2 / (n - 1) ** 2


def test_hsic_estimate_matches_naive_loops():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    z = torch.tanh(x[:, :3] @ torch.randn(3, 4, generator=gen, dtype=torch.float64)) + 0.1 * torch.randn(
        9, 4, generator=gen, dtype=torch.float64
    )
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    kx, kz = bido.gaussian_kernel(x, 1.0), bido.gaussian_kernel(z, 1.0)
    nx, nz = naive_gaussian_kernel(x, 1.0), naive_gaussian_kernel(z, 1.0)
    torch.testing.assert_close(kx, torch.tensor(nx, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    onehot = F.one_hot(y, 3).double()
    ly = bido.linear_kernel(onehot)
    naive_ly = [[1.0 if int(y[i]) == int(y[j]) else 0.0 for j in range(9)] for i in range(9)]
    assert ly.tolist() == naive_ly
    assert float(bido.hsic(kx, kz)) == pytest.approx(naive_hsic(nx, nz), rel=1e-10)
    assert float(bido.hsic(kz, ly)) == pytest.approx(naive_hsic(nz, naive_ly), rel=1e-10)
    normalized = naive_hsic(nx, nz) / math.sqrt(naive_hsic(nx, nx) * naive_hsic(nz, nz))
    assert float(bido.normalized_hsic(kx, kz)) == pytest.approx(normalized, rel=1e-10)
    assert float(bido.normalized_hsic(kx, kx)) == pytest.approx(1.0, abs=1e-12)


def test_hsic_sees_dependence_and_not_independence():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    independent = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    dependent = x.square() + 0.05 * independent  # nonlinear dependence, zero correlation
    k = bido.gaussian_kernel(x, 0.5)
    # (the biased estimate of independent samples is about 0.1 at n = 200, not 0)
    assert float(bido.normalized_hsic(k, bido.gaussian_kernel(dependent, 0.5))) > 4 * float(
        bido.normalized_hsic(k, bido.gaussian_kernel(independent, 0.5))
    )


def test_bido_loss_is_ce_plus_the_batch_terms():
    model = bido.wrap_model(build_model("mlp", num_classes=3, input_shape=(1, 4, 4), seed=0), 1.0, 3)
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(x)
    z = model.defense_extras["features"]
    assert z.shape == (6, 256)  # the head's input: the hidden layer after ReLU
    losses = bido.loss(out, y, 2.0, {"inputs": x, **model.defense_extras})
    kz = bido.gaussian_kernel(z)
    term = 0.1 * 2.0 * bido.normalized_hsic(bido.gaussian_kernel(x), kz) - 2.0 * bido.normalized_hsic(
        kz, F.one_hot(y, 3).float() @ F.one_hot(y, 3).float().t()
    )
    torch.testing.assert_close(losses, F.cross_entropy(out, y, reduction="none") + term)


def test_vib_kl_matches_the_closed_form_by_hand_and_monte_carlo():
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]], dtype=torch.float64)
    kl = mid.kl_to_standard_normal(mu, logvar)
    # 1/2 (mu^2 + s^2 - 1 - ln s^2) per coordinate: (1 + 1 - 1 - 0)/2 + (0 + 4 - 1 - ln 4)/2; N(0, I) has 0
    assert kl.tolist() == pytest.approx([0.5 + (3 - math.log(4)) / 2, 0.0], abs=1e-12)
    # Monte Carlo: E_q[ln q(z) - ln p(z)] for q = N(mu, diag s^2), 400k draws
    gen = torch.Generator().manual_seed(0)
    std = (0.5 * logvar[0]).exp()
    z = mu[0] + std * torch.randn(400_000, 2, generator=gen, dtype=torch.float64)
    log_q = (-0.5 * ((z - mu[0]) / std).square() - std.log()).sum(dim=1)
    log_p = (-0.5 * z.square()).sum(dim=1)
    assert float((log_q - log_p).mean()) == pytest.approx(float(kl[0]), abs=0.01)


def test_vib_model_samples_in_training_uses_the_mean_in_eval_and_is_seeded():
    base = build_model("mlp", num_classes=5, input_shape=(1, 8, 8), seed=0)
    net = mid.wrap_model(base, 0.01, 5, seed=7)
    assert net.bottleneck == mid.bottleneck_width(256) == 64 and net.head.out_features == 5  # min(64, 256 / 2)
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    net.train()
    a = net(x)
    mu, logvar = net.defense_extras["mu"], net.defense_extras["logvar"]
    assert mu.shape == logvar.shape == (4, 64)
    assert not torch.equal(a, net(x))  # fresh eps on the second pass
    again = mid.wrap_model(base, 0.01, 5, seed=7).train()
    assert torch.equal(again(x), a)  # same seed, same weights and eps
    net.eval()
    torch.testing.assert_close(net(x), net.head(net.defense_extras["mu"]))
    torch.testing.assert_close(net(x), net(x))
    loss = mid.loss(a, torch.tensor([0, 1, 2, 3]), 0.5, {"mu": mu, "logvar": logvar})
    torch.testing.assert_close(
        loss,
        F.cross_entropy(a, torch.tensor([0, 1, 2, 3]), reduction="none") + 0.5 * mid.kl_to_standard_normal(mu, logvar),
    )
    # the wrapped model is a copy: the base model keeps its own head
    assert isinstance(base.net[3], nn.Linear)


def test_vib_log_variance_is_capped_so_a_runaway_unit_stays_finite():
    # A runaway log-variance (one step sent a shadow's to 1.4e8, NaN after, in a softmax audit at beta 0.01)
    # is held at LOGVAR_MAX; below the cap the bottleneck is the plain reparameterisation.
    base = build_model("mlp", num_classes=5, input_shape=(1, 8, 8), seed=0)
    net = mid.wrap_model(base, 0.01, 5, seed=3).train()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    raw = net.encoder(net.body(x))[:, net.bottleneck :] + mid.LOGVAR_OFFSET
    net(x)
    assert raw.max() < mid.LOGVAR_MAX
    torch.testing.assert_close(net.defense_extras["logvar"], raw, rtol=0, atol=0)  # unchanged below the cap
    with torch.no_grad():
        net.encoder.bias[net.bottleneck :] += 1e3  # log sigma^2 ~ 990 uncapped: e^990 overflows
    logits = net(x)
    logvar = net.defense_extras["logvar"]
    assert torch.all(logvar == mid.LOGVAR_MAX)
    loss = mid.loss(logits, torch.tensor([0, 1, 2, 3]), 0.01, net.defense_extras).sum()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    expected_kl = 0.5 * (net.defense_extras["mu"].square() + math.exp(mid.LOGVAR_MAX) - 1 - mid.LOGVAR_MAX).sum(1)
    torch.testing.assert_close(mid.kl_to_standard_normal(net.defense_extras["mu"], logvar), expected_kl)


def test_every_defense_documents_its_paper_knob_and_dp_composition():
    assert DEFENSES.names() == ("none", "dp-sgd", "early-stop", "label-smoothing", "mid", "bido", "tl-dmi")
    for name, spec in DEFENSES.items():
        assert spec.name == name and spec.summary and spec.reference and spec.departs
        if name != "none":
            assert spec.strength is not None and spec.strength.grid
            assert spec.check_strength(None) == spec.strength.default
        assert spec.composes_with_dp or spec.why_not_dp
    assert {n for n, s in DEFENSES.items() if not s.composes_with_dp} == {"early-stop", "bido"}
    assert {n for n, s in DEFENSES.items() if s.loss_only} == {"label-smoothing"}
    assert {n for n, s in DEFENSES.items() if not s.changes_training} == {"none", "dp-sgd", "early-stop"}


def test_unknown_defense_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown defense 'mixup'.*label-smoothing"):
        check_defense("mixup")
    model = build_model("softmax", num_classes=2, input_shape=(1, 4, 4), seed=0)
    with pytest.raises(ValueError, match="unknown defense 'mixup'"):
        train_with_defense(model, torch.zeros(4, 1, 4, 4), torch.tensor([0, 1, 0, 1]), TrainConfig(), "mixup")


@pytest.mark.parametrize(
    "name, strength, pattern",
    [
        ("label-smoothing", 1.0, r"alpha=1.0 is outside its range \[-1, 1\)"),
        ("label-smoothing", -1.5, r"alpha=-1.5 is outside"),
        ("label-smoothing", float("nan"), r"alpha=nan is outside"),
        ("mid", -0.1, r"beta=-0.1 is outside its range \[0, 100\]"),
        ("bido", 200, r"lambda_y=200 is outside"),
        ("dp-sgd", 0, r"epsilon=0 is outside its range \(0, inf\)"),
        ("early-stop", 2.5, r"epochs=2.5 is outside its range an integer in \[1, 10000\]"),
        ("tl-dmi", 0, r"layers=0 is outside"),
        ("none", 0.1, r"'none' has no strength knob"),
        ("mid", "0.1", r"beta='0.1' is outside"),
    ],
)
def test_strength_out_of_range_names_defense_knob_and_range(name, strength, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_defense(name, strength)


def test_defended_trainer_checks_once_and_trains_like_train_with_defense():
    with pytest.raises(ValueError, match="unknown defense 'mixup'"):
        defended_trainer("mixup")
    with pytest.raises(ValueError, match=r"alpha=2 is outside"):
        defended_trainer("label-smoothing", 2)
    x = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1] * 4)
    trainer = defended_trainer("label-smoothing", -0.05)
    a = trainer(
        build_model("softmax", num_classes=2, input_shape=(1, 4, 4), seed=0), x, y, TrainConfig(epochs=2, batch_size=4)
    )
    b = train_with_defense(
        build_model("softmax", num_classes=2, input_shape=(1, 4, 4), seed=0),
        x,
        y,
        TrainConfig(epochs=2, batch_size=4),
        "label-smoothing",
        -0.05,
    )
    assert a.defense == "label-smoothing" and a.strength == -0.05
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
