"""Inductive conformal prediction over label-sets (label powerset)."""

from ._conformal._enumeration import nonconformity
from ._conformal._estimator import (
    ConformalLabelPowersetClassifier,
    ConformalSetTruncatedWarning,
)

__all__ = ["ConformalLabelPowersetClassifier", "ConformalSetTruncatedWarning", "nonconformity"]
