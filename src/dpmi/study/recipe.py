"""Each target's DP-SGD recipe (learning rate, epochs, lot size, clipping norm), chosen per privacy level by a
small seeded search on the PUBLIC people.

Why: one fixed recipe for every model and epsilon trains some targets to chance (the cnn at epsilon 3 with the
softmax's recipe), and "DP stops the attack" read off a model that learned nothing answers nothing. The
search trains each candidate with the level's privacy (a target-epsilon level calibrates sigma for the
candidate's lot and epochs at the PRIVATE training set's size, so the epsilon it buys is the one reported) on
the public people's training images and scores it on their held-out images. The public people are not the
target's, so the search costs no privacy of the private ones (the tuning-on-public-data practice of e.g.
Papernot & Steinke, "Hyperparameter tuning with Renyi differential privacy", ICLR 2022, Sec. 1); the choice
is cached under a key of (public images, search space, settings) with `dpmi.cache.cached`.

Fixed-sigma levels (the tutorial's sigma 0.5) keep the base recipe: their meaning is that recipe.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dpmi.data import FaceDataset
from dpmi.study.config import StudyConfig
from dpmi.study.levels import PrivacyLevel


@dataclass(frozen=True)
class Recipe:
    """How a target is trained. lr > 0; epochs >= 1; batch_size: (expected Poisson) lot size in examples;
    max_grad_norm: per-example clipping norm C > 0 (unused when non-private); momentum in [0, 1)."""

    lr: float
    epochs: int
    batch_size: int
    max_grad_norm: float
    momentum: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        return cls(
            float(data["lr"]),
            int(data["epochs"]),
            int(data["batch_size"]),
            float(data["max_grad_norm"]),
            float(data["momentum"]),
        )

    def describe(self, private: bool) -> str:
        text = f"lr {self.lr:g}, {self.epochs} epochs, lot {self.batch_size}"
        return text + (f", clip {self.max_grad_norm:g}" if private else "")


@dataclass(frozen=True)
class RecipeTrial:
    """One candidate of the search: its recipe, the sigma it trained with (None: non-private) and its accuracy
    on the public people's held-out images (0..1)."""

    recipe: Recipe
    noise_multiplier: float | None
    val_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.to_dict(),
            "noise_multiplier": self.noise_multiplier,
            "val_accuracy": self.val_accuracy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecipeTrial:
        sigma = data.get("noise_multiplier")
        return cls(
            Recipe.from_dict(data["recipe"]), None if sigma is None else float(sigma), float(data["val_accuracy"])
        )


@dataclass(frozen=True)
class EarlyStopMatch:
    """One seed's accuracy-matched early-stopped model (`dpmi.study.early_stop_match`): the short non-private
    recipe chosen, its accuracy on the private held-out faces and the matched DP-SGD target's on the same seed
    (both 0..1, the numbers the study's cells report)."""

    seed: int
    recipe: Recipe
    accuracy: float
    target_accuracy: float

    @property
    def gap(self) -> float:
        """accuracy - target_accuracy (fraction, signed)."""
        return self.accuracy - self.target_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "recipe": self.recipe.to_dict(),
            "accuracy": self.accuracy,
            "target_accuracy": self.target_accuracy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EarlyStopMatch:
        return cls(
            int(data["seed"]), Recipe.from_dict(data["recipe"]), float(data["accuracy"]), float(data["target_accuracy"])
        )


@dataclass(frozen=True)
class RecipeChoice:
    """The recipe a level trains with. searched: False when it is the base recipe (search off, or a
    fixed-sigma level); then `trials` is empty and `val_accuracy` None. cached: the choice came from the cache.
    matches: an early-stop level's per-seed recipes (`recipe` is then the first seed's); empty otherwise."""

    level_key: str
    recipe: Recipe
    searched: bool
    val_accuracy: float | None = None
    trials: tuple[RecipeTrial, ...] = ()
    cached: bool = False
    matches: tuple[EarlyStopMatch, ...] = ()

    def recipe_for(self, seed: int) -> Recipe:
        """The recipe the cell of `seed` trains with: its match's for an early-stop level, else `recipe`."""
        return next((m.recipe for m in self.matches if m.seed == seed), self.recipe)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level_key": self.level_key,
            "recipe": self.recipe.to_dict(),
            "searched": self.searched,
            "val_accuracy": self.val_accuracy,
            "trials": [t.to_dict() for t in self.trials],
            "cached": self.cached,
            "matches": [m.to_dict() for m in self.matches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecipeChoice:
        val = data.get("val_accuracy")
        return cls(
            str(data["level_key"]),
            Recipe.from_dict(data["recipe"]),
            bool(data["searched"]),
            None if val is None else float(val),
            tuple(RecipeTrial.from_dict(t) for t in data.get("trials", [])),
            bool(data.get("cached", False)),
            tuple(EarlyStopMatch.from_dict(m) for m in data.get("matches", [])),
        )


def base_recipe(config: StudyConfig) -> Recipe:
    return Recipe(
        config.train.lr, config.train.epochs, config.train.batch_size, config.train.max_grad_norm, config.train.momentum
    )


def candidates(config: StudyConfig, private: bool) -> list[Recipe]:
    """The search space, in a fixed order (ties go to the earlier one). Non-private levels ignore the clip."""
    clips = config.recipe.clip if private else (config.train.max_grad_norm,)
    return [
        Recipe(lr, epochs, batch, clip, config.train.momentum)
        for epochs, batch, clip, lr in itertools.product(
            config.recipe.epochs, config.recipe.batch_size, clips, config.recipe.lr
        )
    ]


def _sigma_for(level: PrivacyLevel, recipe: Recipe, config: StudyConfig, private_train_size: int) -> float | None:
    """The noise multiplier this recipe needs for `level` on the private training set (None: non-private)."""
    from dpmi.privacy.accounting import dpsgd_steps, get_noise_multiplier

    if level.target_epsilon is None:
        return level.noise_multiplier
    rate = recipe.batch_size / private_train_size
    steps = dpsgd_steps(recipe.epochs, rate)
    return float(
        get_noise_multiplier(
            level.target_epsilon, config.privacy.delta, rate, steps, accountant=config.privacy.accountant
        )
    )


def _trial(
    model_name: str,
    recipe: Recipe,
    sigma: float | None,
    public_train: FaceDataset,
    public_val: FaceDataset,
    private_train_size: int,
    config: StudyConfig,
    defense: str = "none",
    strength: float | None = None,
) -> float:
    """Held-out accuracy on the public people of a model trained with `recipe` (and `sigma`, and `defense` at
    `strength`) on their images."""
    from dpmi.models import resolve_model
    from dpmi.models.accuracy import accuracy
    from dpmi.privacy.dpsgd import TrainConfig, train

    x, y = public_train.to_tensors(config.run.device)
    xv, yv = public_val.to_tensors(config.run.device)
    # Same sampling rate as on the private set (the public one may hold a different number of images).
    lot = max(1, min(len(public_train), round(recipe.batch_size * len(public_train) / private_train_size)))
    model = resolve_model(
        model_name, num_classes=public_train.num_classes, input_shape=public_train.input_shape, seed=config.run.seed
    )
    train_config = TrainConfig(
        epochs=recipe.epochs,
        batch_size=lot,
        lr=recipe.lr,
        momentum=recipe.momentum,
        noise_multiplier=sigma,
        delta=config.privacy.delta,
        max_grad_norm=recipe.max_grad_norm,
        accountant=config.privacy.accountant,
        seed=config.run.seed,
        device=config.run.device,
    )
    if defense in ("none", "early-stop"):
        train(model, x, y, train_config)
    else:  # the defense's own objective and trainable parts; TL-DMI pre-trains on the very same public people
        from dpmi.defenses import train_with_defense

        model = train_with_defense(
            model, x, y, train_config, defense, strength, public=public_train, num_classes=public_train.num_classes
        ).model
    return accuracy(model, xv, yv)


def model_signature(model_name: str, data: FaceDataset, seed: int) -> str:
    """SHA-256 of the model's layers (its repr) and its seeded initial weights for `data`'s classes and shape."""
    import hashlib

    from dpmi.models import resolve_model

    model = resolve_model(model_name, num_classes=data.num_classes, input_shape=data.input_shape, seed=seed)
    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


def choose_recipe(
    level: PrivacyLevel,
    config: StudyConfig,
    public_train: FaceDataset,
    public_val: FaceDataset,
    private_train_size: int,
    log: Callable[[str], None] = lambda message: None,
    chosen: dict[str, RecipeChoice] | None = None,
) -> RecipeChoice:
    """The recipe `level` trains with: the best public held-out accuracy over the search space (cached), or
    the base recipe when the search is off or the level has a fixed sigma. A defense level searches the
    non-private space with the defense's objective (fair training, Issue 20). An early-stop level gets the
    base recipe here as a placeholder: its per-seed recipes are matched on the private held-out accuracy once
    the DP-SGD levels are calibrated (`dpmi.study.early_stop_match.match_early_stops`; `chosen` is unused)."""
    from dpmi.cache import cached, fingerprint_array

    if level.defense == "early-stop":
        return RecipeChoice(level.key, base_recipe(config), searched=False)
    if not config.recipe.search or (level.noise_multiplier is not None and level.target_epsilon is None):
        return RecipeChoice(level.key, base_recipe(config), searched=False)
    private = level.target_epsilon is not None
    space = candidates(config, private)
    parts = {
        "model": config.train.model,
        # The name alone would keep an old choice after the architecture changes (a new built-in cnn, an edited
        # user model): the layers and the seeded initial weights are part of the key.
        "model_signature": model_signature(config.train.model, public_train, config.run.seed),
        "target_epsilon": level.target_epsilon,
        "delta": config.privacy.delta,
        "accountant": config.privacy.accountant,
        "seed": config.run.seed,
        "device_kind": config.run.device.split(":")[0],
        "space": [r.to_dict() for r in space],
        "private_train_size": private_train_size,
        "public_train": [fingerprint_array(public_train.images), fingerprint_array(public_train.labels)],
        "public_val": [fingerprint_array(public_val.images), fingerprint_array(public_val.labels)],
    }
    if level.defended:  # older choices (no defense) keep their cache keys
        parts.update(defense=level.defense, defense_strength=level.defense_strength)

    def build() -> dict[str, Any]:
        from tqdm.auto import tqdm

        trials = []
        for recipe in tqdm(
            space,
            desc=f"recipe search {level.key}",
            unit="trial",
            leave=False,
            disable=True if len(space) < 4 else None,
        ):
            sigma = _sigma_for(level, recipe, config, private_train_size)
            accuracy = _trial(
                config.train.model,
                recipe,
                sigma,
                public_train,
                public_val,
                private_train_size,
                config,
                level.defense,
                level.defense_strength,
            )
            trials.append(RecipeTrial(recipe, sigma, accuracy).to_dict())
        return {"trials": trials}

    payload, hit = cached("recipe", parts, build, log=log)
    trials = tuple(RecipeTrial.from_dict(t) for t in payload["trials"])
    best = max(trials, key=lambda t: t.val_accuracy)  # max keeps the first of equals: the space's order
    return RecipeChoice(
        level.key, best.recipe, searched=True, val_accuracy=best.val_accuracy, trials=trials, cached=hit
    )
