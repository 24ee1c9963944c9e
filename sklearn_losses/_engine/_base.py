"""The base every batch-trained estimator derives from.

The base owns ``fit``, ``predict``, ``predict_proba``, ``decision_function``
and ``score`` (template method). A method supplies narrow hooks: the module,
the criterion built from the training targets, how targets are prepared for
training, extra net arguments and what to compute after training.

Everything that touches scikit-learn's private validation helpers is imported
here, so method modules import them from the engine (STYLE.md section 2).
"""

import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import skorch
import torch
from scipy.special import expit, log_expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.callbacks.scoring import ScoringBase

from ._data import BatchIterator, DeviceDataset, StratifiedValidationSplit, dense_rows
from ._device import draw_seed, resolve_device, resolve_n_threads, seeded_torch, torch_threads
from ._net import EarlyStopping, PlainPrintLog, TorchNet
from ._targets import (
    check_thresholds,
    encode_targets,
    f1_optimal_thresholds,
    labels_from_proba,
    shown_names,
)

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "TorchClassifierBase",
    "_fit_context",
    "as_logits",
    "logits_to_proba",
    "restore_on_error",
    "validate_params",
]

# Rows per inference chunk: large enough to keep the device busy, small
# enough to bound memory whatever the size of X.
_PREDICT_CHUNK = 4096
# Outputs per chunk (rows x labels) when only a summary of the predictions is
# kept, so that memory stays bounded however many labels there are.
_SUMMARY_CHUNK = 2**18


def as_logits(output):
    """Modules may return ``(logits, extra)``; inference uses the logits."""
    return output[0] if isinstance(output, (tuple, list)) else output


def logits_to_proba(logits, multilabel, softmax_classes=False):
    """Probabilities from logits, the one rule all estimators share.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_outputs)
        Raw scores.
    multilabel : bool
        Independent sigmoids per label when True.
    softmax_classes : bool, default=False
        For class labels, use a softmax (a model trained with cross-entropy)
        instead of normalised per-class sigmoids.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_labels or n_classes), dtype float64
    """
    logits = np.asarray(logits, dtype=np.float64)
    if multilabel:
        return expit(logits)
    if logits.shape[1] == 1:
        proba = expit(logits)
        return np.hstack([1.0 - proba, proba])
    if softmax_classes:
        return softmax(logits, axis=1)
    # Normalise the sigmoids in log space: rows whose sigmoids all underflow
    # to 0 would otherwise divide 0 by 0.
    return softmax(log_expit(logits), axis=1)


def _module_device(module):
    """Where a module's weights live (the CPU for one without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _check_module_widths(module, X, n_outputs):
    """Check once, before training, that ``module`` maps ``X``'s columns to
    ``n_outputs`` logits, so that a mismatch gets an error that names both
    widths instead of one from deep inside torch.

    The forward pass runs on two rows in eval mode without gradients, so it
    draws no random numbers and leaves batch norm statistics alone; the
    training mode of each layer is restored afterwards.

    Parameters
    ----------
    module : torch.nn.Module
        The network, returning logits or ``(logits, ...)``.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        What the network reads.
    n_outputs : int
        Logits expected per row.
    """
    expected = (f"The module must take {X.shape[1]} input features and return {n_outputs} "
                "logits per row (one per label, or per class; one for a binary y)")
    rows = torch.from_numpy(dense_rows(X, np.arange(min(2, X.shape[0]))))
    # Per layer: a user may keep some layers (e.g. a frozen batch norm) in eval mode.
    modes = [(layer, layer.training) for layer in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            logits = as_logits(module(rows.to(_module_device(module))))
    except RuntimeError as error:
        raise ValueError(f"{expected}; it failed on rows of X: {error}") from error
    finally:
        for layer, training in modes:
            layer.training = training
    shape = tuple(getattr(logits, "shape", ()))
    if shape != (rows.shape[0], n_outputs):
        raise ValueError(
            f"{expected}; on {rows.shape[0]} rows it returned {type(logits).__name__} "
            f"of shape {shape}."
        )


def _accepts(function, name):
    """Whether ``function`` (e.g. an optimizer class) takes argument ``name``."""
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


# Beyond 2**24, float32 no longer holds every integer: distinct large values
# (e.g. unix timestamps) can become one.
_FLOAT32_EXACT = 2.0**24


def warn_on_float32_collapse(X):
    """Warn when casting ``X`` to float32 merges distinct values of a column.

    Only columns with values beyond ``2**24`` in magnitude are examined, so
    the check costs nothing on scaled data.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Validated features, before the cast.
    """
    values = X.data if sp.issparse(X) else X
    if X.dtype == np.float32 or values.size == 0 or np.abs(values).max() < _FLOAT32_EXACT:
        return
    if sp.issparse(X):
        columns = X.tocsc()
        column_max = abs(columns).max(axis=0).toarray().ravel()
    else:
        columns, column_max = X, np.abs(X).max(axis=0)
    # Columns beyond float32's range are left to check_array, which raises.
    large = np.flatnonzero((column_max >= _FLOAT32_EXACT)
                           & (column_max <= np.finfo(np.float32).max))
    collapsed = []
    for j in large:
        column = columns[:, [j]].toarray().ravel() if sp.issparse(X) else X[:, j]
        if np.unique(column).size > np.unique(column.astype(np.float32)).size:
            collapsed.append(int(j))
    if collapsed:
        warnings.warn(
            f"Feature column(s) {collapsed[:10]} lose distinct values when cast to float32, "
            "the precision the network trains in (values beyond 2**24 in magnitude). "
            "Scale or centre them first, e.g. with StandardScaler.",
            UserWarning,
            stacklevel=4,
        )


class TargetSpacePredictions:
    """Probabilities and 0/1 predictions in the space of the training targets,
    which is where skorch's scoring callbacks (e.g. ``EpochScoring("f1_macro")``)
    compare them with the targets: one column per label, one per class for
    class labels (one-hot), one for a binary ``y``.

    Parameters
    ----------
    multiclass : bool
        Class labels of more than two classes: the most probable class is predicted.
    softmax_classes : bool
        As in :func:`logits_to_proba`.
    thresholds : float or ndarray of shape (n_outputs,)
        Per-output thresholds otherwise.
    """

    def __init__(self, multiclass, softmax_classes, thresholds):
        self.multiclass = multiclass
        self.softmax_classes = softmax_classes
        self.thresholds = thresholds

    def proba(self, logits):
        """Probabilities of the network's outputs."""
        return logits_to_proba(logits, not self.multiclass, self.softmax_classes)

    def labels(self, proba):
        """0/1 int predictions of the same shape as ``proba``."""
        if self.multiclass:
            return np.eye(proba.shape[1], dtype=int)[proba.argmax(axis=1)]
        return (proba >= self.thresholds).astype(int)


class restore_on_error:
    """Context manager: on any exception (Ctrl-C included) put back the
    estimator's attributes as they were, so a failed ``fit`` never leaves a
    half-trained model behind."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __enter__(self):
        self._saved = dict(self.estimator.__dict__)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.estimator.__dict__.clear()
            self.estimator.__dict__.update(self._saved)
        return False


class TorchClassifierBase(ClassifierMixin, BaseEstimator):
    """Fit/predict for the torch-backed classifiers (template method).

    Subclasses declare a keyword-only ``__init__`` holding at least the
    parameters of ``_parameter_constraints`` below and implement
    ``_build_module(n_features, n_outputs)`` and
    ``_build_criterion(Y, sample_weight)``. They may override
    ``_network_inputs``, ``_prepare_targets``, ``_after_fit``, ``_optimizer``,
    ``_net_kwargs`` and ``_net_class``.

    A 2-D ``y`` is a 0/1 indicator matrix: ``predict`` returns an int matrix
    and ``predict_proba`` per-label probabilities. A 1-D ``y`` is one-hot
    encoded (as in ``MLPClassifier``): ``predict`` returns ``classes_`` labels
    and ``predict_proba`` rows that sum to one. ``score`` is scikit-learn's:
    subset accuracy for multi-label targets.
    """

    _parameter_constraints = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="neither"), "array-like",
                      StrOptions({"tune"})],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _net_class = TorchNet
    # torch's optimizers that take ``fused`` run one kernel per parameter group
    # instead of one per tensor, on CUDA and (torch >= 2.4) on the CPU. On the
    # CPU it changes rounding, so only estimators whose step is dominated by
    # such per-tensor overhead (STORM's) ask for it there.
    _fused_on_cpu = False
    # Labels never positive cannot be learned; PU relaxes this.
    _require_positive_labels = True
    _allow_unlabeled_targets = False
    # The softmax rule for 1-D targets (a model trained with cross-entropy).
    _softmax_classes = False

    # ---- hooks ---------------------------------------------------------- #
    def _build_module(self, n_features, n_outputs):
        raise NotImplementedError

    def _build_criterion(self, Y, sample_weight):
        raise NotImplementedError

    def _network_inputs(self, X, Y=None):
        """What the network reads, from validated ``X`` (e.g. extra columns).

        Called with the encoded targets ``Y`` in ``fit``, where it may fit what
        it needs, and without them in ``predict``.
        """
        return X

    def _prepare_targets(self, Y):
        """Targets the network is trained on (e.g. observed positives)."""
        return Y

    def _after_fit(self, X, Y, sample_weight):
        """Fitted attributes computed from the trained network (and the data,
        a weight-``w`` row counting as ``w`` rows)."""

    def _net_kwargs(self, n_samples):
        return {}

    def _optimizer(self):
        return torch.optim.AdamW, {"weight_decay": self.weight_decay}

    # ---- parameters ----------------------------------------------------- #
    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters, as in scikit-learn.

        Returns
        -------
        self : object
            This estimator.
        """
        nested = sorted(key for key in params if key.startswith("module__"))
        if nested and "module" in self.get_params(deep=False):
            self._refuse_module_params(nested, params.get("module", self.module))
        return super().set_params(**params)

    def _refuse_module_params(self, nested, module):
        """skorch routes ``module__*`` to its module; here a built-in
        network's settings are the estimator's own parameters, and a user's
        module takes its settings where it is built."""
        if isinstance(module, str):
            own = [key.split("__", 1)[1] for key in nested]
            own = [name for name in own if name in self.get_params(deep=False)]
            what = (f"module={module!r} names a built-in network, whose settings are this "
                    "estimator's own parameters (e.g. dropout, hidden_layer_sizes)"
                    + (f": set {', '.join(own)} directly" if own else ""))
        else:
            what = "module is your own network, built as module(n_features, n_outputs)"
        raise ValueError(
            f"{', '.join(nested)}: module__* parameters are not routed to the network; "
            f"{what}. To configure your own torch module, give its settings where it is "
            "built: module=functools.partial(MyNet, dropout=0.2) (called as "
            "MyNet(n_features, n_outputs, dropout=0.2)) or a module instance; a grid "
            "search can list such modules as values of module."
        )

    # ---- validation ----------------------------------------------------- #
    def _validate_X(self, X, reset):
        params = dict(accept_sparse="csr", ensure_min_samples=1)
        if not reset:
            return validate_data(self, X, dtype=np.float32, reset=False, **params)
        # Fit sees float64 first, to warn when the cast merges distinct values;
        # the float32 check then reports values the cast turns infinite.
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=True, **params)
        warn_on_float32_collapse(X)
        return check_array(X, dtype=np.float32, **params)

    def _validate_fit_data(self, X, y, sample_weight):
        X = self._validate_X(X, reset=True)
        check_consistent_length(X, y)
        Y, encoding = encode_targets(
            y,
            allow_unlabeled=self._allow_unlabeled_targets,
            require_positive=self._require_positive_labels,
            estimator_name=type(self).__name__,
            keep_sparse=True,
        )
        self.multilabel_ = encoding.multilabel
        self.classes_ = encoding.classes
        self.label_names_ = encoding.label_names
        self._label_binarizer = encoding.binarizer
        self.n_labels_ = Y.shape[1]
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if not np.isfinite(sample_weight).all() or (sample_weight < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")
        if sample_weight.sum() <= 0:
            raise ValueError("sample_weight sums to zero; at least one must be positive.")
        return X, Y, sample_weight

    def _target_summary(self):
        """What a warm start must find again: features and the targets' form."""
        return self.n_features_in_, self.multilabel_, self.label_names_

    def _check_warm_start(self, previous, n_features):
        """A warm start continues the same network on the same outputs."""
        n_previous, multilabel, names = previous
        restart = " Set warm_start=False to start afresh."
        # The network and its optimizer's state stay where they were trained.
        device = resolve_device(self.device)
        if device != self.net_.device:
            raise ValueError(
                f"warm_start=True continues the previous fit on its device, "
                f"{self.net_.device!r}; device={self.device!r} asks for {device!r}. Set "
                f"device={self.net_.device!r} to continue there.{restart}"
            )
        if n_previous != n_features:
            raise ValueError(
                f"warm_start=True continues the previous fit, which had {n_previous} "
                f"features; this data has {n_features}.{restart}"
            )
        kinds = {True: "a multi-label indicator matrix", False: "class labels"}
        if multilabel != self.multilabel_:
            raise ValueError(
                f"warm_start=True continues the previous fit, whose y was "
                f"{kinds[multilabel]}; this y holds {kinds[self.multilabel_]}, which "
                f"the network's outputs do not mean.{restart}"
            )
        if not np.array_equal(names, self.label_names_):
            what = "labels" if multilabel else "classes"
            raise ValueError(
                f"warm_start can only be used where y has the same {what} as in the "
                f"previous call: it had {shown_names(names)}, this y has "
                f"{shown_names(self.label_names_)}.{restart}"
            )

    def _set_thresholds(self, n_labels):
        if not (self.multilabel_ or n_labels == 1):
            self._refuse_multiclass_thresholds()
        # "tune" is resolved from the validation rows after training.
        if not isinstance(self.threshold, str):
            self.thresholds_ = check_thresholds(self.threshold, n_labels)

    def _refuse_multiclass_thresholds(self):
        """Multi-class predictions are the most probable class: no threshold
        takes part, so one other than the default is a mistake to report."""
        default = not isinstance(self.threshold, str) and np.all(
            np.asarray(self.threshold, dtype=np.float64) == 0.5
        )
        if not default:
            raise ValueError(
                f"threshold={self.threshold!r} applies to multi-label and binary targets; "
                f"this y has {len(self.classes_)} classes, and multi-class predictions "
                "are the most probable class. Leave threshold at 0.5, or pass a 0/1 "
                "indicator matrix (e.g. from LabelBinarizer) for one threshold per class."
            )

    def _check_validation_size(self, n_samples):
        """``early_stopping`` and ``threshold="tune"`` need held-out rows; as in
        ``MLPClassifier``, too few of them is an error, not a silent no-op."""
        uses = (("early_stopping=True", self.early_stopping),
                ("threshold='tune'", isinstance(self.threshold, str)))
        needs = " and ".join(name for name, used in uses if used)
        if needs and not self._can_split(n_samples):
            raise ValueError(
                f"With {needs}, validation_fraction={self.validation_fraction} of the "
                f"{n_samples} rows holds out {round(self.validation_fraction * n_samples)} "
                "row(s); at least 1 held-out and 2 "
                f"training rows are needed. Increase validation_fraction or the number of "
                f"rows, or do without {needs}."
            )

    def _check_callbacks(self):
        """Callbacks that read the held-out rows need a validation split; say
        so before training, not with skorch's missing-key error after an epoch."""
        if self.early_stopping or isinstance(self.threshold, str):
            return
        for item in self.callbacks or []:
            cb = item[1] if isinstance(item, (tuple, list)) else item
            monitor = getattr(cb, "monitor", None)
            if isinstance(cb, ScoringBase) and not cb.on_train:
                reason = "scores the held-out rows (on_train=False)"
            elif isinstance(monitor, str) and monitor.startswith("valid_"):
                reason = f"monitors {monitor!r}"
            else:
                continue
            raise ValueError(
                f"The callback {type(cb).__name__} {reason}, but this fit holds out no "
                "rows. Set early_stopping=True (or threshold='tune') to hold out "
                "validation_fraction of them, or use the training data instead "
                "(on_train=True, monitor='train_loss_best' or 'train_loss')."
            )

    # ---- fit ------------------------------------------------------------ #
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : array-like of shape (n_samples, n_labels) or (n_samples,)
            0/1 label indicator matrix, or 1-D class labels (one-hot encoded).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the loss.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        with restore_on_error(self), torch_threads(resolve_n_threads(self.n_jobs)):
            warm = self.warm_start and hasattr(self, "net_")
            if warm and getattr(self.net_, "inference_only_", False):
                raise ValueError(
                    "This estimator was read by sklearn_losses.persistence.load, which keeps "
                    "what prediction needs, not the state training continues from. Set "
                    "warm_start=False to train afresh, or persist with pickle to continue."
                )
            previous = self._target_summary() if warm else None
            X, Y, sample_weight = self._validate_fit_data(X, y, sample_weight)
            if warm:
                self._check_warm_start(previous, X.shape[1])
            self._set_thresholds(Y.shape[1])
            self._check_validation_size(X.shape[0])
            self._check_callbacks()
            X = self._network_inputs(X, Y)
            self._train(X, self._prepare_targets(Y), sample_weight, warm)
            if isinstance(self.threshold, str):
                self._tune_thresholds(X, Y)
            self._after_fit(X, Y, sample_weight)
        return self

    def _train(self, X, Y, sample_weight, warm):
        self.device_ = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        with seeded_torch(seed, self.device_):
            data = DeviceDataset(X, Y, sample_weight, self.device_)
            if warm:
                net = self.net_
                with net.rollback_on_error():
                    self._continue_net(Y, sample_weight, seed)
                    net.partial_fit(data)
                    net.raise_interrupt()
            else:
                net = self._make_net(X.shape[1], Y, sample_weight, seed)
                _check_module_widths(net.module, X, Y.shape[1])
                net.fit(data)
                net.raise_interrupt()
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        stopper = dict(net.callbacks_).get("early_stopping")
        self.best_epoch_ = stopper.best_epoch_ if stopper else self.n_epochs_

    def _can_split(self, n_samples):
        """Whether ``validation_fraction`` of ``n_samples`` rows leaves at
        least 1 held-out and 2 training rows."""
        n_valid = round(self.validation_fraction * n_samples)
        return n_valid >= 1 and n_samples - n_valid >= 2

    def _validation(self, n_samples, seed):
        """The validation split and the history key to monitor."""
        tune = isinstance(self.threshold, str)
        # fit refuses too few rows (_check_validation_size); persistence
        # rebuilds the net from a two-row stub, which gets no split.
        if not (self.early_stopping or tune) or not self._can_split(n_samples):
            return None, "train_loss"
        split = StratifiedValidationSplit(self.validation_fraction, seed)
        return split, "valid_loss" if self.early_stopping else "train_loss"

    def _tune_thresholds(self, X, Y):
        """Per-label thresholds that maximise F1 on the held-out rows; for a
        binary 1-D ``y``, the threshold on the positive class's probability.

        A label without a positive among those rows keeps 0.5.
        """
        self.thresholds_ = np.full(Y.shape[1], 0.5)
        rows = getattr(self.net_, "valid_rows_", None)
        if rows is None:
            return
        proba = self._proba_from_logits(self._forward(X[rows]))
        # A binary y's one column is the positive class, proba's last.
        proba = proba[:, -Y.shape[1]:]
        # The held-out rows' labels, dense like their probabilities.
        self.thresholds_ = f1_optimal_thresholds(dense_rows(Y, rows), proba)

    def _callbacks(self, monitor):
        stopping = EarlyStopping(monitor, self.n_iter_no_change, self.tol, self.early_stopping)
        schedule = skorch.callbacks.LRScheduler(
            policy=torch.optim.lr_scheduler.ReduceLROnPlateau,
            monitor=monitor,
            factor=0.2,
            patience=max(1, self.n_iter_no_change // 2),
        )
        callbacks = [("early_stopping", stopping), ("lr_scheduler", schedule)]
        callbacks += list(self.callbacks or [])
        if self.verbose >= 2:
            callbacks.append(("progress", skorch.callbacks.ProgressBar()))
        return callbacks + [("print_log", PlainPrintLog())]

    def _target_space_predictions(self, n_outputs):
        """The rule by which skorch's scoring callbacks predict during training."""
        multiclass = not self.multilabel_ and n_outputs > 1
        # "tune" finds the thresholds after training.
        thresholds = 0.5 if isinstance(self.threshold, str) else self.thresholds_
        return TargetSpacePredictions(multiclass, self._softmax_classes, thresholds)

    def _net_params(self, Y, sample_weight, seed):
        """The net's settings that follow the estimator's parameters and the
        training targets: all but the module."""
        optimizer, optimizer_kwargs = self._optimizer()
        split, monitor = self._validation(Y.shape[0], seed)
        params = {
            "criterion": self._build_criterion(Y, sample_weight),
            "optimizer": optimizer,
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "train_split": split,
            "device": self.device_,
            "iterator_train": BatchIterator,
            "iterator_valid": BatchIterator,
            "iterator_train__shuffle": True,
            "iterator_train__generator": torch.Generator().manual_seed(seed),
            "predict_nonlinearity": None,
            "predictions": self._target_space_predictions(Y.shape[1]),
            "verbose": int(self.verbose),
            "callbacks": self._callbacks(monitor),
        }
        if (self.device_.startswith("cuda") or self._fused_on_cpu) and _accepts(optimizer, "fused"):
            optimizer_kwargs = {"fused": True, **optimizer_kwargs}
        params.update({f"optimizer__{k}": v for k, v in optimizer_kwargs.items()})
        params.update(self._net_kwargs(Y.shape[0]))
        return params

    def _make_net(self, n_features, Y, sample_weight, seed):
        module = self._build_module(n_features, Y.shape[1])
        return self._net_class(module=module, **self._net_params(Y, sample_weight, seed))

    def _continue_net(self, Y, sample_weight, seed):
        """Set the fitted net up to continue training with the current
        parameters, as ``MLPClassifier``'s warm start does.

        It keeps its module (a changed architecture is ignored), its device,
        its optimizer's state and its shuffling generator; everything else
        (epochs, learning rate, batch size, validation split, callbacks, and
        the criterion built from this ``y``) is rebuilt.
        """
        net = self.net_
        kept = ("optimizer", "device", "iterator_train__generator", "optimizer__fused")
        params = {k: v for k, v in self._net_params(Y, sample_weight, seed).items()
                  if k not in kept}
        # skorch updates the optimizer's parameter groups in place for these.
        net.set_params(**{k: params.pop(k) for k in list(params)
                          if k == "lr" or k.startswith("optimizer__")})
        for name, value in params.items():
            setattr(net, name, value)
        net.initialize_criterion()
        net.initialize_callbacks()

    # ---- inference ------------------------------------------------------ #
    def _check_fitted_X(self, X):
        check_is_fitted(self, "net_")
        return self._validate_X(X, reset=False)

    def _inference_module(self):
        """The module ``predict`` runs, and the dtype its inputs take."""
        module = self.net_.module_
        module.eval()
        return module, torch.float32

    def _logit_chunks(self, X, chunk=None):
        """Logits of already validated ``X``, one device tensor per ``chunk``
        rows (at most ``_PREDICT_CHUNK``, which bounds the network's
        activations)."""
        chunk = _PREDICT_CHUNK if chunk is None else min(chunk, _PREDICT_CHUNK)
        net = self.net_
        module, dtype = self._inference_module()
        # Chunks are sliced by hand: a DataLoader draws a seed from torch's
        # global RNG, and predicting must leave it untouched. net.device rather
        # than device_: skorch moves a net pickled on CUDA to the CPU when it is
        # loaded where CUDA is absent.
        with torch_threads(resolve_n_threads(self.n_jobs)), torch.inference_mode():
            for start in range(0, X.shape[0], chunk):
                rows = np.arange(start, min(start + chunk, X.shape[0]))
                Xi = torch.from_numpy(dense_rows(X, rows)).to(net.device, dtype)
                yield as_logits(module(Xi))

    def _forward(self, X):
        """Logits (float64 ndarray) of already validated ``X``."""
        return torch.cat(list(self._logit_chunks(X))).cpu().numpy().astype(np.float64)

    def _summary_chunks(self, X):
        """Probabilities of already validated ``X`` in chunks of bounded size:
        fewer rows than a predict chunk when there are many labels."""
        chunk = max(1, _SUMMARY_CHUNK // max(self.n_labels_, 1))
        for logits in self._logit_chunks(X, chunk):
            yield self._proba_from_logits(logits.cpu().numpy())

    def _mean_proba(self, X, sample_weight=None):
        """Mean predicted probability per output over already validated ``X``,
        a weight-``w`` row counting as ``w`` rows, without building a float
        ``(n_samples, n_labels)`` matrix."""
        if sample_weight is None:
            return sum(proba.sum(axis=0) for proba in self._summary_chunks(X)) / X.shape[0]
        total, start = 0.0, 0
        for proba in self._summary_chunks(X):
            stop = start + proba.shape[0]
            total = total + (proba * sample_weight[start:stop, None]).sum(axis=0)
            start = stop
        return total / sample_weight.sum(dtype=np.float64)

    def _compact_labels(self, X):
        """``predict`` of already validated ``X``; a multi-label indicator as
        uint8, built without a float ``(n_samples, n_labels)`` matrix."""
        parts = (self._labels(proba) for proba in self._summary_chunks(X))
        if not self.multilabel_:
            return np.concatenate(list(parts))
        labels = np.empty((X.shape[0], self.n_labels_), dtype=np.uint8)
        start = 0
        for part in parts:
            labels[start:start + len(part)] = part
            start += len(part)
        return labels

    def _logits(self, X):
        return self._forward(self._network_inputs(self._check_fitted_X(X)))

    def decision_function(self, X):
        """Raw network outputs (logits).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_labels) or (n_samples,)
            Logits; 1-D for a binary 1-D target, as scikit-learn expects.
        """
        logits = self._logits(X)
        return logits.ravel() if logits.shape[1] == 1 and not self.multilabel_ else logits

    def predict_proba(self, X):
        """Per-label (or per-class) probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels), dtype float64
            Sigmoid probabilities for a multi-label target. For a 1-D target the
            rows sum to one over ``classes_``.
        """
        return self._proba_from_logits(self._logits(X))

    def _proba_from_logits(self, logits):
        return logits_to_proba(logits, self.multilabel_, self._softmax_classes)

    def predict(self, X):
        """Predict labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_labels) or (n_samples,)
            0/1 int indicator matrix (``proba >= thresholds_``) for a multi-label
            target, else class labels from ``classes_``.
        """
        return self._labels(self.predict_proba(X))

    def _labels(self, proba):
        return labels_from_proba(proba, self.thresholds_, self.classes_, self.multilabel_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
