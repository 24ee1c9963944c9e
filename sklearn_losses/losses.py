"""Torch losses, usable on their own or inside a skorch net."""

from ._hybrid._loss import (
    HybridMultiLabelLoss,
    correlation_alignment_loss,
    jaccard_supcon_loss,
    weighted_bce,
)
from ._pu._loss import PUMLCLoss, pumlc_mixup_penalty

__all__ = [
    "HybridMultiLabelLoss",
    "PUMLCLoss",
    "correlation_alignment_loss",
    "jaccard_supcon_loss",
    "pumlc_mixup_penalty",
    "weighted_bce",
]
