"""Torch ``nn.Module`` networks used by the estimators, usable on their own."""

from ._hybrid_networks import MultiLabelMLP, StackedViewBiLSTM
from ._mlp import MLPNetwork
from ._storm import LossRescalerNetwork

__all__ = ["LossRescalerNetwork", "MLPNetwork", "MultiLabelMLP", "StackedViewBiLSTM"]
