"""Placeholder until issue 7 lands; replaced wholesale by the real module."""

from sklearn.base import BaseEstimator


class NoisyLabelRescaledClassifier(BaseEstimator):
    """Not implemented yet (issue 7)."""

    def __init__(self, *, max_epochs=3, random_state=None):
        self.max_epochs = max_epochs
        self.random_state = random_state

    def fit(self, X, y):
        raise NotImplementedError("NoisyLabelRescaledClassifier lands with issue 7")
