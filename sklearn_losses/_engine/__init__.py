"""Shared training engine: the estimator base, data, device, seeding and threads.

Method subpackages import from here, never from the engine's modules, so the
engine can be reorganised without touching them.
"""

from ._base import (
    HasMethods,
    Integral,
    Interval,
    Real,
    StrOptions,
    TabularDataset,
    TorchMultiLabelClassifierBase,
    TorchNet,
    _as_logits,
    _fit_context,
    _never_positive_error,
    binarize_class_labels,
    check_binary_indicator,
    draw_seed,
    is_class_label_column,
    resolve_device,
    seeded_torch,
    validate_params,
)
from ._network import MLPNetwork

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "MLPNetwork",
    "Real",
    "StrOptions",
    "TabularDataset",
    "TorchMultiLabelClassifierBase",
    "TorchNet",
    "_as_logits",
    "_fit_context",
    "_never_positive_error",
    "binarize_class_labels",
    "check_binary_indicator",
    "draw_seed",
    "is_class_label_column",
    "resolve_device",
    "seeded_torch",
    "validate_params",
]
