"""Placeholder until issue 6 lands; replaced wholesale by the real module."""

from sklearn.base import BaseEstimator


class IHOMERClassifier(BaseEstimator):
    """Not implemented yet (issue 6)."""

    def __init__(self, *, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        raise NotImplementedError("IHOMERClassifier lands with issue 6")
