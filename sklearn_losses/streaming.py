"""Online multi-label learning over label clusters restructured on drift (iHOMER)."""

from ._ihomer._estimator import IHOMERClassifier, IHOMERRiver, prequential_evaluate

__all__ = ["IHOMERClassifier", "IHOMERRiver", "prequential_evaluate"]
