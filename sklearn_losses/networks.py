"""Torch ``nn.Module`` networks used by the estimators, usable on their own."""

from ._engine._network import Dropout, MLPNetwork
from ._hybrid._network import MultiLabelMLP, StackedViewBiLSTM
from ._storm._rescaler import LossRescalerNetwork

__all__ = ["Dropout", "LossRescalerNetwork", "MLPNetwork", "MultiLabelMLP", "StackedViewBiLSTM"]
