"""Inductive conformal prediction over label-sets (label powerset)."""

from ._conformal._estimator import (
    ConformalLabelPowersetClassifier,
    ConformalSetTruncatedWarning,
    nonconformity,
)

__all__ = ["ConformalLabelPowersetClassifier", "ConformalSetTruncatedWarning", "nonconformity"]
