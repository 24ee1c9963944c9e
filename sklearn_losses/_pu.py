"""Placeholder until issue 4 lands; replaced wholesale by the real module."""

from sklearn.base import BaseEstimator


class PUMultiLabelClassifier(BaseEstimator):
    """Not implemented yet (issue 4)."""

    def __init__(self, *, max_epochs=5, random_state=None):
        self.max_epochs = max_epochs
        self.random_state = random_state

    def fit(self, X, y):
        raise NotImplementedError("PUMultiLabelClassifier lands with issue 4")
