"""Recent multi-label, conformal, streaming and noisy-label methods as scikit-learn
estimators backed by PyTorch."""

from .multilabel import HybridLossMultiLabelClassifier, PUMultiLabelClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "HybridLossMultiLabelClassifier",
    "PUMultiLabelClassifier",
    "__version__",
]
