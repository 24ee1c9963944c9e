"""Multi-label classifiers trained with the hybrid loss and with PU-MLC."""

from ._hybrid._estimator import HybridLossMultiLabelClassifier
from ._pu._estimator import PUMultiLabelClassifier

__all__ = ["HybridLossMultiLabelClassifier", "PUMultiLabelClassifier"]
