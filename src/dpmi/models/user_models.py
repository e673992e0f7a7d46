"""Your own target model: `--model pkg.module:factory`, a TorchScript file, or weights + a factory.

A factory is any importable callable `factory(num_classes=..., input_shape=(C, H, W))` returning an
`nn.Module` whose forward maps images [n, C, H, W] (in [-1, 1]) to logits [n, num_classes]. Everything
that can go wrong with one (it does not import, is not callable, refuses those arguments, returns something
else, outputs the wrong number of logits) is ONE ValueError saying what to change, raised before any
training. `check_dp_trainable` refuses, also before training, what DP-SGD's per-example clipping cannot
handle (BatchNorm, a layer used twice in one forward pass, shared parameters), by running the DP-SGD
engine's own clipping pass once on a copy of the model.
"""

from __future__ import annotations

import copy
import importlib
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

FACTORY_SEPARATOR = ":"


def is_factory_spec(spec: str) -> bool:
    """True for "pkg.module:factory" (a user model), False for a built-in model's name."""
    return FACTORY_SEPARATOR in spec


def load_factory(spec: str) -> Callable[..., Any]:
    """Import the callable named by "pkg.module:factory" (the attribute may be dotted: "pkg.mod:Cls.build").

    Raises:
        ValueError: a malformed spec, a module that does not import (with the import error), a missing
            attribute, or an attribute that is not callable.
    """
    module_name, _, attribute = spec.partition(FACTORY_SEPARATOR)
    if not module_name or not attribute or FACTORY_SEPARATOR in attribute:
        raise ValueError(
            f"model {spec!r} is not of the form pkg.module:factory (a module path, one colon, a callable's name)"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or anything the module raises while importing
        raise ValueError(
            f"model {spec!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); "
            "check the module path and that its package is installed or on PYTHONPATH"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"model {spec!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"model {spec!r}: {attribute!r} is a {type(target).__name__}, not a callable factory")
    return target


def _dummy_batch(input_shape: Sequence[int], device: torch.device | str | None = None) -> torch.Tensor:
    # Two examples: one is not a batch for layers that mix or squeeze the batch dimension.
    return torch.zeros(2, *input_shape, device=device)


def check_logits(model: nn.Module, num_classes: int, input_shape: Sequence[int], origin: str) -> None:
    """Run `model` once on zeros [2, *input_shape]; raise ValueError unless it returns logits [2, num_classes].

    The model's train/eval mode and parameters are left as they were (no gradients, eval mode meanwhile).
    """
    device = next((p.device for p in model.parameters()), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(_dummy_batch(input_shape, device))
    except Exception as exc:
        raise ValueError(
            f"{origin} fails on a batch of images of shape (n, {', '.join(map(str, input_shape))}) "
            f"({type(exc).__name__}: {exc}); it must accept [n, C, H, W] images of this data"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"{origin} returns {type(output).__name__}, not a tensor of logits [n, {num_classes}]")
    if tuple(output.shape) != (2, num_classes):
        raise ValueError(
            f"{origin} outputs shape {tuple(output.shape)} for 2 images, expected (2, {num_classes}): one logit per "
            f"identity ({num_classes} in this data); build its last layer with num_classes outputs"
        )


def build_user_model(spec: str, num_classes: int, input_shape: Sequence[int], seed: int | None = 0) -> nn.Module:
    """Call the factory `spec` with `num_classes` and `input_shape` and check what it returns.

    With a seed, the initial weights depend only on it (the global torch RNG is left untouched).

    Raises:
        ValueError: see `load_factory`; the factory refusing the arguments or failing; a result that is not an
            nn.Module; or logits of the wrong shape.
    """
    factory = load_factory(spec)
    shape = tuple(int(s) for s in input_shape)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        try:
            model = factory(num_classes=int(num_classes), input_shape=shape)
        except TypeError as exc:
            raise ValueError(
                f"model {spec!r}: the factory must accept the keyword arguments num_classes (int) and "
                f"input_shape ((C, H, W)); calling it failed: {exc}"
            ) from exc
        except Exception as exc:
            raise ValueError(f"model {spec!r}: the factory raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {spec!r}: the factory returned a {type(model).__name__}, not a torch.nn.Module")
    check_logits(model, int(num_classes), shape, f"model {spec!r}")
    return model


def resolve_model(
    spec: str, num_classes: int, input_shape: Sequence[int], seed: int | None = 0, *, for_dp_sgd: bool = False
) -> nn.Module:
    """A fresh target model: a built-in name ("softmax", "mlp", "cnn", or any registered one) or a user
    factory "pkg.module:factory", for data with `num_classes` identities and images of `input_shape` (C, H, W).

    This is what `--model` and the study's `model` setting resolve through. With `for_dp_sgd`, the model
    is also checked by `check_dp_trainable` (call it so before any private training starts). Raises
    ValueError (one line) for an unknown name, a factory that cannot give a fitting model, or (for_dp_sgd)
    a model DP-SGD cannot train.
    """
    model = _resolve(spec, num_classes, input_shape, seed)
    if for_dp_sgd:
        check_dp_trainable(model, input_shape, origin=f"model {spec!r}")
    return model


def _resolve(spec: str, num_classes: int, input_shape: Sequence[int], seed: int | None) -> nn.Module:
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if len(tuple(input_shape)) != 3 or min(int(s) for s in input_shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {tuple(input_shape)}")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if is_factory_spec(spec):
        return build_user_model(spec, num_classes, input_shape, seed)
    from dpmi.models.registry import build_registered_model

    c, h, w = (int(s) for s in input_shape)
    shape = (c, h, w)
    try:
        model = build_registered_model(spec, num_classes=int(num_classes), input_shape=shape, seed=seed)
    except ValueError as exc:
        if str(exc).startswith("unknown model"):
            raise ValueError(f"{exc}; or your own as pkg.module:factory") from exc
        raise ValueError(f"model {spec!r}: {exc}") from exc  # the name the user typed, before the class's words
    except RuntimeError as exc:  # e.g. a pooling layer larger than what is left of a small image
        raise ValueError(
            f"model {spec!r} cannot be built for images of shape {shape} (C, H, W): "
            f"{' '.join(str(exc).split())}; choose another model or larger images"
        ) from exc
    check_logits(model, int(num_classes), shape, f"model {spec!r}")
    return model


def _layer_names(model: nn.Module) -> dict[nn.Module, str]:
    return {module: (name or type(module).__name__) for name, module in model.named_modules(remove_duplicate=False)}


def check_dp_trainable(model: nn.Module, input_shape: Sequence[int], origin: str = "the model") -> None:
    """Refuse, before any training, a model that DP-SGD's per-example clipping cannot train.

    Checks, on a deep copy (the model itself is not touched): BatchNorm (the engine's `reject_batch_norm`);
    one parameter registered in two places (tied weights); a parameterised layer run more than once per
    forward pass; and finally one real clipping pass of the DP-SGD engine (`GradientCapture`) on a batch of
    two zero images, so anything else the engine would refuse mid-training is refused now.

    Raises:
        ValueError: what is wrong, which layer, and what to change.
    """
    from dpmi.privacy.dpsgd.clipping import GradientCapture, reject_batch_norm
    from dpmi.privacy.dpsgd.layer_gradients import trainable_parameters

    try:
        reject_batch_norm(model)
    except ValueError as exc:
        raise ValueError(f"{origin} cannot be trained with DP-SGD: {exc}") from exc
    owners: dict[int, list[str]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for param_name, param in trainable_parameters(module):
            owners.setdefault(id(param), []).append(f"{module_name or type(module).__name__}.{param_name}")
    shared = [places for places in owners.values() if len(places) > 1]
    if shared:
        raise ValueError(
            f"{origin} shares one parameter between {' and '.join(shared[0])} (tied weights): DP-SGD's per-example "
            "clipping needs each parameter to belong to one layer that runs once per forward pass; give each use "
            "its own layer (e.g. copy.deepcopy) or untie the weights"
        )
    trial = copy.deepcopy(model).train()
    trial_names = _layer_names(trial)
    calls: dict[nn.Module, int] = {}
    hooked = [m for m in trial.modules() if trainable_parameters(m)]

    def count(module: nn.Module, args: Any, output: Any) -> None:
        calls[module] = calls.get(module, 0) + 1

    handles = [m.register_forward_hook(count) for m in hooked]
    device = next((p.device for p in trial.parameters()), None)
    try:
        with torch.enable_grad():
            logits = trial(_dummy_batch(input_shape, device))
    finally:
        for handle in handles:
            handle.remove()
    twice = [(trial_names.get(m, type(m).__name__), n) for m, n in calls.items() if n > 1]
    if twice:
        layer, n = twice[0]
        raise ValueError(
            f"{origin} runs layer {layer!r} {n} times in one forward pass (a layer used twice): DP-SGD's per-example "
            "clipping needs each parameterised layer once per pass; give each use its own layer (e.g. "
            "copy.deepcopy(layer)) instead of calling the same one again"
        )
    capture = GradientCapture(trial)
    try:
        logits = trial(_dummy_batch(input_shape, device))
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            raise ValueError(
                f"{origin} must return logits [n, classes] for DP-SGD, got "
                f"{getattr(logits, 'shape', type(logits).__name__)}"
            )
        losses = nn.functional.cross_entropy(
            logits, torch.zeros(2, dtype=torch.long, device=logits.device), reduction="none"
        )
        capture.clipped_gradient_sum(losses, max_grad_norm=1.0)
    except ValueError as exc:
        raise ValueError(f"{origin} cannot be trained with DP-SGD: {exc}") from exc
    finally:
        capture.remove()


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def is_torchscript_file(path: str | os.PathLike[str]) -> bool:
    """True if `path` is a TorchScript archive (torch.jit.save), which carries its own code."""
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in _zip_names(Path(path)))


def load_user_model(
    path: str | os.PathLike[str],
    *,
    factory: str | None = None,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A trained user model from disk, in eval mode on `device`.

    - A TorchScript file (torch.jit.save) is loaded as it is; `num_classes` / `input_shape`, if given, are
      checked by running it once.
    - Any other file is a state_dict (read with weights_only=True, so it cannot run code): `factory`,
      `num_classes` and `input_shape` rebuild the module and the weights are loaded strictly.

    Raises:
        FileNotFoundError: no such file.
        ValueError: weights without a factory, weights that do not fit the factory's model, a file that is
            neither, or a model whose logits do not match `num_classes`.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"model file {file} does not exist")
    if is_torchscript_file(file):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript still loads; say nothing per call
            try:
                model = torch.jit.load(str(file), map_location=device)
            except Exception as exc:
                raise ValueError(f"{file} looks like TorchScript but does not load ({exc})") from exc
        if num_classes is not None and input_shape is not None:
            check_logits(model, num_classes, input_shape, f"TorchScript model {file}")
        return model.eval()
    if factory is None or num_classes is None or input_shape is None:
        raise ValueError(
            f"{file} is not a TorchScript file, so it is read as weights (a state_dict): give the "
            "factory that builds the model (--model pkg.module:factory), the number of identities and "
            "the input shape"
        )
    model = build_user_model(factory, num_classes, input_shape, seed=None)
    try:
        state = torch.load(io.BytesIO(file.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{file} is neither TorchScript nor a weights file torch.load reads safely ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{file} holds a {type(state).__name__}, not a state_dict of weights")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"the weights in {file} do not fit the model built by {factory!r}: {' '.join(str(exc).split())}"
        ) from exc
    return model.to(device).eval()
