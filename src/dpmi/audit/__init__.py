"""Privacy audit beside the accountant, for one privacy level at a time:

* black box: LiRA membership inference (Carlini et al., S&P 2022), online and offline, with K shadow models
  trained together (`train_together`): membership-inference STRENGTH (ROC, AUC, TPR at an FPR only where the
  non-members scored can measure it, else the TPR at zero false positives among them), not an epsilon bound
  (one fixed split of one target: the guesses are not independent trials);
* white box: the one-run audit of DP-SGD with gradient canaries (Steinke, Nasr & Jagielski 2023), its guesses
  analysed both by Steinke et al. (`one_run_epsilon`) and through f-DP (Mahloujifar, Melis & Chaudhuri 2025,
  `fdp_one_run_bound`);
* identity level: epsilon for a person with k images in the training set (group privacy), and the bound on any
  reconstruction attack's success (`dpmi.privacy.accounting.reconstruction_bound`), record and identity level.

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
from dpmi.audit.fdp_one_run import FdpBound, fdp_one_run_bound
from dpmi.audit.group_privacy import IdentityEpsilon, identity_epsilon
from dpmi.audit.one_run_audit import OneRunResult, one_run_audit
from dpmi.audit.shadow_models import StackedModels, train_together

__all__ = [
    "AuditRecord",
    "BlackBoxResult",
    "FdpBound",
    "IdentityEpsilon",
    "OneRunResult",
    "StackedModels",
    "audit_level",
    "balanced_subsets",
    "check_audit_settings",
    "clopper_pearson",
    "fdp_one_run_bound",
    "identity_epsilon",
    "one_run_audit",
    "one_run_epsilon",
    "split_threshold_bound",
    "train_together",
]
