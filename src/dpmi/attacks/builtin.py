"""The built-in attacks, each declared once with `declare_attack` (registered by `dpmi.attacks.registry`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from dpmi.attacks.attack_spec import declare_attack as register_attack

MI_FACE_PROCESSES = ("none", "denoise", "tv")


@register_attack(
    "mi-face",
    defaults={
        "max_iter": 300,
        "patience": 100,
        "threshold": 0.01,
        "step_size": 0.1,
        "process": "none",
        "cost": "log-p",
    },
    needs_public=False,
    quick={"max_iter": 100},
    summary="gradient descent on the target's confidence from a blank image, no prior",
    reference="Fredrikson, Jha & Ristenpart, CCS 2015, Algorithm 1",
    help={
        "max_iter": "alpha: the most gradient steps per identity",
        "patience": "beta: stop when the cost has not improved for this many steps",
        "threshold": "gamma: stop once 1 - confidence <= gamma (0.01 = 99% confident); 0 turns it off",
        "step_size": "lambda: the gradient step, in input units",
        "process": "Process/AuxTerm: none, denoise (NL-means + unsharp mask) or tv (total variation)",
        "cost": "one-minus-p (Alg. 1: 1 - confidence, no gradient where the confidence is ~0) or log-p "
        "(-log confidence: a gradient everywhere)",
    },
)
def _mi_face(
    model: nn.Module,
    *,
    public: Any,
    input_shape: tuple[int, int, int] | None,
    device: Any,
    max_iter: int,
    patience: int,
    threshold: float,
    step_size: float,
    process: str,
    cost: str,
):
    """MI-FACE with the study's alpha 300 (paper: 5000; the metrics at 300 equal those at 200 on the softmax
    target), beta 100, lambda 0.1, gamma read as a confidence (see `MIFace.paper`), and cost -log p: the same
    acc@1 as Alg. 1's 1 - p where that has a gradient, and images where it has none (p ~ 0 at the blank
    start); measured in docs/results/miface_cost.md. The AIJack layer (`dpmi.compat.MI_FACE`) keeps 1 - p."""
    from dpmi.attacks.denoise_sharpen import DenoiseSharpen
    from dpmi.attacks.mi_face import COSTS, MIFace, cost_threshold
    from dpmi.attacks.total_variation import TotalVariation

    if process not in MI_FACE_PROCESSES:
        raise ValueError(f"mi-face process must be one of {', '.join(MI_FACE_PROCESSES)}, got {process!r}")
    if cost not in COSTS:
        raise ValueError(f"mi-face cost must be one of {', '.join(COSTS)}, got {cost!r}")
    if not 0 <= threshold < 1:
        raise ValueError(f"mi-face threshold (1 - confidence to stop at) must be in [0, 1), got {threshold}")
    if input_shape is None:
        raise ValueError("mi-face needs the model's input shape: pass input_shape=(C, H, W)")
    return MIFace(
        model,
        max_iter=max_iter,
        patience=patience,
        threshold=cost_threshold(threshold, cost) if threshold > 0 else None,  # 0 = rule off
        step_size=step_size,
        aux_term=TotalVariation() if process == "tv" else None,
        process=DenoiseSharpen() if process == "denoise" else None,
        input_shape=input_shape,
        device=device,
        cost=cost,
    )


# Options shared by the two prior attacks: the latent search (`dpmi.attacks.latent_search.SearchSettings`).
_SEARCH_HELP = {
    "steps": "Adam steps on the latent of every candidate",
    "lr": "Adam learning rate on the latent",
    "restarts": "candidates optimised per identity (PPA); the most shift/flip-robust one is kept",
    "candidates": "random latents decoded for PPA's initial selection (the best `restarts` per identity start)",
    "prior_weight": "weight of the prior's term against the identity loss",
    "identity_loss": "ce (-log p_label, GMI) or margin (best other logit - label logit, clipped)",
    "selection_shift": "pixels of the shifts in PPA's result selection (with a mirror)",
    "seed": "seeds the random latents",
}


def _search_settings(options: dict[str, Any]):
    from dpmi.attacks.latent_search import SearchSettings

    return SearchSettings(
        steps=options["steps"],
        lr=options["lr"],
        restarts=options["restarts"],
        candidates=options["candidates"],
        prior_weight=options["prior_weight"],
        identity_loss=options["identity_loss"],
        selection_shift=options["selection_shift"],
        seed=options["seed"],
    )


@register_attack(
    "pca-prior",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#pca-prior.
    defaults={
        "components": 40,
        "steps": 100,
        "lr": 0.1,
        "restarts": 5,
        "candidates": 500,
        "prior_weight": 0.1,
        "identity_loss": "margin",
        "selection_shift": 2,
        "seed": 0,
    },
    needs_public=True,
    quick={"steps": 50, "restarts": 2, "candidates": 100},
    summary="Adam on eigenface coefficients (public faces + mirrors) under their Gaussian prior, PPA selection",
    reference="eigenfaces (Turk & Pentland 1991) as the prior in GMI's objective (Zhang et al., CVPR 2020, "
    "Eq. 5); initial/result selection and restarts of PPA (Struppek et al., ICML 2022)",
    help={"components": "eigenfaces kept (fitted on the public images and their mirrors)", **_SEARCH_HELP},
)
def _pca_prior(
    model: nn.Module,
    *,
    public: Any,
    input_shape: tuple[int, int, int] | None,
    device: Any,
    components: int,
    **options: Any,
):
    """The eigenface-prior attack (`dpmi.attacks.pca_prior_attack.PCAPriorAttack`)."""
    from dpmi.attacks.pca_prior_attack import PCAPriorAttack

    return PCAPriorAttack(model, public, components=int(components), settings=_search_settings(options), device=device)


@register_attack(
    "gmi",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#gmi.
    defaults={
        "steps": 100,
        "lr": 0.1,
        "restarts": 5,
        "candidates": 500,
        "prior_weight": 0.01,
        "identity_loss": "margin",
        "selection_shift": 2,
        "seed": 0,
        "latent_weight": 0.0,
        "gan_steps": 3000,
        "gan_scale": 0.25,
        "gan_width": 32,
        "gan_latent_dim": 64,
        "gan_seed": 0,
    },
    needs_public=True,
    quick={"steps": 50, "restarts": 2, "candidates": 100},
    summary="Adam on the latent of a small GAN trained on the public faces (cached), PPA selection",
    reference="GMI (Zhang et al., CVPR 2020): GAN prior on public faces, identity + discriminator loss; "
    "DiffAugment (Zhao et al., NeurIPS 2020) for the few-image GAN; PPA's selection and restarts "
    "(Struppek et al., ICML 2022)",
    help={
        **_SEARCH_HELP,
        "latent_weight": "weight of 0.5 ||z||^2 / d added to the discriminator's loss (0 = GMI's loss alone)",
        "gan_steps": "GAN training steps (trained once per public set and settings, then cached)",
        "gan_scale": "the generator's resolution as a fraction of the faces' H and W (upsampled after)",
        "gan_width": "channels of the GAN's widest layer",
        "gan_latent_dim": "size of the GAN's latent z ~ N(0, I)",
        "gan_seed": "seeds the GAN's training",
    },
)
def _gmi(
    model: nn.Module,
    *,
    public: Any,
    input_shape: tuple[int, int, int] | None,
    device: Any,
    latent_weight: float,
    gan_steps: int,
    gan_scale: float,
    gan_width: int,
    gan_latent_dim: int,
    gan_seed: int,
    **options: Any,
):
    """The GAN-prior attack (`dpmi.attacks.gmi.GMIAttack`); the GAN is trained once and cached."""
    from dpmi.attacks.gmi import GMIAttack
    from dpmi.attacks.priors.face_generator import GANSettings

    gan = GANSettings(
        latent_dim=int(gan_latent_dim),
        scale=float(gan_scale),
        width=int(gan_width),
        steps=int(gan_steps),
        seed=int(gan_seed),
    )
    return GMIAttack(
        model, public, gan=gan, settings=_search_settings(options), latent_weight=float(latent_weight), device=device
    )


# --- Black-box (scores-only) and label-only attacks (`dpmi.attacks.access`) ------------------------------

_ES_HELP = {
    "steps": "NES steps on the latent of every row (cut to what fits query_budget)",
    "population": "images queried per row and step (antithetic pairs: even)",
    "sigma": "NES sampling radius in latent units",
    "lr": "Adam learning rate on the latent (on the NES gradient estimate)",
    "restarts": "rows searched per identity (PPA); the most shift/flip-robust one is kept",
    "candidates": "random latents queried once for PPA's initial selection (shared by all identities)",
    "prior_weight": "weight of the prior's term (the attacker's own, no query) against the identity loss",
    "identity_loss": "ce (-log p_label) or margin (best other log-probability - the label's, clipped)",
    "selection_shift": "pixels of the shifts in PPA's result selection (with a mirror)",
    "query_budget": "the most queries (images) per identity; steps are cut to fit, below one step is an error",
    "seed": "seeds the candidates and every row's NES noise (by seed, label, restart)",
}
_GAN_HELP = {
    "latent_weight": "weight of 0.5 ||z||^2 / d added to the discriminator's loss (0 = GMI's loss alone)",
    "gan_steps": "GAN training steps (trained once per public set and settings, then cached)",
    "gan_scale": "the generator's resolution as a fraction of the faces' H and W (upsampled after)",
    "gan_width": "channels of the GAN's widest layer",
    "gan_latent_dim": "size of the GAN's latent z ~ N(0, I)",
    "gan_seed": "seeds the GAN's training",
}
_GAN_DEFAULTS = {"gan_steps": 3000, "gan_scale": 0.25, "gan_width": 32, "gan_latent_dim": 64, "gan_seed": 0}


def _es_settings(options: dict[str, Any]):
    from dpmi.attacks.black_box_latent import ESSettings

    budget = options["query_budget"]
    return ESSettings(
        steps=int(options["steps"]),
        population=int(options["population"]),
        sigma=float(options["sigma"]),
        lr=float(options["lr"]),
        restarts=int(options["restarts"]),
        candidates=int(options["candidates"]),
        prior_weight=float(options["prior_weight"]),
        identity_loss=str(options["identity_loss"]),
        selection_shift=int(options["selection_shift"]),
        query_budget=None if budget is None else int(budget),
        seed=int(options["seed"]),
    )


def _gan_prior(public: Any, options: dict[str, Any], latent_weight: float = 0.0):
    from dpmi.attacks.priors.face_generator import GANSettings, load_face_gan

    gan = GANSettings(
        latent_dim=int(options["gan_latent_dim"]),
        scale=float(options["gan_scale"]),
        width=int(options["gan_width"]),
        steps=int(options["gan_steps"]),
        seed=int(options["gan_seed"]),
    )
    prior, _ = load_face_gan(public, gan, progress=False, latent_weight=float(latent_weight))
    return prior


def _query_device(device: Any):
    import torch

    return torch.device(device if device is not None else "cpu")


@register_attack(
    "pca-prior-bb",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#pca-prior-bb.
    defaults={
        "components": 40,
        "steps": 90,
        "population": 50,
        "sigma": 0.5,
        "lr": 0.1,
        "restarts": 4,
        "candidates": 500,
        "prior_weight": 0.1,
        "identity_loss": "margin",
        "selection_shift": 2,
        "query_budget": 20_000,
        "seed": 0,
    },
    needs_public=True,
    access="scores",
    quick={"steps": 20, "restarts": 2, "candidates": 100},
    summary="scores only: NES (antithetic) on eigenface coefficients, one batched query per step, PPA selection",
    reference="NES (Wierstra et al., JMLR 2014; antithetic, Salimans et al. 2017; as a black-box attack, Ilyas "
    "et al., ICML 2018) in the latent of the pca-prior attack; gradient-free latent search as in RLB-MI (Han et "
    "al., CVPR 2023); PPA's selection (Struppek et al., ICML 2022)",
    help={"components": "eigenfaces kept (fitted on the public images and their mirrors)", **_ES_HELP},
)
def _pca_prior_bb(model: Any, *, public: Any, input_shape: Any, device: Any, components: int, **options: Any):
    """The scores-only eigenface attack (`dpmi.attacks.black_box_latent.BlackBoxLatentSearch`)."""
    from dpmi.attacks.black_box_latent import BlackBoxLatentSearch
    from dpmi.attacks.priors.pca_prior import load_pca_prior

    device = _query_device(device)
    prior, _ = load_pca_prior(public, int(components), flips=True)
    return BlackBoxLatentSearch(model, prior.to(device), _es_settings(options), device)


@register_attack(
    "gmi-bb",
    defaults={
        "steps": 90,
        "population": 50,
        "sigma": 0.5,
        "lr": 0.1,
        "restarts": 4,
        "candidates": 500,
        "prior_weight": 0.01,
        "identity_loss": "margin",
        "selection_shift": 2,
        "query_budget": 20_000,
        "seed": 0,
        "latent_weight": 0.0,
        **_GAN_DEFAULTS,
    },
    needs_public=True,
    access="scores",
    quick={"steps": 20, "restarts": 2, "candidates": 100},
    summary="scores only: NES (antithetic) on the GAN prior's latent, one batched query per step, PPA selection",
    reference="NES (Wierstra et al., JMLR 2014; antithetic, Salimans et al. 2017; Ilyas et al., ICML 2018) in "
    "the latent of the gmi attack's GAN (Zhang et al., CVPR 2020), as RLB-MI's gradient-free GAN-latent search "
    "(Han et al., CVPR 2023); PPA's selection (Struppek et al., ICML 2022)",
    help={**_ES_HELP, **_GAN_HELP},
)
def _gmi_bb(model: Any, *, public: Any, input_shape: Any, device: Any, latent_weight: float, **options: Any):
    """The scores-only GAN attack (`dpmi.attacks.black_box_latent.BlackBoxLatentSearch`)."""
    from dpmi.attacks.black_box_latent import BlackBoxLatentSearch

    device = _query_device(device)
    prior = _gan_prior(public, options, latent_weight).to(device)
    return BlackBoxLatentSearch(model, prior, _es_settings(options), device)


BREP_PRIORS = ("gan", "pca")


@register_attack(
    "brep-mi",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#gmi-bb.
    defaults={
        "prior": "pca",
        "components": 40,
        "steps": 500,
        "points": 32,
        "radius": 2.0,
        "radius_growth": 1.3,
        "max_radius": 8.0,
        "alpha": 0.3,
        "latent_radius": 1.5,
        "init_batch": 500,
        "init_rounds": 20,
        "query_budget": 20_000,
        "seed": 0,
        **_GAN_DEFAULTS,
    },
    needs_public=True,
    access="labels",
    quick={"steps": 50, "init_rounds": 4},
    summary="labels only: boundary repulsion from a latent the target labels as the person (eigenfaces or GAN)",
    reference="BREP-MI (Kahla, Chen, Jin & Jia, CVPR 2022) in the latent of the gmi attack's GAN or of the "
    "eigenface prior",
    help={
        "prior": "the latent searched: pca (eigenface coefficients, measured best) or gan (the gmi attack's GAN, as BREP-MI)",
        "components": "eigenfaces kept when prior is pca",
        "steps": "repulsion steps (each queries the sphere and the proposal of every identity)",
        "points": "N: points on the sphere queried per identity and step",
        "radius": "the sphere's starting radius in latent units",
        "radius_growth": "gamma: the radius grows by this factor when the whole sphere is labelled the person",
        "max_radius": "the radius stops growing here",
        "alpha": "a step moves alpha x radius away from the points labelled otherwise",
        "latent_radius": "proposals are kept within latent_radius x sqrt(d) of the origin (the prior's typical set)",
        "init_batch": "random latents queried per round while looking for starts labelled as each person",
        "init_rounds": "the most rounds of the start search",
        "query_budget": "the most queries (images) per identity; steps are cut to fit, below one step is an error",
        "seed": "seeds the start pool and every identity's sphere points",
        **{key: text for key, text in _GAN_HELP.items() if key != "latent_weight"},
    },
)
def _brep_mi(model: Any, *, public: Any, input_shape: Any, device: Any, prior: str, components: int, **options: Any):
    """The label-only attack (`dpmi.attacks.label_only.BoundaryRepulsion`)."""
    from dpmi.attacks.label_only import BoundaryRepulsion, BoundaryRepulsionSettings
    from dpmi.attacks.priors.pca_prior import load_pca_prior

    if prior not in BREP_PRIORS:
        raise ValueError(f"brep-mi prior must be one of {', '.join(BREP_PRIORS)}, got {prior!r}")
    device = _query_device(device)
    latent_prior: Any = (
        load_pca_prior(public, int(components), flips=True)[0].to(device)
        if prior == "pca"
        else _gan_prior(public, options).to(device)
    )
    budget = options["query_budget"]
    settings = BoundaryRepulsionSettings(
        steps=int(options["steps"]),
        points=int(options["points"]),
        radius=float(options["radius"]),
        radius_growth=float(options["radius_growth"]),
        max_radius=float(options["max_radius"]),
        alpha=float(options["alpha"]),
        latent_radius=float(options["latent_radius"]),
        init_batch=int(options["init_batch"]),
        init_rounds=int(options["init_rounds"]),
        query_budget=None if budget is None else int(budget),
        seed=int(options["seed"]),
    )
    return BoundaryRepulsion(model, latent_prior, settings, device)


# --- LOMMA for the white-box prior attacks (`dpmi.attacks.lomma`) ----------------------------------------

_LOMMA_HELP = {
    "logit_loss": "true: LOMMA's logit loss -l_label; false: the identity_loss option",
    "surrogates": "models distilled from the target on the public faces, attacked with it (0 = the target alone)",
    "surrogate_model": "the surrogates' architecture (dpmi's model registry: softmax, mlp, cnn, ...)",
    "surrogate_epochs": "distillation epochs on the public images and their mirrors",
}


def _lomma_surrogates(model: Any, public: Any, options: dict[str, Any], device: Any) -> list:
    from dpmi.attacks.lomma import distil_surrogates

    count = int(options.pop("surrogates"))
    architecture = str(options.pop("surrogate_model"))
    epochs = int(options.pop("surrogate_epochs"))
    if count < 0 or epochs < 1:
        raise ValueError(f"LOMMA needs surrogates >= 0 and surrogate_epochs >= 1, got {count} and {epochs}")
    if count == 0:
        return []
    seed = int(options["seed"])
    return distil_surrogates(
        model, public, architecture=architecture, count=count, epochs=epochs, seed=seed, device=device
    )


@register_attack(
    "pca-prior-lomma",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#pca-prior-lomma.
    defaults={
        "components": 40,
        "steps": 100,
        "lr": 0.1,
        "restarts": 5,
        "candidates": 500,
        "prior_weight": 0.1,
        "identity_loss": "margin",
        "selection_shift": 2,
        "seed": 0,
        "logit_loss": True,
        "surrogates": 2,
        "surrogate_model": "mlp",
        "surrogate_epochs": 30,
    },
    needs_public=True,
    quick={"steps": 50, "restarts": 2, "candidates": 100, "surrogate_epochs": 5},
    summary="pca-prior with LOMMA: logit loss and surrogates distilled from the target on public faces",
    reference="LOMMA (Nguyen et al., CVPR 2023): logit loss and model augmentation, on the pca-prior attack",
    help={
        "components": "eigenfaces kept (fitted on the public images and their mirrors)",
        **_SEARCH_HELP,
        **_LOMMA_HELP,
    },
)
def _pca_prior_lomma(
    model: nn.Module, *, public: Any, input_shape: Any, device: Any, components: int, logit_loss: bool, **options: Any
):
    """LOMMA on the eigenface prior (`dpmi.attacks.lomma.LommaAttack`)."""
    import torch

    from dpmi.attacks.lomma import LommaAttack
    from dpmi.attacks.priors.pca_prior import load_pca_prior

    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    device = torch.device(device)
    surrogates = _lomma_surrogates(model, public, options, device)
    prior, _ = load_pca_prior(public, int(components), flips=True)
    return LommaAttack(
        model,
        prior.to(device),
        _search_settings(options),
        logit_loss=bool(logit_loss),
        surrogates=surrogates,
        device=device,
    )


@register_attack(
    "gmi-lomma",
    # Defaults chosen by measurement: docs/results/attack_defaults.md#gmi-lomma.
    defaults={
        "steps": 100,
        "lr": 0.1,
        "restarts": 5,
        "candidates": 500,
        "prior_weight": 0.01,
        "identity_loss": "margin",
        "selection_shift": 2,
        "seed": 0,
        "logit_loss": True,
        "surrogates": 2,
        "surrogate_model": "mlp",
        "surrogate_epochs": 30,
        "latent_weight": 0.0,
        **_GAN_DEFAULTS,
    },
    needs_public=True,
    quick={"steps": 50, "restarts": 2, "candidates": 100, "surrogate_epochs": 5},
    summary="gmi with LOMMA: logit loss and surrogates distilled from the target on public faces",
    reference="LOMMA (Nguyen et al., CVPR 2023): logit loss and model augmentation, on the gmi attack",
    help={**_SEARCH_HELP, **_LOMMA_HELP, **_GAN_HELP},
)
def _gmi_lomma(model: nn.Module, *, public: Any, input_shape: Any, device: Any, logit_loss: bool, **options: Any):
    """LOMMA on the GAN prior (`dpmi.attacks.lomma.LommaAttack`)."""
    import torch

    from dpmi.attacks.lomma import LommaAttack

    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    device = torch.device(device)
    surrogates = _lomma_surrogates(model, public, options, device)
    prior = _gan_prior(public, options, float(options.pop("latent_weight"))).to(device)
    return LommaAttack(
        model, prior, _search_settings(options), logit_loss=bool(logit_loss), surrogates=surrogates, device=device
    )
