"""Multi-label classifiers trained with the hybrid loss and with PU-MLC."""

from ._hybrid import HybridLossMultiLabelClassifier
from ._pu import PUMultiLabelClassifier

__all__ = ["HybridLossMultiLabelClassifier", "PUMultiLabelClassifier"]
