"""Target encoding shared by every estimator: one rule for 1-D class labels,
0/1 indicator matrices and partially observed labels."""

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import precision_recall_curve
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "TargetEncoding",
    "binarize_class_labels",
    "check_binary_indicator",
    "check_thresholds",
    "labels_from_proba",
    "encode_targets",
    "f1_optimal_thresholds",
    "is_class_label_column",
    "never_positive_error",
    "positive_counts",
    "read_targets",
    "shown_names",
    "sparse_corrcoef",
]


def check_binary_indicator(Y, *, allow_unlabeled=False, name="Y", keep_sparse=False):
    """Validate a 2-D 0/1 label matrix and return it as float32.

    Parameters
    ----------
    Y : array-like or sparse matrix of shape (n_samples, n_labels)
        Label indicator matrix.
    allow_unlabeled : bool, default=False
        When True, ``-1`` and NaN are accepted as "unknown" (PU / partial labels).
    name : str, default="Y"
        Name used in error messages.
    keep_sparse : bool, default=False
        Return a sparse ``Y`` as a CSR matrix instead of densifying it.

    Returns
    -------
    Y : ndarray or CSR matrix of shape (n_samples, n_labels), dtype float32
    """
    if sp.issparse(Y) and keep_sparse:
        Y = sp.csr_matrix(Y, copy=True)
        # Duplicate stored entries add up when densified: check their sums.
        Y.sum_duplicates()
        # Implicit entries are zeros, which are always valid.
        _check_indicator_values(Y.data, allow_unlabeled, name)
        return Y.astype(np.float32)
    if sp.issparse(Y):
        Y = Y.toarray()
    Y = np.asarray(Y)
    if Y.dtype.kind not in "biuf":
        Y = Y.astype(np.float64)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_labels); got shape {Y.shape}.")
    # Checked in the given dtype, with masks of one byte per entry, before the
    # float32 copy: no float64 copy of a large matrix.
    _check_indicator_values(Y, allow_unlabeled, name)
    return Y.astype(np.float32)


def _check_indicator_values(values, allow_unlabeled, name):
    unknown = np.isnan(values) if values.dtype.kind == "f" else None
    if unknown is not None and not allow_unlabeled and unknown.any():
        raise ValueError(
            f"{name} contains NaN; a label indicator matrix must hold only 0 and 1. "
            "Fill the missing entries (e.g. with 0 where missing means absent) or "
            "drop those rows."
        )
    bad = (values != 0) & (values != 1)
    if allow_unlabeled:
        bad &= values != -1
        if unknown is not None:
            bad &= ~unknown
    if bad.any():
        expect = "0, 1, -1 or NaN" if allow_unlabeled else "0 and 1"
        found = np.unique(values[bad]).astype(np.float64)[:5].tolist()
        raise ValueError(
            f"{name} must be a binary indicator matrix holding only {expect}; found "
            f"value(s) {found}. Binarise it first, e.g. with "
            "sklearn.preprocessing.MultiLabelBinarizer."
        )


def positive_counts(Y, sample_weight=None):
    """Entries equal to 1 in each column of a dense or sparse label matrix.

    ``-1`` and NaN (unknown) do not count; a sparse matrix is not densified.

    Parameters
    ----------
    Y : ndarray or sparse matrix of shape (n_samples, n_labels)
        Label matrix.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each row: an entry counts as its row's weight, so a
        weight-``w`` row counts as ``w`` rows and a zero-weight row not at all.

    Returns
    -------
    counts : ndarray of shape (n_labels,)
        int64 counts, or float64 sums of weights with ``sample_weight``.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0], [1, 1], [0, 1]])
    >>> positive_counts(Y)
    array([2, 2])
    >>> positive_counts(Y, sample_weight=[2.0, 0.0, 1.0])
    array([2., 1.])
    """
    if sample_weight is not None:
        weight = np.asarray(sample_weight, dtype=np.float64)
        if not sp.issparse(Y):
            return weight @ (np.asarray(Y) == 1)
        Y = sp.csr_matrix(Y)
        positive = Y.data == 1
        # The row of each stored entry, from the CSR row pointers.
        entry_weight = np.repeat(weight, np.diff(Y.indptr))
        return np.bincount(Y.indices[positive], weights=entry_weight[positive],
                           minlength=Y.shape[1])
    if sp.issparse(Y):
        Y = sp.csr_matrix(Y)
        return np.bincount(Y.indices[Y.data == 1], minlength=Y.shape[1]).astype(np.int64)
    return (np.asarray(Y) == 1).sum(axis=0).astype(np.int64)


def sparse_corrcoef(Y, sample_weight=None):
    """Pearson correlation of the columns of a sparse matrix, without densifying it.

    The sparse counterpart of ``np.corrcoef(Y, rowvar=False)``: a column that
    never varies has no correlation (NaN), as there. With ``sample_weight`` it
    is the weighted correlation, a weight-``w`` row counting as ``w`` rows: with
    integer weights it equals the correlation of the rows repeated that often.

    Parameters
    ----------
    Y : sparse matrix of shape (n_samples, n_columns)
        Data, e.g. a 0/1 label matrix.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative row weights; None weighs every row 1.

    Returns
    -------
    correlation : ndarray of shape (n_columns, n_columns), dtype float64

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> Y = sp.csr_matrix(np.array([[1, 1], [0, 0], [1, 0], [0, 1]]))
    >>> sparse_corrcoef(Y)
    array([[1., 0.],
           [0., 1.]])
    >>> sparse_corrcoef(Y, sample_weight=[1, 1, 0, 0])
    array([[1., 1.],
           [1., 1.]])
    """
    Y = sp.csr_matrix(Y, dtype=np.float64)
    if sample_weight is None:
        weight = np.ones(Y.shape[0])
    else:
        weight = np.asarray(sample_weight, dtype=np.float64)
    total = weight.sum()
    # Rows scaled by their weights: the same stored entries as Y.
    weighted = sp.diags(weight) @ Y
    mean = np.asarray(weighted.sum(axis=0)).ravel() / total
    # Weighted sum of products of the centred columns, from the weighted Gram
    # matrix of Y (as sparse as the co-occurrences), updated in place: one
    # n_columns**2 array.
    scatter = (Y.T @ weighted).toarray()
    scatter -= total * np.outer(mean, mean)
    scale = np.sqrt(np.clip(np.diag(scatter), 0.0, None))
    # Found exactly, not from the scatter, where cancellation leaves ~1e-13; a
    # column varying only in zero-weight rows is constant.
    counted = Y[weight > 0]
    constant = (counted.max(axis=0) != counted.min(axis=0)).toarray().ravel() == 0
    scale[constant] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        scatter /= scale[:, None]
        scatter /= scale[None, :]
    return np.clip(scatter, -1.0, 1.0, out=scatter)


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


def binarize_class_labels(y, classes=None):
    """One-hot encode 1-D class labels, as ``MLPClassifier`` does.

    ``classes`` (every class a stream will see, as in ``partial_fit``)
    fixes the columns; by default they are the classes present in ``y``.
    Returns the fitted :class:`~sklearn.preprocessing.LabelBinarizer` and the
    ``(n_samples, n_columns)`` int indicator (one column for two classes).
    """
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type {kind!r} for a 1-D y; pass class labels or a "
            "2-D 0/1 indicator matrix for multi-label targets."
        )
    binarizer = LabelBinarizer().fit(y if classes is None else np.unique(classes))
    return binarizer, binarizer.transform(y)


def shown_names(names, limit=10):
    """Label or class names for a message: a list of at most ``limit`` of them.

    Parameters
    ----------
    names : array-like
        The names (NumPy scalars are shown as plain values).
    limit : int, default=10
        How many to show; the rest are counted.

    Returns
    -------
    text : str
    """
    names = np.asarray(names).tolist()
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


def never_positive_error(names):
    return ValueError(
        f"Label(s) {shown_names(names)} are never positive in the training data, so "
        "nothing can be learned for them. Drop those columns from Y (e.g. "
        "Y[:, Y.sum(axis=0) > 0]) or add examples where they are positive."
    )




class TargetEncoding:
    """What ``fit`` learnt about its targets, and how to map predictions back.

    Attributes
    ----------
    multilabel : bool
        Whether ``y`` was a 2-D indicator matrix.
    classes : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels)`` otherwise.
    label_names : ndarray
        Column names of a ``y`` DataFrame, else ``classes``.
    binarizer : LabelBinarizer or None
        The one-hot encoder of a 1-D ``y``.
    """

    def __init__(self, multilabel, classes, label_names, binarizer=None):
        self.multilabel = multilabel
        self.classes = classes
        self.label_names = label_names
        self.binarizer = binarizer


def _as_array(y):
    if sp.issparse(y):
        return y.toarray()
    if hasattr(y, "columns"):
        # Nullable pandas dtypes hold pd.NA, which NumPy cannot cast; it means
        # "unknown", as NaN does.
        try:
            return y.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return y.to_numpy()
    return np.asarray(y)


def _refuse_label_lists(y):
    """Rows given as lists of labels are tags, not classes or indicators.

    ``[["a"], ["c"]]`` would otherwise read as a column of class labels and
    train a multi-class model without a word; rows of different lengths
    (``[[1, 2], [0]]``) cannot be an indicator matrix either.
    """
    rows = y if isinstance(y, (list, tuple)) else []
    if rows and all(isinstance(row, (list, tuple, set, frozenset)) for row in rows):
        ragged = len({len(row) for row in rows}) > 1
        if ragged or not all(isinstance(v, (int, float, np.number, bool))
                             for row in rows for v in row):
            raise ValueError(
                "y holds a list of labels per row. Turn it into a 0/1 indicator "
                "matrix first: MultiLabelBinarizer().fit_transform(y)."
            )


def _refuse_missing_class_labels(y):
    """Class labels as given may not hold NaN, None or ``pd.NA`` (no class to
    learn) nor infinities (which scikit-learn's target checks would cast to
    integers with a RuntimeWarning before refusing them)."""
    # pandas knows every kind of missing value, in Series, arrays and lists.
    missing = int(np.asarray(pd.isna(y)).sum())
    if missing:
        raise ValueError(
            f"y holds {missing} missing class label(s) (NaN, None or pd.NA). Drop "
            "those rows, or give them a class, before fitting."
        )
    values = np.asarray(y)
    if values.dtype.kind == "f" and np.isinf(values).any():
        raise ValueError(
            f"y holds {int(np.isinf(values).sum())} infinite class label(s); class labels "
            "must be finite. Drop those rows, or give them a class, before fitting."
        )


def read_targets(y, *, keep_sparse=False, estimator_name="fit"):
    """Read ``y`` as every estimator does, before encoding it.

    Refuses a missing ``y``, lists of labels per row and missing class
    labels; turns pandas input (nullable dtypes and ``pd.NA`` included) into
    NumPy, and a single column of class labels into a 1-D array.

    Parameters
    ----------
    y : array-like, sparse matrix or DataFrame
        Targets.
    keep_sparse : bool, default=False
        Return a sparse ``y`` of two or more columns as it is instead of
        densifying it.
    estimator_name : str, default="fit"
        Name used in the error for a missing ``y``.

    Returns
    -------
    y : ndarray or sparse matrix
        1-D class labels, or a 2-D matrix still to be checked as an indicator.
    names : list or None
        Column names of a DataFrame ``y``.
    """
    if y is None:
        raise ValueError(f"{estimator_name} requires y to be passed, but the target y is None.")
    _refuse_label_lists(y)
    names = list(y.columns) if hasattr(y, "columns") else None
    # One sparse column may hold class labels; it is small, so it is densified.
    if keep_sparse and sp.issparse(y) and y.ndim == 2 and y.shape[1] > 1:
        return y, names
    y_arr = _as_array(y)
    if names is None and is_class_label_column(y_arr):
        y_arr = y_arr.ravel()
    if y_arr.ndim == 1:
        _refuse_missing_class_labels(y)
    return y_arr, names


def encode_targets(y, *, allow_unlabeled=False, require_positive=True, estimator_name="fit",
                   keep_sparse=False):
    """Encode ``y`` as a float32 indicator matrix.

    A 1-D ``y`` (or a single column of non-0/1 values) holds class labels and
    is one-hot encoded, as ``MLPClassifier`` does. A 2-D ``y`` must be a 0/1
    indicator matrix (``-1``/NaN also allowed when ``allow_unlabeled``).

    Parameters
    ----------
    y : array-like, sparse matrix or DataFrame
        Targets.
    allow_unlabeled : bool, default=False
        Accept ``-1`` and NaN as "unknown" entries.
    require_positive : bool, default=True
        Raise when a label is never positive.
    estimator_name : str, default="fit"
        Name used in the error for a missing ``y``.
    keep_sparse : bool, default=False
        Return a sparse indicator matrix of two or more columns as CSR
        instead of densifying it.

    Returns
    -------
    Y : ndarray or CSR matrix of shape (n_samples, n_labels), dtype float32
        The indicator matrix.
    encoding : TargetEncoding
        What is needed to map predictions back to ``y``'s form.
    """
    y_arr, names = read_targets(y, keep_sparse=keep_sparse, estimator_name=estimator_name)
    if y_arr.ndim == 1:
        binarizer, Y = binarize_class_labels(y_arr)
        classes = binarizer.classes_
        encoding = TargetEncoding(False, classes, classes, binarizer)
        return Y.astype(np.float32), encoding
    Y = check_binary_indicator(y_arr, allow_unlabeled=allow_unlabeled, name="y",
                               keep_sparse=sp.issparse(y_arr))
    classes = np.arange(Y.shape[1])
    label_names = np.asarray(names, dtype=object) if names is not None else classes
    if require_positive:
        never = np.flatnonzero(positive_counts(Y) == 0)
        if never.size:
            raise never_positive_error([label_names[j] for j in never])
    return Y, TargetEncoding(True, classes, label_names)


def check_thresholds(threshold, n_labels):
    """One decision threshold per label, the rule every estimator shares.

    Parameters
    ----------
    threshold : float or array-like of shape (n_labels,)
        A threshold for all labels, or one per label, each in (0, 1).
    n_labels : int
        Number of labels.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,), dtype float64
    """
    if np.ndim(threshold) and np.shape(threshold) != (n_labels,):
        raise ValueError(
            f"threshold has shape {np.shape(threshold)} but y has {n_labels} labels; "
            f"pass a scalar or one threshold per label (a 1-D sequence of {n_labels})."
        )
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_labels,))
    if not ((thresholds > 0) & (thresholds < 1)).all():
        raise ValueError("threshold values must lie strictly between 0 and 1.")
    return thresholds.copy()


def f1_optimal_thresholds(Y, proba):
    """Per-label probability thresholds that maximise F1 on ``(Y, proba)``.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_labels)
        0/1 labels (dense).
    proba : ndarray of shape (n_samples, n_labels)
        Predicted probabilities of the positive class.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
        In ``[1e-6, 1 - 1e-6]``; a label without a positive in ``Y`` keeps 0.5.
    """
    thresholds = np.full(Y.shape[1], 0.5)
    for j in np.flatnonzero(Y.sum(axis=0) > 0):
        precision, recall, cuts = precision_recall_curve(Y[:, j], proba[:, j])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        # The last (precision, recall) pair has no threshold.
        thresholds[j] = float(np.clip(cuts[np.argmax(f1[:-1])], 1e-6, 1 - 1e-6))
    return thresholds


def labels_from_proba(proba, thresholds, encoding_classes, multilabel):
    """Predictions in ``y``'s form from probabilities, the rule all estimators share.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels) or (n_samples, n_classes)
        Per-label probabilities, or class probabilities for a 1-D ``y``.
    thresholds : ndarray of shape (n_labels,)
        Per-label thresholds; for a binary 1-D ``y`` the first applies to the
        positive class.
    encoding_classes : ndarray
        ``classes_`` of the estimator.
    multilabel : bool
        Whether ``y`` was an indicator matrix.

    Returns
    -------
    y_pred : ndarray of shape (n_samples, n_labels) or (n_samples,)
        A 0/1 int indicator matrix, or class labels.
    """
    if multilabel:
        return (proba >= thresholds).astype(np.int64)
    if len(encoding_classes) == 2:
        return encoding_classes[(proba[:, 1] >= thresholds[0]).astype(int)]
    return encoding_classes[np.argmax(proba, axis=1)]
