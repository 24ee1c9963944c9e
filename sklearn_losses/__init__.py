"""Recent multi-label, conformal, streaming and noisy-label methods as scikit-learn
estimators backed by PyTorch."""

from .conformal import ConformalLabelPowersetClassifier
from .multilabel import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from .noisy import NoisyLabelRescaledClassifier
from .streaming import IHOMERClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "ConformalLabelPowersetClassifier",
    "HybridLossMultiLabelClassifier",
    "IHOMERClassifier",
    "NoisyLabelRescaledClassifier",
    "PUMultiLabelClassifier",
    "__version__",
]
