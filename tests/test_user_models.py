"""User models: `pkg.module:factory` specs, every way a factory can be wrong (one ValueError each), the
DP-SGD trainability check before training, and TorchScript / weights + factory loading."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from dpmi.models.user_models import (
    build_user_model,
    check_dp_trainable,
    load_user_model,
    resolve_model,
)

FACTORIES = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, num_classes, input_shape, norm="group", out_extra=0):
            super().__init__()
            c, h, w = input_shape
            self.conv = nn.Conv2d(c, 8, 3, padding=1)
            self.norm = nn.GroupNorm(2, 8) if norm == "group" else nn.BatchNorm2d(8)
            self.fc = nn.Linear(8 * h * w, num_classes + out_extra)

        def forward(self, x):
            return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))

    def good(num_classes, input_shape):
        return Net(num_classes, input_shape)

    def batch_norm(num_classes, input_shape):
        return Net(num_classes, input_shape, norm="batch")

    def wrong_size(num_classes, input_shape):
        return Net(num_classes, input_shape, out_extra=1)

    def not_a_module(num_classes, input_shape):
        return lambda x: x

    def no_arguments():
        return Net(3, (1, 4, 4))

    class Twice(nn.Module):
        def __init__(self, num_classes, input_shape):
            super().__init__()
            features = input_shape[0] * input_shape[1] * input_shape[2]
            self.inp = nn.Linear(features, 16)
            self.hidden = nn.Linear(16, 16)
            self.out = nn.Linear(16, num_classes)

        def forward(self, x):
            h = torch.relu(self.inp(x.flatten(1)))
            h = torch.relu(self.hidden(h))
            return self.out(torch.relu(self.hidden(h)))

    class Tied(nn.Module):
        def __init__(self, num_classes, input_shape):
            super().__init__()
            features = input_shape[0] * input_shape[1] * input_shape[2]
            self.a = nn.Linear(features, 16)
            self.b = nn.Linear(16, 16)
            self.c = nn.Linear(16, 16)
            self.c.weight = self.b.weight
            self.out = nn.Linear(16, num_classes)

        def forward(self, x):
            return self.out(self.c(torch.relu(self.b(self.a(x.flatten(1))))))
''')

SHAPE = (3, 10, 8)


@pytest.fixture(autouse=True)
def factories_module(tmp_path, monkeypatch):
    (tmp_path / "my_faces_models.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_faces_models"
    import sys

    sys.modules.pop("my_faces_models", None)


def test_a_good_factory_builds_a_seeded_model_with_the_datas_shapes():
    model = build_user_model("my_faces_models:good", 15, SHAPE, seed=3)
    again = resolve_model("my_faces_models:good", 15, SHAPE, seed=3)
    other = resolve_model("my_faces_models:good", 15, SHAPE, seed=4)
    x = torch.randn(5, *SHAPE)
    assert model(x).shape == (5, 15)
    torch.testing.assert_close(model(x), again(x), rtol=0, atol=0)
    assert not torch.equal(model.fc.weight, other.fc.weight)
    check_dp_trainable(model, SHAPE)  # GroupNorm, every layer once: fine


@pytest.mark.parametrize("spec,pattern", [
    ("nowhere_pkg.models:net", r"cannot import module 'nowhere_pkg.models' \(ModuleNotFoundError"),
    ("my_faces_models:missing", "has no attribute 'missing'"),
    ("my_faces_models:", "not of the form pkg.module:factory"),
    ("my_faces_models", "unknown model 'my_faces_models'.*or your own as pkg.module:factory"),
    ("my_faces_models:not_a_module", "returned a function, not a torch.nn.Module"),
    ("my_faces_models:no_arguments", "must accept the keyword arguments num_classes"),
    ("my_faces_models:wrong_size", r"outputs shape \(2, 16\) for 2 images, expected \(2, 15\): one logit per identity"),
])
def test_bad_factories_give_one_clear_value_error(spec, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        resolve_model(spec, 15, SHAPE)
    assert "\n" not in str(info.value)


def test_a_factory_that_does_not_fit_the_images_says_so():
    with pytest.raises(ValueError, match=r"fails on a batch of images of shape \(n, 1, 10, 8\)"):
        from dpmi.models.user_models import check_logits

        check_logits(build_user_model("my_faces_models:good", 15, SHAPE), 15, (1, 10, 8), "model x")


@pytest.mark.parametrize("spec,pattern", [
    ("my_faces_models:batch_norm", r"'norm' is BatchNorm2d.*replace it with nn.GroupNorm"),
    ("my_faces_models:Twice", r"runs layer 'hidden' 2 times in one forward pass.*copy.deepcopy"),
    ("my_faces_models:Tied", r"shares one parameter between b.weight and c.weight.*untie"),
])
def test_models_dp_sgd_cannot_train_are_refused_before_training(spec, pattern):
    model = resolve_model(spec, 15, SHAPE)  # building is fine: a non-private training could use them
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=pattern):
        check_dp_trainable(model, SHAPE, origin=f"model {spec!r}")
    with pytest.raises(ValueError, match=f"model {spec!r}.*" + pattern):
        resolve_model(spec, 15, SHAPE, for_dp_sgd=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched (BN stats too)


def test_the_dp_sgd_engine_itself_refuses_the_layer_used_twice():
    """The check is not stricter than the engine: training the same model really fails at its first step."""
    from dpmi.privacy.dpsgd import make_private

    model = resolve_model("my_faces_models:Twice", 4, SHAPE)
    x, y = torch.randn(8, *SHAPE), torch.arange(8) % 4
    private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), max_grad_norm=1.0,
                           noise_multiplier=1.0, sample_rate=1.0, steps=1, seed=0)
    with pytest.raises(ValueError, match="ran 2 times"):
        for xb, yb in private.batches():
            private.step(nn.functional.cross_entropy(model(xb), yb, reduction="none"))


@pytest.mark.parametrize("name", ["softmax", "mlp", "cnn"])
def test_built_in_models_take_the_datas_shape_and_pass_the_dp_check(name):
    shape = (3, 28, 24)
    model = resolve_model(name, 15, shape, seed=0)
    assert model(torch.zeros(3, *shape)).shape == (3, 15)
    check_dp_trainable(model, shape)
    with pytest.raises(ValueError, match="unknown model"):
        resolve_model("resnet-9000", 15, SHAPE)


def test_a_built_in_model_too_big_for_small_images_says_so():
    with pytest.raises(ValueError, match=r"model 'cnn': .*cannot be built for images of shape \(3, 10, 8\)"):
        resolve_model("cnn", 15, SHAPE)


def test_torchscript_and_weights_plus_factory_round_trip(tmp_path):
    model = build_user_model("my_faces_models:good", 6, SHAPE, seed=1).eval()
    x = torch.randn(4, *SHAPE)
    scripted = tmp_path / "model.ts"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(scripted))
    torch.testing.assert_close(load_user_model(scripted, num_classes=6, input_shape=SHAPE)(x), model(x))
    with pytest.raises(ValueError, match="expected \\(2, 7\\)"):
        load_user_model(scripted, num_classes=7, input_shape=SHAPE)
    weights = tmp_path / "model.pt"
    torch.save(model.state_dict(), weights)
    loaded = load_user_model(weights, factory="my_faces_models:good", num_classes=6, input_shape=SHAPE)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="give the factory"):
        load_user_model(weights)
    with pytest.raises(ValueError, match="do not fit the model built by"):
        load_user_model(weights, factory="my_faces_models:good", num_classes=5, input_shape=SHAPE)
