"""StudyConfig: defaults are the issue's study, TOML loads into the right fields, flags override the file,
--quick shrinks the run, and every out-of-range setting is a ValueError naming it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpmi.privacy.accounting import dpsgd_steps
from dpmi.study.config import QUICK_MAX_ITER, TOML_LAYOUT, StudyConfig, load_config_file, make_config
from dpmi.study.levels import PrivacyLevel, plan_levels


def test_defaults_are_the_issues_study():
    config = make_config()
    assert (config.model, config.train_per_class, config.batch_size, config.max_grad_norm) == ("softmax", 7, 40, 1.0)
    assert config.delta == 1e-5 and config.seeds == 3 and config.identities == 40
    levels = plan_levels(config)
    assert [level.key for level in levels] == ["nonprivate", "sigma0.5", "eps8", "eps3", "eps1"]
    assert levels[1].noise_multiplier == 0.5
    assert [level.target_epsilon for level in levels[2:]] == [8.0, 3.0, 1.0]
    assert config.cell_seeds() == [0, 1, 2]


def test_toml_sections_map_to_fields_and_flags_override(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(
        '[run]\nname = "paper"\nseeds = 2\nseed = 5\n'
        '[train]\nmodel = "mlp"\nepochs = 12\nlr = 0.1\n'
        "[privacy]\nnoise_multipliers = [0.5, 2]\ntarget_epsilons = [4]\nnonprivate = false\n"
        '[attack]\nmax_iter = 50\nprocess = "tv"\n'
    )
    config = make_config(path, epochs=20, seeds=None)  # None = flag not given: the file's value stays
    assert (config.name, config.seeds, config.seed, config.model) == ("paper", 2, 5, "mlp")
    assert config.epochs == 20 and config.lr == 0.1
    assert config.noise_multipliers == (0.5, 2.0) and config.target_epsilons == (4.0,) and not config.nonprivate
    assert config.attack_max_iter == 50 and config.attack_process == "tv"
    assert config.cell_seeds() == [5, 6]
    assert [level.key for level in plan_levels(config)] == ["sigma0.5", "sigma2", "eps4"]


def test_every_toml_key_reaches_a_field():
    fields = {f.name for f in dataclasses.fields(StudyConfig)}
    mapped = [field for keys in TOML_LAYOUT.values() for field in keys.values()]
    assert sorted(mapped) == sorted(fields)  # each field settable from TOML, exactly once


def test_quick_means_one_seed_and_a_short_attack():
    config = make_config(quick=True)
    assert config.seeds == 1 and config.attack_max_iter <= QUICK_MAX_ITER


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"model": "resnet"}, "unknown model 'resnet'"),
        ({"target_epsilons": (8.0, 0.0)}, "target epsilons must be > 0"),
        ({"target_epsilons": (-1.0,)}, "target epsilons must be > 0"),
        ({"delta": 1.0}, "delta must be in (0, 1)"),
        ({"delta": 0.0}, "delta must be in (0, 1)"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"seeds": 0}, "seeds"),
        ({"epochs": -3}, "epochs must be >= 1"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"batch_size": 281}, "batch_size must be in 1..280"),
        ({"noise_multipliers": (0.0,)}, "sigma"),
        ({"jobs": 0}, "jobs must be >= 1"),
        ({"identities": 41}, "identities must be in 1..40"),
        ({"grid_identities": 9, "identities": 8}, "grid_identities must be in 1..8"),
        ({"accountant": "moments"}, "accountant"),
        ({"nonprivate": False, "noise_multipliers": (), "target_epsilons": ()}, "no privacy level"),
        ({"name": "a/b"}, "name must be"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"delta": "small"}, "delta must be a number"),
        ({"quick": 1}, "quick must be true or false"),
    ],
)
def test_bad_settings_are_named(override, fragment):
    with pytest.raises(ValueError) as info:
        make_config(**override)
    assert fragment in str(info.value)


def test_unreadable_or_unknown_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nseeds = 3")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config_file(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[train]\nepoch = 3\n")
    with pytest.raises(ValueError, match="unknown key 'epoch' in \\[train\\]"):
        load_config_file(unknown)
    section = tmp_path / "section.toml"
    section.write_text("[model]\nname = 'cnn'\n")
    with pytest.raises(ValueError, match="unknown section \\[model\\]"):
        load_config_file(section)


@given(epochs=st.integers(1, 200), batch=st.integers(1, 280))
def test_steps_rule_is_ceil_of_epochs_times_n_over_b(epochs, batch):
    """Levels (like make_private and `dpmi epsilon`) use dpsgd_steps(epochs, q = B / N); the oracle is ceil(E N / B)
    in exact integer arithmetic, so float error in q must not add or drop a step."""
    assert dpsgd_steps(epochs, batch / 280) == -(-epochs * 280 // batch)


def test_level_round_trips_through_json_dict():
    level = PrivacyLevel("eps3", "DP-SGD eps=3", 1.23, 3.0, 1 / 7, 210, 3.0, 2.4)
    assert PrivacyLevel.from_dict(level.to_dict()) == level
    assert level.private and not PrivacyLevel("nonprivate", "non-private").private


def test_example_study_toml_spells_out_the_defaults():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "study.toml"
    assert make_config(example) == StudyConfig()


def test_run_help_lists_exactly_the_toml_layout():
    """`dpmi run --help` is where users read the config sections; it must match what the loader accepts."""
    import re

    from dpmi.cli import RUN_EPILOG
    from dpmi.study.config import TOML_LAYOUT

    listed = {m.group(1): set(m.group(2).replace(",", " ").split())
              for m in re.finditer(r"^\s+\[(\w+)\]\s+(.+)$", RUN_EPILOG, re.M)}
    assert listed == {section: set(keys) for section, keys in TOML_LAYOUT.items()}
