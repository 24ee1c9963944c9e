"""Placeholder until issue 5 lands; replaced wholesale by the real module."""

from sklearn.base import BaseEstimator


class ConformalLabelPowersetClassifier(BaseEstimator):
    """Not implemented yet (issue 5)."""

    def __init__(self, estimator=None, *, random_state=None):
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X, y):
        raise NotImplementedError("ConformalLabelPowersetClassifier lands with issue 5")
