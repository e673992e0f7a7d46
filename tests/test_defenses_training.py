"""Training under a defense, with and without DP-SGD, on the real faces.

DP-SGD composed with a defense against a naive per-example loop: the defense's loss on one batched forward
pass (the same eps draw for mid), each example's gradient by its own autograd call over the trained parameters
only, clipped to C, summed, plus the same seeded Gaussian noise, divided by the expected batch size; tl-dmi's
frozen parameters stay bit-identical, with and without noise."""

from __future__ import annotations

import copy

import pytest
import torch

from dpmi.data import split_identities
from dpmi.defenses import DEFENSES, train_with_defense
from dpmi.defenses.training import defense_objective
from dpmi.models import build_model
from dpmi.privacy.dpsgd import TrainConfig, train
from dpmi.privacy.dpsgd.noise import derive_seeds, fill_gaussian_noise_, make_generator


@pytest.fixture(scope="module")
def people(faces):
    split = split_identities(faces)  # private: people 0-19; public: 20-39
    train_set, test_set = split.private.split(train_per_class=7, seed=0)
    return train_set, test_set, split.public


def naive_dp_update(net, spec, strength, x, y, clip, sigma, seed, lr):
    """-lr * (noise + sum_i clip_C(g_i)) / n for one DP-SGD step on all n examples (sampling rate 1):
    parameter name -> update, over the trained parameters in the engine's order (module by module)."""
    chosen = {id(p) for p in spec.trainable(net, strength)}
    names = {id(p): name for name, p in net.named_parameters()}
    params = [p for m in net.modules() for p in m.parameters(recurse=False) if id(p) in chosen]
    net.train()
    outputs = net(x)
    losses = spec.loss(outputs, y, strength, {"inputs": x, **getattr(net, "defense_extras", {})})
    total = [torch.zeros_like(p) for p in params]
    clipped = 0
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(losses[i], params, retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        factor = min(1.0, clip / (norm + 1e-6))
        clipped += factor < 1
        for acc, g in zip(total, grads):
            acc.add_(g * factor)
    n = x.shape[0]
    noise = [torch.empty_like(p) for p in params]
    fill_gaussian_noise_(noise, sigma * clip / n, make_generator(derive_seeds(seed, 2)[1], "cpu"))
    return {names[id(p)]: -lr * (z + s / n) for p, z, s in zip(params, noise, total)}, clipped


@pytest.mark.parametrize(
    "defense, strength, model_name",
    [
        ("label-smoothing", -0.1, "mlp"),
        ("label-smoothing", 0.1, "cnn"),
        ("mid", 0.05, "mlp"),
        ("mid", 0.05, "softmax"),
        ("tl-dmi", 1, "mlp"),
        ("tl-dmi", 1, "cnn"),
    ],
)
def test_dp_sgd_with_a_defense_matches_a_naive_per_example_loop(people, defense, strength, model_name):
    train_set, _, public = people
    x, y = train_set.to_tensors()
    index = torch.arange(0, 140, 17)[:8]  # 8 faces of 8 people
    x, y = x[index].double(), y[index]
    px, py = public.to_tensors()
    px, py = px[::5].double(), py[::5]  # 40 public faces for tl-dmi's pre-training
    base = build_model(model_name, num_classes=20, input_shape=train_set.input_shape, seed=2).double()
    spec = DEFENSES.get(defense)
    # sampling rate 1 (batch 8 of 8) and 1 epoch: one step on all 8 examples; C small enough that most clip
    clip, sigma, seed, lr = 0.05, 0.8, 11, 0.05
    config = TrainConfig(
        epochs=1, batch_size=8, lr=lr, momentum=0.0, noise_multiplier=sigma, max_grad_norm=clip, seed=seed
    )

    # the network just before the private step, built again the same way (pre-training is deterministic)
    expected_net = spec.wrap_model(copy.deepcopy(base), float(strength), 20, seed=seed)
    if spec.pretrain is not None:
        spec.pretrain(expected_net, px, py, config, float(strength))
    before = {name: p.detach().clone() for name, p in expected_net.named_parameters()}
    update, clipped = naive_dp_update(copy.deepcopy(expected_net), spec, float(strength), x, y, clip, sigma, seed, lr)
    assert clipped >= 4  # clipping is exercised

    done = train_with_defense(base, x, y, config, defense, strength, public=(px, py), num_classes=20)
    assert done.history.noise_multiplier == sigma and done.history.steps == 1
    trained, frozen = 0, 0
    assert [n for n, _ in done.model.named_parameters()] == list(before)
    for name, got in done.model.named_parameters():
        want_delta = update.get(name)
        if want_delta is None:  # a frozen parameter: bit-identical to its pre-trained value
            assert torch.equal(got.detach(), before[name]), name
            frozen += got.numel()
            continue
        delta = got.detach() - before[name]
        scale = float(want_delta.abs().max())
        torch.testing.assert_close(delta / scale, want_delta / scale, rtol=1e-6, atol=1e-6, msg=name)
        trained += got.numel()
    assert (trained, frozen) == (done.trained_parameters, done.frozen_parameters)
    if defense == "tl-dmi":  # the mlp's hidden layer is most of it; the cnn freezes only its 36 filter weights
        assert frozen > 0 and (trained < frozen) == (model_name == "mlp")
    else:
        assert frozen == 0


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_tl_dmi_pretrains_then_fine_tunes_only_the_head_and_freezes_the_rest(people, model_name):
    train_set, test_set, public = people
    x, y = train_set.to_tensors()
    base = build_model(model_name, num_classes=20, input_shape=train_set.input_shape, seed=0)
    initial = {name: p.detach().clone() for name, p in base.named_parameters()}
    pretrained = copy.deepcopy(base)
    config = TrainConfig(epochs=3, seed=0)
    done = train_with_defense(base, x, y, config, "tl-dmi", public=public)
    # the same pre-training again, alone: what the frozen layers must still hold after fine-tuning
    DEFENSES.get("tl-dmi").pretrain(pretrained, *public.to_tensors(), config, 1.0)
    head = "net.3" if model_name == "mlp" else "classifier.1"
    for name, p in done.model.named_parameters():
        if name.startswith(head):  # fine-tuned on the private people, from the model's own initial head
            assert not torch.equal(p, initial[name])
        else:  # pre-trained on the public people, then untouched by the private fine-tuning
            assert not torch.equal(p, initial[name]), f"{name} was not pre-trained"
            assert torch.equal(p, dict(pretrained.named_parameters())[name]), name
    assert done.trained_parameters == sum(p.numel() for n, p in done.model.named_parameters() if n.startswith(head))
    assert done.pretrain_history is not None and len(done.pretrain_history.loss) == 3
    assert all(p.requires_grad for p in done.model.parameters())  # freezing lasted only for the training
    assert done.model is base  # tl-dmi does not wrap the model
    assert all(torch.equal(p, initial[n]) for n, p in pretrained.named_parameters() if n.startswith(head))


def test_frozen_parameters_stay_bit_identical_under_dp_sgd_noise(people):
    train_set, _, _ = people
    x, y = train_set.to_tensors()
    model = build_model("mlp", num_classes=20, input_shape=train_set.input_shape, seed=0)
    hidden = model.net[1].weight.detach().clone(), model.net[1].bias.detach().clone()
    head = model.net[3].weight.detach().clone()
    history = train(
        model, x, y, TrainConfig(epochs=2, target_epsilon=3.0, seed=0), parameters=model.net[3].parameters()
    )
    assert history.steps > 0
    assert torch.equal(model.net[1].weight, hidden[0]) and torch.equal(model.net[1].bias, hidden[1])
    assert not torch.equal(model.net[3].weight, head)


def test_none_and_dp_sgd_defenses_are_the_existing_training(people):
    train_set, _, _ = people
    x, y = train_set.to_tensors()

    def fresh():
        return build_model("softmax", num_classes=20, input_shape=train_set.input_shape, seed=0)

    plain = fresh()
    train(plain, x, y, TrainConfig(epochs=3, seed=1))
    none = train_with_defense(fresh(), x, y, TrainConfig(epochs=3, seed=1), "none").model
    for a, b in zip(plain.parameters(), none.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    private = fresh()
    history = train(private, x, y, TrainConfig(epochs=3, target_epsilon=3.0, seed=1))
    done = train_with_defense(fresh(), x, y, TrainConfig(epochs=3, seed=1), "dp-sgd", 3.0)
    assert done.config.target_epsilon == 3.0 and done.history.epsilon == history.epsilon
    assert all(torch.equal(a, b) for a, b in zip(private.parameters(), done.model.parameters()))
    stopped = train_with_defense(fresh(), x, y, TrainConfig(epochs=30, seed=1), "early-stop", 3).model
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), stopped.parameters()))


def test_bido_trains_without_noise_and_its_objective_falls(people):
    train_set, _, _ = people
    x, y = train_set.to_tensors()
    model = build_model("mlp", num_classes=20, input_shape=train_set.input_shape, seed=0)
    done = train_with_defense(model, x, y, TrainConfig(epochs=4, seed=0), "bido", 1.0)
    assert done.history.loss[-1] < done.history.loss[0]
    assert done.model(x[:2]).shape == (2, 20)


@pytest.mark.parametrize(
    "defense, strength, config, pattern",
    [
        (
            "bido",
            None,
            TrainConfig(target_epsilon=8.0),
            r"'bido' does not compose with DP-SGD: its HSIC terms are statistics of the whole batch",
        ),
        ("early-stop", 3, TrainConfig(noise_multiplier=1.0), r"'early-stop' does not compose with DP-SGD"),
        ("bido", 0.5, TrainConfig(), None),  # fine without noise (checked below to train)
        ("early-stop", 30, TrainConfig(epochs=30), r"epochs=30 is not fewer than the recipe's 30 epochs"),
        ("tl-dmi", 1, TrainConfig(), r"'tl-dmi' pre-trains on the public people: pass public="),
        ("label-smoothing", 1.0, TrainConfig(target_epsilon=8.0), r"alpha=1.0 is outside its range \[-1, 1\)"),
    ],
)
def test_bad_defense_input_is_refused_before_training(people, defense, strength, config, pattern):
    train_set, _, _ = people
    x, y = train_set.to_tensors()
    x, y = x[:40], y[:40]
    model = build_model("mlp", num_classes=20, input_shape=train_set.input_shape, seed=0)
    start = [p.detach().clone() for p in model.parameters()]
    if pattern is None:
        train_with_defense(model, x, y, TrainConfig(epochs=1), defense, strength)
        return
    with pytest.raises(ValueError, match=pattern):
        train_with_defense(model, x, y, config, defense, strength)
    assert all(torch.equal(a, b) for a, b in zip(start, model.parameters()))


def test_tl_dmi_refuses_a_model_with_nothing_to_freeze(people):
    train_set, _, public = people
    x, y = train_set.to_tensors()
    softmax = build_model("softmax", num_classes=20, input_shape=train_set.input_shape, seed=0)
    with pytest.raises(
        ValueError,
        match=r"SoftmaxRegression has 1 layer\(s\) with parameters.*use a model with a layer before the head",
    ):
        train_with_defense(softmax, x, y, TrainConfig(epochs=1), "tl-dmi", public=public)
    mlp = build_model("mlp", num_classes=20, input_shape=train_set.input_shape, seed=0)
    with pytest.raises(ValueError, match=r"layers=2 would fine-tune all 2 layers.*choose 1..1"):
        train_with_defense(mlp, x, y, TrainConfig(epochs=1), "tl-dmi", 2, public=public)


def test_why_bido_cannot_compose_per_example_clipping_misattributes_a_batch_statistic(people):
    """With BiDO's loss the engine's per-example gradients (through example i's own activations) are not the
    gradients of loss_i (which depend on every example of the batch through HSIC): clipping them bounds nothing."""
    from dpmi.privacy.dpsgd import GradientCapture

    train_set, _, _ = people
    x, y = train_set.to_tensors()
    x, y = x[:6].double(), y[:6]
    spec = DEFENSES.get("bido")
    net = spec.wrap_model(
        build_model("mlp", num_classes=20, input_shape=train_set.input_shape, seed=0).double(), 5.0, 20
    )
    capture = GradientCapture(net)
    engine = capture.clipped_gradient_sum(defense_objective(spec, 5.0)(net, x, y), 1e9)  # no clipping: raw norms
    capture.remove()
    losses = defense_objective(spec, 5.0)(net, x, y)
    params = list(net.parameters())
    naive = []
    for i in range(6):
        grads = torch.autograd.grad(losses[i], params, retain_graph=True)
        naive.append(float(torch.sqrt(sum(g.pow(2).sum() for g in grads))))
    assert not torch.allclose(engine.norms, torch.tensor(naive, dtype=torch.float64), rtol=1e-3)
