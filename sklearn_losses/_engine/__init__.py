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
    TorchClassifierBase,
    _fit_context,
    as_logits,
    logits_to_proba,
    restore_on_error,
    validate_params,
)
from ._data import (
    BatchIterator,
    DeviceDataset,
    StratifiedValidationSplit,
    dense_rows,
    stratification_targets,
)
from ._device import draw_seed, resolve_device, resolve_n_threads, seeded_torch, torch_threads
from ._net import EarlyStopping, TorchNet
from ._network import (
    MLPNetwork,
    check_hidden_layer_sizes,
    hidden_stack,
    instantiate_module,
)
from ._targets import (
    TargetEncoding,
    binarize_class_labels,
    check_binary_indicator,
    check_thresholds,
    encode_targets,
    f1_optimal_thresholds,
    is_class_label_column,
    labels_from_proba,
    never_positive_error,
    positive_counts,
    read_targets,
    shown_names,
    sparse_corrcoef,
)

__all__ = [
    "BatchIterator",
    "DeviceDataset",
    "EarlyStopping",
    "HasMethods",
    "Integral",
    "Interval",
    "MLPNetwork",
    "Real",
    "StrOptions",
    "StratifiedValidationSplit",
    "TargetEncoding",
    "TorchClassifierBase",
    "TorchNet",
    "_fit_context",
    "check_hidden_layer_sizes",
    "check_thresholds",
    "as_logits",
    "binarize_class_labels",
    "check_binary_indicator",
    "dense_rows",
    "draw_seed",
    "encode_targets",
    "f1_optimal_thresholds",
    "hidden_stack",
    "instantiate_module",
    "is_class_label_column",
    "labels_from_proba",
    "logits_to_proba",
    "never_positive_error",
    "positive_counts",
    "read_targets",
    "resolve_device",
    "resolve_n_threads",
    "restore_on_error",
    "seeded_torch",
    "shown_names",
    "sparse_corrcoef",
    "stratification_targets",
    "torch_threads",
    "validate_params",
]
