"""Privacy audit beside the accountant, for one privacy level at a time:

* black box: LiRA membership inference (Carlini et al., S&P 2022), online and offline, with K shadow models
  trained together (`train_together`), ROC / AUC / TPR at low FPR, and a Clopper-Pearson epsilon lower bound
  (Jagielski et al. 2020);
* white box: the one-run audit of DP-SGD with gradient canaries (Steinke, Nasr & Jagielski 2023);
* identity level: epsilon for a person with k images in the training set (group privacy).

Entry point: `audit_level(x_members, y_members, x_heldout, y_heldout, recipe, ...) -> AuditRecord`
(`dpmi.audit.api`); `AuditRecord.to_dict()` is the JSON of `dpmi audit --json`.
"""

from dpmi.audit.api import (
    AuditRecord,
    BlackBoxResult,
    audit_level,
    balanced_subsets,
    check_audit_settings,
)
from dpmi.audit.bounds import clopper_pearson, one_run_epsilon, split_threshold_bound
from dpmi.audit.group_privacy import IdentityEpsilon, identity_epsilon
from dpmi.audit.one_run_audit import OneRunResult, one_run_audit
from dpmi.audit.shadow_models import StackedModels, train_together

__all__ = [
    "AuditRecord",
    "BlackBoxResult",
    "IdentityEpsilon",
    "OneRunResult",
    "StackedModels",
    "audit_level",
    "balanced_subsets",
    "check_audit_settings",
    "clopper_pearson",
    "identity_epsilon",
    "one_run_audit",
    "one_run_epsilon",
    "split_threshold_bound",
    "train_together",
]
