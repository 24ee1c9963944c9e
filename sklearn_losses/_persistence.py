"""Weights-only persistence of the torch-backed estimators.

A file holds tensors and plain Python values only, so ``torch.load(...,
weights_only=True)`` reads it without running code from it. The estimator is
rebuilt from an allow-list of this package's classes: its parameters are set,
its network is built from them as ``fit`` builds it, and the stored weights
are loaded into it.

Every value is written in a small tagged form (a dict with the key
``"__kind__"``) that maps back to exactly one type, so reading a file never
imports or calls anything the file names.
"""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.preprocessing import LabelBinarizer
from skorch.history import History

from ._engine import resolve_device
from .multilabel import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from .noisy import NoisyLabelRescaledClassifier

__all__ = ["load", "save"]

_FORMAT = 1
_KIND = "__kind__"

# The classes a file may name: the import path a user sees, and the class.
_ALLOWED = {
    f"sklearn_losses.{cls.__name__}": cls
    for cls in (
        HybridLossMultiLabelClassifier,
        PUMultiLabelClassifier,
        NoisyLabelRescaledClassifier,
    )
}
# Package classes without torch weights: scikit-learn's own formats suit them.
_ELSEWHERE = {
    "ConformalLabelPowersetClassifier": "it wraps a scikit-learn estimator; use skops.io",
    "IHOMERClassifier": "its learners keep torch tensors inside their own objects, which "
                        "skops cannot store either; persist it with pickle or joblib "
                        "(trusted files only)",
}


class _Unstorable(ValueError):
    """A value with no weights-only form; the message says which and why."""


# --------------------------------------------------------------------------- #
# values to and from the tagged form
# --------------------------------------------------------------------------- #
def _encode(value, where):
    """The tagged, weights-only form of ``value``; ``where`` names it in errors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if sp.issparse(value):
        value = sp.csr_matrix(value)
        return {_KIND: "csr", "shape": tuple(value.shape),
                "data": _encode_array(value.data, where),
                "indices": _encode_array(value.indices, where),
                "indptr": _encode_array(value.indptr, where)}
    if isinstance(value, History):
        return {_KIND: "history", "epochs": _encode(list(value), where)}
    if isinstance(value, LabelBinarizer):
        return {_KIND: "label_binarizer", "classes": _encode(value.classes_, where)}
    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        if getattr(torch.optim, value.__name__, None) is not value:
            raise _Unstorable(f"{where} is the optimizer class {value!r}, not one of torch.optim")
        return {_KIND: "torch_optimizer", "name": value.__name__}
    if isinstance(value, torch.device):
        return {_KIND: "torch_device", "name": str(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        if _KIND in value:
            raise _Unstorable(f"{where} holds the reserved key {_KIND!r}")
        return {key: _encode(item, f"{where}[{key!r}]") for key, item in value.items()}
    raise _Unstorable(f"{where} holds a {type(value).__name__} object")


def _encode_array(array, where):
    if array.dtype.kind in "biuf":
        return {_KIND: "ndarray", "data": torch.from_numpy(np.ascontiguousarray(array).copy())}
    if array.dtype.kind == "O" or array.dtype.kind == "U":
        items = [_encode(item, f"{where} item") for item in array.ravel().tolist()]
        return {_KIND: "objects", "shape": array.shape, "items": items,
                "unicode": array.dtype.kind == "U"}
    raise _Unstorable(f"{where} is an array of dtype {array.dtype}")


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_decode(item) for item in value)
    if not isinstance(value, dict):
        return value
    kind = value.get(_KIND)
    if kind is None:
        return {key: _decode(item) for key, item in value.items()}
    if kind == "ndarray":
        return value["data"].numpy()
    if kind == "objects":
        items = [_decode(item) for item in value["items"]]
        array = np.empty(len(items), dtype=object)
        array[:] = items
        array = array.reshape(value["shape"])
        return array.astype(str) if value["unicode"] else array
    if kind == "csr":
        parts = (_decode(value[key]) for key in ("data", "indices", "indptr"))
        return sp.csr_matrix(tuple(parts), shape=value["shape"])
    if kind == "history":
        return History(_decode(value["epochs"]))
    if kind == "label_binarizer":
        return LabelBinarizer().fit(_decode(value["classes"]))
    if kind == "torch_optimizer":
        return _torch_optimizer(value["name"])
    if kind == "torch_device":
        return torch.device(value["name"])
    raise ValueError(f"The file holds a value of unknown kind {kind!r}; it was not "
                     "written by sklearn_losses.persistence.save.")


def _torch_optimizer(name):
    optimizer = getattr(torch.optim, name, None)
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        raise ValueError(f"The file names {name!r}, which is not an optimizer of torch.optim.")
    return optimizer


# --------------------------------------------------------------------------- #
# estimators
# --------------------------------------------------------------------------- #
def _class_path(estimator):
    name = type(estimator).__name__
    path = f"sklearn_losses.{name}"
    if _ALLOWED.get(path) is type(estimator):
        return path
    if name in _ELSEWHERE and type(estimator).__module__.startswith("sklearn_losses."):
        raise ValueError(f"save() stores the torch-backed estimators only; {name} is not "
                         f"one: {_ELSEWHERE[name]}.")
    raise ValueError(
        f"save() stores estimators of sklearn_losses only ({', '.join(sorted(_ALLOWED))}); "
        f"got {type(estimator).__module__}.{name}."
    )


def _network_state(net):
    """State dicts of every torch module of a trained net (model, loss, STORM's
    rescaler), by attribute name."""
    return {
        name: {key: tensor.detach().cpu() for key, tensor in value.state_dict().items()}
        for name, value in vars(net).items()
        if isinstance(value, torch.nn.Module) and name.endswith("_")
    }


def _fitted_attributes(estimator, params, net):
    """The estimator's fitted state besides ``net_``, in tagged form. A module
    shared with the net (STORM's ``rescaler_``) is stored as a reference."""
    shared = {id(value): name for name, value in vars(net).items()
              if isinstance(value, torch.nn.Module)}
    attributes = {}
    for name, value in vars(estimator).items():
        if name in params or name == "net_":
            continue
        if id(value) in shared and isinstance(value, torch.nn.Module):
            attributes[name] = {_KIND: "net_module", "name": shared[id(value)]}
            continue
        try:
            attributes[name] = _encode(value, f"Fitted attribute {name!r}")
        except _Unstorable as error:
            raise ValueError(f"{error}, which a weights-only file cannot hold. Persist this "
                             "estimator with pickle or joblib (trusted files only).") from None
    return attributes


def _plain_params(estimator):
    params = estimator.get_params(deep=False)
    try:
        return {name: _encode(value, f"Parameter {name!r}") for name, value in params.items()}
    except _Unstorable as error:
        raise ValueError(
            f"{error}; save() stores plain parameters only (numbers, strings, tuples, "
            "arrays, None and torch.optim classes) because loading must not run code. "
            "Use a built-in option (e.g. module='mlp', callbacks=None), or persist with "
            "pickle or joblib (trusted files only)."
        ) from None


def save(estimator, path):
    """Write a fitted torch-backed estimator to ``path``, weights only.

    See :func:`sklearn_losses.persistence.save`.
    """
    path_name = _class_path(estimator)
    net = getattr(estimator, "net_", None)
    if net is None:
        raise ValueError(f"{type(estimator).__name__} is not fitted; fit it before save().")
    params = _plain_params(estimator)
    payload = {
        "format": _FORMAT,
        "class": path_name,
        "params": params,
        "attributes": _fitted_attributes(estimator, params, net),
        "network": _network_state(net),
    }
    torch.save(payload, path)


def _read(path):
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the unpickler's errors name no fix
        raise ValueError(
            f"{path} is not a weights-only sklearn_losses file ({type(error).__name__}: "
            f"{error}). Files written with pickle or joblib must be loaded with those, and "
            "only from a trusted source."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} was not written by sklearn_losses.persistence.save "
                         f"(format {_FORMAT}).")
    cls = _ALLOWED.get(payload.get("class"))
    if cls is None:
        raise ValueError(
            f"{path} names the class {payload.get('class')!r}; load() rebuilds only "
            f"{', '.join(sorted(_ALLOWED))}."
        )
    return cls, payload


def _device_for(requested):
    try:
        return resolve_device(requested)
    except ValueError:
        warnings.warn(
            f"The estimator was saved with device={requested!r}, which is not available "
            "here; it is loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return "cpu"


def _rebuild_network(estimator, state):
    """The trained net: built from the parameters as ``fit`` builds it, then
    the stored weights loaded into every module."""
    n_outputs = estimator.n_labels_
    # Shapes only: the loss's statistics come back with its stored state.
    stub = sp.csr_matrix((2, n_outputs), dtype=np.float32)
    net = estimator._make_net(estimator.n_features_in_, stub, np.ones(2, np.float32), seed=0)
    net.initialize()
    for name, module_state in state.items():
        getattr(net, name).load_state_dict(module_state)
    net.history = estimator.history_
    net.inference_only_ = True
    return net


def load(path, *, device=None):
    """Read an estimator written by :func:`save`, without unpickling code.

    See :func:`sklearn_losses.persistence.load`.
    """
    cls, payload = _read(path)
    params = _decode(payload["params"])
    if device is not None:
        # Asked for here, so an unknown or absent device is an error (only
        # the device the file was saved with falls back to the CPU).
        resolve_device(device)
        params["device"] = device
    estimator = cls(**params)
    attributes = payload["attributes"]
    for name, value in attributes.items():
        if not (isinstance(value, dict) and value.get(_KIND) == "net_module"):
            setattr(estimator, name, _decode(value))
    estimator.device_ = _device_for(estimator.device)
    # Building the net recomputes some fitted attributes (e.g. the hybrid's
    # weights) from the stub targets; the stored ones are put back after.
    fitted = dict(vars(estimator))
    estimator.net_ = _rebuild_network(estimator, payload["network"])
    vars(estimator).update(fitted)
    for name, value in attributes.items():
        if isinstance(value, dict) and value.get(_KIND) == "net_module":
            setattr(estimator, name, getattr(estimator.net_, value["name"]))
    return estimator
