"""The study's configuration: one frozen dataclass per study.toml table, loaded from TOML, overridden by flags,
validated by each section and then across sections.

    setting.py       a setting's user-facing metadata (flat name, flag, kind, help)
    sections.py      the sections ([run], [data], [train], ...), each with its own check, and the settings index
    study_config.py  StudyConfig: the sections together, flat-name views, the cell fingerprint
    toml_file.py     reading study.toml
    coerce.py        type-checking one raw value
    build.py         make_config (defaults, file, flags, --quick, validation) and the data-dependent checks

Each setting's metadata is the one source of truth: the TOML layout, the run command's flags and `--help`
(`dpmi.study.flags`) and the check messages are derived from it, and a test keeps the repository's study.toml
equal to the defaults.
"""

from dpmi.study.config.build import (
    attacked_identities,
    defense_choices,
    grid_identities,
    make_config,
    quicken,
    validate,
    validate_against_data,
)
from dpmi.study.config.coerce import coerce_setting
from dpmi.study.config.sections import (
    AUDIT_CANARIES,
    AUDIT_SHADOWS,
    FIELDS,
    PREFERRED_ATTACKS,
    QUICK_RECIPE_LIMIT,
    QUICK_SEEDS,
    SECTIONS,
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
    check_device,
    default_of,
    where,
)
from dpmi.study.config.setting import Setting
from dpmi.study.config.study_config import AUDIT_NUMBER_FIELDS, StudyConfig, section_names
from dpmi.study.config.toml_file import TOML_LAYOUT, load_config_file

__all__ = [
    "AUDIT_CANARIES",
    "AUDIT_NUMBER_FIELDS",
    "AUDIT_SHADOWS",
    "FIELDS",
    "PREFERRED_ATTACKS",
    "QUICK_RECIPE_LIMIT",
    "QUICK_SEEDS",
    "SECTIONS",
    "SETTINGS",
    "TOML_LAYOUT",
    "AttackSettings",
    "AuditSettings",
    "DataSettings",
    "DefenseSettings",
    "PrivacySettings",
    "RecipeSettings",
    "ReportSettings",
    "RunSettings",
    "Setting",
    "StudyConfig",
    "TrainSettings",
    "attacked_identities",
    "check_device",
    "coerce_setting",
    "default_of",
    "defense_choices",
    "grid_identities",
    "load_config_file",
    "make_config",
    "quicken",
    "section_names",
    "validate",
    "validate_against_data",
    "where",
]
