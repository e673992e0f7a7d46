"""`StudyConfig`: everything `dpmi run` needs, one section per study.toml table.

Code reads a setting by its place (`config.train.epochs`, `config.audit.shadows`); users, results.json and the
cell fingerprint name it by its flat name (`epochs`, `audit_shadows`: `dpmi.study.config.sections.SETTINGS`).
`to_dict` / `from_settings` convert between the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dpmi.study.config.sections import (
    SETTINGS,
    AttackSettings,
    AuditSettings,
    DataSettings,
    DefenseSettings,
    PrivacySettings,
    RecipeSettings,
    ReportSettings,
    RunSettings,
    TrainSettings,
    where,
)
from dpmi.study.config.setting import SECTION_KEY, section

# Audit settings that change an audit record's numbers (and so a run's fingerprint, when the audit is on).
AUDIT_NUMBER_FIELDS = ("audit_shadows", "audit_canaries", "audit_seed")


@dataclass(frozen=True)
class StudyConfig:
    """Everything `dpmi run` needs (units and ranges in each setting's help; `dpmi run --help` lists them).

    The default study: the AT&T faces, the first half of the people private (the target's) and the rest
    public (the attacker's); the tutorial's softmax model on 7 train / 3 test images per private person;
    non-private, DP-SGD at the tutorial's sigma 0.5 and DP-SGD calibrated to epsilon 8, 3, 1, each trained
    with the recipe a small search on the public people chose, beside the default model-inversion defenses;
    every registered attack of mi-face, pca-prior, gmi on every private person; 3 seeds.
    """

    run: RunSettings = section(RunSettings, "run")
    data: DataSettings = section(DataSettings, "data")
    train: TrainSettings = section(TrainSettings, "train")
    recipe: RecipeSettings = section(RecipeSettings, "recipe")
    privacy: PrivacySettings = section(PrivacySettings, "privacy")
    attack: AttackSettings = section(AttackSettings, "attack")
    defense: DefenseSettings = section(DefenseSettings, "defense")
    report: ReportSettings = section(ReportSettings, "report")
    audit: AuditSettings = section(AuditSettings, "audit")

    # Settings that do not change a cell's numbers: a run directory resumes whatever they are.
    # The data's own settings (data, data_format, public_root) are here like `data` always was: which pixels a
    # run used is recorded in results.json's provenance; the public folder's pixels are added to the fingerprint
    # by the runner when one is given.
    NON_CELL_FIELDS = (
        "defenses",  # a defense level's key names the defense and strength: cells of other levels do not change
        "require_matched_baseline",  # a check before the run: no cell changes
        "name",
        "out",
        "jobs",
        "threads",
        "seeds",
        "quick",
        "device",
        "data",
        "grid_identities",
        "shareable",
        "executor",
        "ray_address",
        "data_format",
        "public_root",
    )

    def cell_seeds(self) -> list[int]:
        """The seeds every privacy level is run with."""
        return list(range(self.run.seed, self.run.seed + self.run.seeds))

    def options_for(self, attack: str) -> dict[str, Any]:
        """`attack`'s resolved options: its registered defaults updated by this config's [attack.NAME] table."""
        return self.attack.options_for(attack)

    def get(self, name: str) -> Any:
        """The value of the setting with flat name `name` (e.g. 'audit_shadows')."""
        s = SETTINGS[name]
        return getattr(getattr(self, s.section), s.key)

    def with_settings(self, **values: Any) -> StudyConfig:
        """A copy with the settings named by flat name changed (not validated: `check` does that)."""
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ValueError(f"unknown study setting(s): {', '.join(unknown)}")
        changes: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            s = SETTINGS[name]
            changes.setdefault(s.section, {})[s.key] = value
        return dataclasses.replace(
            self, **{table: dataclasses.replace(getattr(self, table), **keys) for table, keys in changes.items()}
        )

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> StudyConfig:
        """The config with the flat-named `values` over the defaults (not coerced or validated)."""
        return cls().with_settings(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready {flat setting name: value} (tuples become lists, the option tables plain dicts): what
        results.json and study.json store."""
        values: dict[str, Any] = {}
        for name in SETTINGS:
            value = self.get(name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = {k: dict(v) for k, v in value.items()}
            values[name] = value
        return values

    def cell_fingerprint(self) -> dict[str, Any]:
        """The settings a finished cell depends on (everything but NON_CELL_FIELDS; attack options resolved)."""
        values = {k: v for k, v in self.to_dict().items() if k not in self.NON_CELL_FIELDS}
        values["attack_options"] = {name: self.options_for(name) for name in self.attack.names}
        for name in ("audit_enabled", "audit_levels", *(() if self.audit.enabled else AUDIT_NUMBER_FIELDS)):
            values.pop(name, None)  # which levels are audited, and whether, leave every saved number as it is
        return values

    def check(self) -> None:
        """Raise ValueError naming the first setting outside its range and the flag / TOML key that sets it:
        each section's own checks, then those that need two sections. Checks that need the data are
        `validate_against_data`'s."""
        for f in dataclasses.fields(self):
            getattr(self, f.name).check()
        attacked, grid = self.attack.identities, self.report.grid_identities
        if attacked is not None and grid is not None and grid > attacked:
            raise ValueError(
                f"grid_identities must be in 1..{attacked} (the attacked people, --identities) "
                f"({where('grid_identities')}), got {grid}"
            )


def section_names() -> list[str]:
    """StudyConfig's sections, i.e. study.toml's tables, in order."""
    return [f.metadata[SECTION_KEY] for f in dataclasses.fields(StudyConfig)]
