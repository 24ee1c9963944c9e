"""Learning from noisy labels by meta-learned loss rescaling (STORM)."""

from ._storm._estimator import NoisyLabelRescaledClassifier

__all__ = ["NoisyLabelRescaledClassifier"]
