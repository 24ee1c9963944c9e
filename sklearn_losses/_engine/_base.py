"""Private plumbing shared by the torch-backed estimators.

Everything that touches sklearn's private validation helpers lives here, so the
public modules import them from one place (STYLE.md section 2).
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import skorch
import torch
from scipy.special import expit, log_expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "TorchMultiLabelClassifierBase",
    "TorchNet",
    "TabularDataset",
    "binarize_class_labels",
    "check_binary_indicator",
    "is_class_label_column",
    "draw_seed",
    "resolve_device",
    "seeded_torch",
    "validate_params",
    "_fit_context",
]


# --------------------------------------------------------------------------- #
# device and seeding
# --------------------------------------------------------------------------- #
def resolve_device(device):
    """Return the torch device string that ``device`` stands for.

    ``"auto"`` means CUDA when a GPU is visible, else CPU. Asking for CUDA on a
    machine without one is an error rather than a silent fallback, so a user
    never believes they trained on a GPU when they did not.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='auto' or device='cpu'."
        )
    return str(device)


def draw_seed(random_state):
    """Draw one integer seed for torch from a sklearn ``random_state``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class seeded_torch:
    """Context manager: seed torch inside a fork of its global RNG state.

    The caller's global RNG state (CPU and, when used, CUDA) is restored on
    exit, so fitting an estimator never perturbs user code that relies on
    ``torch.manual_seed``.
    """

    def __init__(self, seed, device="cpu"):
        self.seed = seed
        self.device = device

    def __enter__(self):
        cuda = [torch.device(self.device)] if self.device.startswith("cuda") else []
        self._fork = torch.random.fork_rng(devices=cuda)
        self._fork.__enter__()
        torch.manual_seed(self.seed)
        return self

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
class TabularDataset(torch.utils.data.Dataset):
    """Rows of a dense or CSR matrix with optional targets and sample weights.

    Sparse rows are densified one batch at a time through ``__getitems__`` (the
    whole matrix is never densified). Items are ``(x, {"y": y, "w": w})`` so a
    loss can receive per-sample weights; at predict time ``y`` is a dummy.
    """

    def __init__(self, X, Y=None, sample_weight=None):
        self.X = X
        self.Y = None if Y is None else np.asarray(Y, dtype=np.float32)
        n = X.shape[0]
        self.w = (
            np.ones(n, dtype=np.float32)
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float32)
        )

    def __len__(self):
        return self.X.shape[0]

    def _rows(self, idx):
        rows = self.X[idx]
        if sp.issparse(rows):
            rows = rows.toarray()
        return np.asarray(rows, dtype=np.float32)

    def __getitem__(self, i):
        return self.__getitems__([i])[0]

    def __getitems__(self, indices):
        idx = np.asarray(indices)
        X = self._rows(idx)
        w = self.w[idx]
        Y = self.Y[idx] if self.Y is not None else np.zeros((len(idx), 1), np.float32)
        return _RowBatch([(X[k], {"y": Y[k], "w": w[k]}) for k in range(len(idx))], X, Y, w)


class _RowBatch(list):
    """Rows of a batch that also keep the batch's arrays, so that collating is
    one tensor per array instead of stacking row by row."""

    def __init__(self, rows, X, Y, w):
        super().__init__(rows)
        self.arrays = (X, Y, w)


def collate_rows(batch):
    """``collate_fn`` for ``TabularDataset`` batches; other batches go to torch's
    default collation."""
    if type(batch) is not _RowBatch:
        return torch.utils.data.default_collate(batch)
    X, Y, w = (torch.from_numpy(a) for a in batch.arrays)
    return X, {"y": Y, "w": w}


def check_binary_indicator(Y, *, allow_unlabeled=False, name="Y"):
    """Validate a 2-D 0/1 label matrix and return it as float32.

    Parameters
    ----------
    Y : array-like or sparse matrix of shape (n_samples, n_labels)
        Label indicator matrix.
    allow_unlabeled : bool, default=False
        When True, ``-1`` and NaN are accepted as "unknown" (PU / partial labels).
    name : str, default="Y"
        Name used in error messages.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_labels), dtype float32
    """
    if sp.issparse(Y):
        Y = Y.toarray()
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_labels); got shape {Y.shape}.")
    allowed = {0.0, 1.0, -1.0} if allow_unlabeled else {0.0, 1.0}
    finite = Y[~np.isnan(Y)] if allow_unlabeled else Y
    if not allow_unlabeled and np.isnan(Y).any():
        raise ValueError(
            f"{name} contains NaN; a label indicator matrix must hold only 0 and 1."
        )
    bad = np.setdiff1d(np.unique(finite), sorted(allowed))
    if bad.size:
        expect = "0, 1, -1 or NaN" if allow_unlabeled else "0 and 1"
        raise ValueError(
            f"{name} must be a binary indicator matrix holding only {expect}; found "
            f"value(s) {bad[:5].tolist()}. Binarise it first, e.g. with "
            "sklearn.preprocessing.MultiLabelBinarizer."
        )
    return Y.astype(np.float32)


def is_class_label_column(y):
    """Whether a 2-D ``y`` is a single column of class labels, not an indicator.

    A one-column 0/1 matrix is a multi-label problem with one label; a column of
    other values (e.g. ``y[:, None]`` for three classes) holds class labels.
    """
    if y.ndim != 2 or y.shape[1] != 1:
        return False
    if y.dtype.kind not in "biuf":
        return True
    values = y[~np.isnan(y)] if y.dtype.kind == "f" else y
    return not np.isin(values, (0, 1)).all()


def binarize_class_labels(y):
    """One-hot encode 1-D class labels, as ``MLPClassifier`` does.

    Returns the fitted :class:`~sklearn.preprocessing.LabelBinarizer` and the
    ``(n_samples, n_columns)`` int indicator (one column for two classes).
    """
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type {kind!r} for a 1-D y; pass class labels or a "
            "2-D 0/1 indicator matrix for multi-label targets."
        )
    binarizer = LabelBinarizer().fit(y)
    return binarizer, binarizer.transform(y)


def _never_positive_error(names):
    shown = ", ".join(map(str, names[:10]))
    more = f" (and {len(names) - 10} more)" if len(names) > 10 else ""
    return ValueError(
        f"Label(s) {shown}{more} are never positive in the training data, so "
        "nothing can be learned for them. Drop those columns from Y (e.g. "
        "Y[:, Y.sum(axis=0) > 0]) or add examples where they are positive."
    )


# --------------------------------------------------------------------------- #
# skorch net
# --------------------------------------------------------------------------- #
class TorchNet(skorch.NeuralNet):
    """skorch net whose targets carry per-sample weights.

    The criterion is called as ``criterion(y_pred, y, weight=w)``. When the
    criterion exposes ``last_components_`` (a dict of scalar tensors), each
    component is logged per batch and averaged per epoch in ``history``.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = skorch.utils.to_tensor(y_true, device=self.device)
        loss = self.criterion_(y_pred, y_true["y"], weight=y_true["w"])
        if training:
            for key, value in getattr(self.criterion_, "last_components_", {}).items():
                self.history.record_batch(key, float(value))
        return loss

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)
        batches = self.history[-1, "batches"]
        losses = [b["train_loss"] for b in batches if "train_loss" in b]
        # A NaN/inf loss leaves NaN weights behind; stop with advice instead of
        # returning a model that predicts garbage.
        if not np.isfinite(losses).all():
            raise ValueError(
                f"Training diverged in epoch {len(self.history)}: the loss became "
                "NaN or infinite. Scale the features (e.g. StandardScaler), clip "
                "extreme values, or lower lr."
            )
        keys = getattr(self.criterion_, "last_components_", {}).keys()
        for key in keys:
            values = [b[key] for b in batches if key in b]
            if values:
                self.history.record(key, float(np.mean(values)))


def _as_logits(output):
    """Modules may return ``(logits, extra)``; inference uses the logits."""
    return output[0] if isinstance(output, (tuple, list)) else output


# --------------------------------------------------------------------------- #
# estimator base
# --------------------------------------------------------------------------- #
class TorchMultiLabelClassifierBase(ClassifierMixin, BaseEstimator):
    """Fit/predict plumbing for the torch-backed multi-label classifiers.

    Subclasses declare their own keyword-only ``__init__`` and implement
    ``_build_module(n_features, n_outputs)`` and ``_build_criterion(Y, weight)``;
    they may override ``_net_class`` and ``_net_kwargs``.

    A 2-D ``y`` is a 0/1 indicator matrix: ``predict`` returns an int matrix
    and ``predict_proba`` per-label probabilities. A 1-D ``y`` is one-hot
    encoded (as in ``MLPClassifier``): ``predict`` returns ``classes_`` labels
    and ``predict_proba`` rows that sum to one.
    """

    _parameter_constraints = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _net_class = TorchNet
    # Labels never positive cannot be learned; subclasses may relax this.
    _require_positive_labels = True
    _allow_unlabeled_targets = False

    # ---- hooks ---------------------------------------------------------- #
    def _build_module(self, n_features, n_outputs):
        raise NotImplementedError

    def _build_criterion(self, Y, weight):
        raise NotImplementedError

    def _net_kwargs(self, n_samples):
        return {}

    def _optimizer(self):
        return torch.optim.AdamW, {}

    # ---- validation ----------------------------------------------------- #
    def _validate_targets(self, y):
        """Encode ``y`` to a float32 indicator matrix and set label attributes."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        names = list(y.columns) if hasattr(y, "columns") else None
        y_arr = y.toarray() if sp.issparse(y) else np.asarray(y)
        if names is None and is_class_label_column(y_arr):
            y_arr = y_arr.ravel()
        if y_arr.ndim == 1:
            self._label_binarizer, Y = binarize_class_labels(y_arr)
            self.classes_ = self._label_binarizer.classes_
            self.multilabel_ = False
            Y = Y.astype(np.float32)
        else:
            Y = check_binary_indicator(
                y_arr, allow_unlabeled=self._allow_unlabeled_targets, name="y"
            )
            self.multilabel_ = True
            self.classes_ = np.arange(Y.shape[1])
        self.n_labels_ = Y.shape[1]
        self.label_names_ = (
            np.asarray(names, dtype=object)
            if names is not None
            else (self.classes_ if not self.multilabel_ else np.arange(Y.shape[1]))
        )
        if self._require_positive_labels and self.multilabel_:
            never = np.flatnonzero(np.nan_to_num(Y, nan=0.0).clip(0).sum(axis=0) == 0)
            if never.size:
                raise _never_positive_error([self.label_names_[j] for j in never])
        return Y

    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=np.float32,
            reset=reset,
            ensure_min_samples=1,
        )

    def _validate_fit_data(self, X, y, sample_weight):
        X = self._validate_X(X, reset=True)
        check_consistent_length(X, y)
        Y = self._validate_targets(y)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if not np.isfinite(sample_weight).all() or (sample_weight < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")
        if sample_weight.sum() <= 0:
            raise ValueError("sample_weight sums to zero; at least one must be positive.")
        return X, Y, sample_weight

    # ---- fit ------------------------------------------------------------ #
    def _make_net(self, n_features, Y, sample_weight, seed):
        optimizer, optimizer_kwargs = self._optimizer()
        kwargs = {
            "module": self._build_module(n_features, Y.shape[1]),
            "criterion": self._build_criterion(Y, sample_weight),
            "optimizer": optimizer,
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "train_split": None,
            "device": self.device_,
            "iterator_train__shuffle": True,
            "iterator_train__generator": torch.Generator().manual_seed(seed),
            "iterator_train__collate_fn": collate_rows,
            "iterator_valid__collate_fn": collate_rows,
            "predict_nonlinearity": None,
            "verbose": int(self.verbose),
            "callbacks": (
                [("progress", skorch.callbacks.ProgressBar())] if self.verbose >= 2 else None
            ),
        }
        kwargs.update({f"optimizer__{k}": v for k, v in optimizer_kwargs.items()})
        kwargs.update(self._net_kwargs(Y.shape[0]))
        return self._net_class(**kwargs)

    def _fit_torch(self, X, Y, sample_weight):
        """Build and train the skorch net on validated data; sets ``net_``."""
        self.device_ = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        with seeded_torch(seed, self.device_):
            self.net_ = self._make_net(X.shape[1], Y, sample_weight, seed)
            self.net_.fit(TabularDataset(X, Y, sample_weight), y=None)
        self.history_ = self.net_.history
        return self

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
            Per-sample weights; the loss is ``sum(w * l) / sum(w)``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, Y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        self._set_thresholds(Y)
        return self._fit_torch(X, Y, sample_weight)

    # ---- thresholds ----------------------------------------------------- #
    def _set_thresholds(self, Y):
        threshold = getattr(self, "threshold", 0.5)
        if isinstance(threshold, str):
            return  # a subclass resolves string options after training
        if np.ndim(threshold) and np.shape(threshold) != (Y.shape[1],):
            raise ValueError(
                f"threshold has {np.size(threshold)} entries but y has {Y.shape[1]} "
                "labels; pass a scalar or one threshold per label."
            )
        t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (Y.shape[1],))
        if not ((t > 0) & (t < 1)).all():
            raise ValueError("threshold values must lie strictly between 0 and 1.")
        self.thresholds_ = t.copy()

    # ---- inference ------------------------------------------------------ #
    def _check_fitted_X(self, X):
        check_is_fitted(self, "net_")
        return self._validate_X(X, reset=False)

    def _logits(self, X):
        X = self._check_fitted_X(X)
        net = self.net_
        net.module_.eval()
        rows = TabularDataset(X)
        out = []
        # Batches are sliced by hand: a DataLoader draws a seed from torch's global
        # RNG, and predicting must leave it untouched. net.device rather than
        # device_: skorch moves a net pickled on CUDA to the CPU when it is loaded
        # where CUDA is absent.
        with torch.inference_mode():
            for start in range(0, X.shape[0], net.batch_size):
                batch = np.arange(start, min(start + net.batch_size, X.shape[0]))
                Xi = torch.from_numpy(rows._rows(batch))
                out.append(_as_logits(net.module_(Xi.to(net.device))).float().cpu())
        return torch.cat(out).numpy().astype(np.float64)

    def decision_function(self, X):
        """Raw network outputs (logits).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_labels) or (n_samples,)
            Logits; 1-D for a binary 1-D target, as sklearn expects.
        """
        logits = self._logits(X)
        return logits.ravel() if logits.shape[1] == 1 and not self.multilabel_ else logits

    def predict_proba(self, X):
        """Per-label probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels), dtype float64
            Sigmoid probabilities for a multi-label target. For a 1-D target the
            rows are normalised to sum to one over ``classes_``.
        """
        logits = self._logits(X)
        if self.multilabel_:
            return expit(logits)
        if logits.shape[1] == 1:
            proba = expit(logits)
            return np.hstack([1.0 - proba, proba])
        # Normalise the sigmoids in log space: rows whose sigmoids all underflow
        # to 0 would otherwise divide 0 by 0.
        return softmax(log_expit(logits), axis=1)

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
        proba = self.predict_proba(X)
        if self.multilabel_:
            return (proba >= self.thresholds_).astype(np.int64)
        if len(self.classes_) == 2:
            return self.classes_[(proba[:, 1] >= self.thresholds_[0]).astype(int)]
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
