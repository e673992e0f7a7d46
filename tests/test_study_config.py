"""StudyConfig: one source of truth (field metadata) for defaults, TOML keys, flags and --help; TOML loads into
the right fields, flags override the file, --quick shrinks the run and dependent defaults follow it, and every
bad setting is a ValueError naming the flag a user would type."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpmi.attacks.registry import attack_spec, available_attacks, resolve_options
from dpmi.privacy.accounting import dpsgd_steps
from dpmi.study.config import (
    FIELDS,
    SETTINGS,
    TOML_LAYOUT,
    StudyConfig,
    grid_identities,
    load_config_file,
    make_config,
)
from dpmi.study.levels import PrivacyLevel, plan_levels


def test_defaults_are_the_study():
    config = make_config()
    assert (config.train.model, config.data.train_per_class, config.train.batch_size, config.train.max_grad_norm) == ("softmax", 7, 40, 1.0)
    assert config.privacy.delta == 1e-5 and config.run.seeds == 3 and config.attack.identities is None
    assert config.recipe.search and config.data.private == () and config.data.public == ()
    assert config.attack.names == tuple(
        a for a in ("mi-face", "pca-prior", "gmi", "pca-prior-bb", "brep-mi") if a in available_attacks()
    )
    assert config.attack.access == ("white-box", "scores", "labels") and config.attack.query_budget == 2000
    levels = plan_levels(config)
    assert [level.key for level in levels if not level.defended] == ["nonprivate", "sigma0.5", "eps8", "eps3", "eps1"]
    assert levels[1].noise_multiplier == 0.5
    assert [level.target_epsilon for level in levels[2:5]] == [8.0, 3.0, 1.0]
    # The frontier: an accuracy-matched early-stopped model per DP-SGD level, and two MI defenses, all non-private.
    defended = [level for level in levels if level.defended]
    assert [(lv.defense, lv.matched_to) for lv in defended[:4]] == [
        ("early-stop", key) for key in ("sigma0.5", "eps8", "eps3", "eps1")]
    assert [(lv.defense, lv.defense_strength) for lv in defended[4:]] == [("label-smoothing", -0.05), ("mid", 0.01)]
    assert not any(lv.private for lv in defended)
    assert config.cell_seeds() == [0, 1, 2]


def test_toml_sections_map_to_fields_and_flags_override(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(
        '[run]\nname = "paper"\nseeds = 2\nseed = 5\n'
        '[data]\nprivate = [0, 1, 2]\npublic = [5, 6]\n'
        '[train]\nmodel = "mlp"\nepochs = 12\nlr = 0.1\n'
        "[recipe]\nsearch = false\n"
        "[privacy]\nnoise_multipliers = [0.5, 2]\ntarget_epsilons = [4]\nnonprivate = false\n"
        '[attack]\nnames = ["mi-face"]\n[attack.mi-face]\nmax_iter = 50\nprocess = "tv"\n'
    )
    config = make_config(path, epochs=20, seeds=None, attack_options={"mi-face": {"patience": 7}})
    assert (config.run.name, config.run.seeds, config.run.seed, config.train.model) == ("paper", 2, 5, "mlp")
    assert config.train.epochs == 20 and config.train.lr == 0.1 and not config.recipe.search
    assert config.data.private == (0, 1, 2) and config.data.public == (5, 6)
    assert config.privacy.noise_multipliers == (0.5, 2.0) and config.privacy.target_epsilons == (4.0,) and not config.privacy.nonprivate
    # A flag changes one option; the file's other options stay.
    assert config.options_for("mi-face") == resolve_options("mi-face", {"max_iter": 50, "process": "tv",
                                                                         "patience": 7})
    assert config.cell_seeds() == [5, 6]
    assert [level.key for level in plan_levels(config) if not level.defended] == ["sigma0.5", "sigma2", "eps4"]


def test_every_field_has_one_toml_place_and_at_most_one_flag():
    fields = set(SETTINGS)
    mapped = [field for keys in TOML_LAYOUT.values() for field in keys.values()]
    assert sorted(mapped + ["attack_options"]) == sorted(fields)  # options live in [attack.NAME] tables
    flags = [s.flag for s in SETTINGS.values() if s.flag]
    assert len(flags) == len(set(flags))


def test_cli_flags_are_derived_from_the_fields():
    """Each StudyConfig flag parses into its field, with None when not given (the TOML/default then stays)."""
    from dpmi.cli import build_parser
    from dpmi.study.flags import study_overrides

    args = build_parser().parse_args(["run", "--epsilons", "8,2", "--no-nonprivate", "--private-people", "0,1",
                                      "--attacks", "mi-face", "--attack-option", "mi-face.max_iter=7",
                                      "--attack-option", "mi-face.process=tv", "--search-lr", "0.5"])
    overrides = study_overrides(args)
    assert overrides["target_epsilons"] == (8.0, 2.0) and overrides["nonprivate"] is False
    assert overrides["private_identities"] == (0, 1) and overrides["attacks"] == ("mi-face",)
    assert overrides["attack_options"] == {"mi-face": {"max_iter": 7, "process": "tv"}}
    assert overrides["recipe_lr"] == (0.5,) and overrides["seeds"] is None
    assert set(overrides) == {name for name, s in SETTINGS.items() if s.flag}
    config = make_config(**overrides)
    assert config.options_for("mi-face")["max_iter"] == 7 and config.run.seeds == 3


def test_quick_means_one_seed_a_short_attack_and_a_small_search():
    config = make_config(quick=True, attacks=("mi-face",))
    assert config.run.seeds == 1 and all(
        config.options_for(name)[key] <= cap
        for name in config.attack.names
        for key, cap in attack_spec(name).quick.items()
    )
    assert len(config.recipe.epochs) == 1 and len(config.recipe.batch_size) == 1


def test_dependent_defaults_follow_their_setting():
    """--quick --identities 2 works: the grid's default (8) follows the attacked people."""
    config = make_config(quick=True, identities=2)
    assert grid_identities(config, 2) == 2 and grid_identities(make_config(), 20) == 8
    with pytest.raises(ValueError, match="--grid-identities"):
        make_config(identities=2, grid_identities=3)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ({"model": "resnet"}, ["unknown model 'resnet'", "--model"]),
        ({"target_epsilons": (8.0, 0.0)}, ["target epsilons must be > 0", "--epsilons"]),
        ({"delta": 1.0}, ["delta must be in (0, 1)", "--delta"]),
        ({"seed": -1}, ["seed must be >= 0", "--seed"]),
        ({"seeds": 0}, ["seeds", "--seeds"]),
        ({"epochs": 0}, ["epochs must be >= 1", "--epochs"]),
        ({"noise_multipliers": (0.0,)}, ["sigma", "--sigmas"]),
        ({"jobs": 0}, ["jobs must be >= 1", "--jobs"]),
        ({"identities": 0}, ["identities must be >= 1", "--identities"]),
        ({"accountant": "moments"}, ["accountant", "--accountant"]),
        ({"nonprivate": False, "noise_multipliers": (), "target_epsilons": ()},
         ["no privacy level", "--no-nonprivate", "--sigmas / --epsilons"]),
        ({"name": "a/b"}, ["name must be", "--name"]),
        ({"epochs": 2.5}, ["epochs", "must be an integer"]),
        ({"delta": "small"}, ["delta", "must be a number"]),
        ({"quick": 1}, ["quick", "must be true or false"]),
        ({"private_identities": (0, 1), "public_identities": (1, 2)}, ["overlap in [1]", "--private-people"]),
        ({"attacks": ("nope",)}, ["unknown attack 'nope'", "--attacks"]),
        ({"attacks": ()}, ["no attack to run", "--attacks"]),
        ({"attack_options": {"mi-face": {"components": 3}}}, ["takes no option", "components"]),
        ({"attack_options": {"nope": {"x": 1}}}, ["unknown attack 'nope'", "[attack.nope]"]),
        ({"recipe_lr": ()}, ["recipe search space is empty", "--search-lr", "--no-recipe-search"]),
        ({"recipe_clip": (1.0, -2.0)}, ["must be > 0", "--search-clip"]),
        ({"recipe_epochs": (30, 30)}, ["repeats", "--search-epochs"]),
    ],
)
def test_bad_settings_name_the_flag(override, fragments):
    with pytest.raises(ValueError) as info:
        make_config(**override)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_an_option_of_another_attack_says_whose_it_is():
    others = [name for name in available_attacks() if name != "mi-face"]
    if not others:
        pytest.skip("only mi-face is registered")
    foreign = next(key for key in resolve_options(others[0]) if key not in resolve_options("mi-face"))
    with pytest.raises(ValueError, match=f"belongs to {others[0]}"):
        make_config(attack_options={"mi-face": {foreign: 1}})


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
    old = tmp_path / "old.toml"
    old.write_text("[attack]\nmax_iter = 3\n")  # format before attacks had their own tables
    with pytest.raises(ValueError, match=r"\[attack.NAME\]"):
        load_config_file(old)


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
    config, default = make_config(example), StudyConfig()
    for name in FIELDS:
        if name != "attack_options":
            assert config.get(name) == default.get(name), name
    for attack in default.attack.names:  # the file spells out each table; the defaults resolve to the same options
        assert config.options_for(attack) == default.options_for(attack)


def test_run_help_lists_exactly_the_toml_layout():
    """`dpmi run --help` is where users read the config sections; it must match what the loader accepts."""
    from dpmi.workflows.run_study import run_epilog as _run_epilog

    listed = {m.group(1): set(m.group(2).replace(",", " ").split())
              for m in re.finditer(r"^\s+\[(\w+)\]\s+(.+)$", _run_epilog(), re.MULTILINE)}
    assert listed == {section: set(keys) for section, keys in TOML_LAYOUT.items()}


def test_each_toml_table_is_one_section_read_at_its_own_place():
    """One dataclass per study.toml table: `config.SECTION.KEY` is `[SECTION] KEY`, and the flat names users type
    (flags, make_config, results.json) reach the same value."""
    from dpmi.study.config import SECTIONS, section_names

    assert section_names() == list(SECTIONS) == [f.name for f in dataclasses.fields(StudyConfig)]
    config = make_config(audit_shadows=4, recipe_lr=(0.2,), epochs=11, data_format="folder")
    assert (config.audit.shadows, config.recipe.lr, config.train.epochs, config.data.format) == (4, (0.2,), 11, "folder")
    for name, s in SETTINGS.items():
        assert getattr(getattr(config, s.section), s.key) == config.get(name)
        assert s.key in TOML_LAYOUT.get(s.section, {}) or s.kind == "options"
    # to_dict is by flat name and from_settings reads it back to an equal config.
    assert StudyConfig.from_settings(config.to_dict()) == config or all(
        StudyConfig.from_settings({k: tuple(v) if isinstance(v, list) else v for k, v in config.to_dict().items()}).get(n)
        == config.get(n)
        for n in SETTINGS
    )


def test_each_section_checks_its_own_values():
    """A section validates itself (no StudyConfig needed); a cross-section rule is StudyConfig's."""
    from dpmi.study.config import AuditSettings, DataSettings, PrivacySettings, RecipeSettings, ReportSettings

    with pytest.raises(ValueError, match="--audit-shadows"):
        AuditSettings(shadows=1).check()
    with pytest.raises(ValueError, match="overlap"):
        DataSettings(private=(0, 1), public=(1, 2)).check()
    with pytest.raises(ValueError, match="--delta"):
        PrivacySettings(delta=1.5).check()
    with pytest.raises(ValueError, match="--search-lr"):
        RecipeSettings(lr=()).check()
    RecipeSettings(search=False, lr=()).check()  # an empty list is fine when the search is off
    ReportSettings(grid_identities=3).check()
    with pytest.raises(ValueError, match="--grid-identities"):
        StudyConfig().with_settings(identities=2, grid_identities=3).check()
    with pytest.raises(ValueError, match="unknown study setting"):
        StudyConfig().with_settings(no_such_setting=1)
