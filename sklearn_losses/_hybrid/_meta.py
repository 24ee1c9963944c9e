"""The meta-learner view of the hybrid classifier (the paper's stack).

A multi-label estimator's probabilities become extra input columns, one per
label. On the training rows they are out-of-fold: each row's column comes from
a copy fitted on the other folds, so the network never reads a probability
that saw the row's own labels (as in ``StackingClassifier``).
"""

import numpy as np
import scipy.sparse as sp
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.base import clone

from .._engine import stratification_targets


def meta_targets(Y, multilabel):
    """What the meta learner is fitted on: the indicator matrix for a
    multi-label target (dense, as estimators take it), the class index (0/1
    for a binary one) otherwise."""
    if multilabel:
        return Y.toarray() if sp.issparse(Y) else Y
    return Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1)


def _folds(cv, Y, seed):
    rows = np.zeros((Y.shape[0], 1))
    if not isinstance(cv, (int, np.integer)):
        # A user's splitter takes the labels as estimators do: dense.
        return cv.split(rows, meta_targets(Y, multilabel=True))
    # Iterative stratification keeps every label's positives spread over the folds.
    splitter = MultilabelStratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    return splitter.split(rows, stratification_targets(Y))


def out_of_fold_proba(estimator, X, Y, multilabel, cv, seed):
    """Out-of-fold probabilities of each label on the training rows.

    Parameters
    ----------
    estimator : estimator with ``predict_proba``
        Unfitted meta learner; cloned for each fold.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Validated training features.
    Y : ndarray or CSR matrix of shape (n_samples, n_labels)
        Encoded 0/1 targets.
    multilabel : bool
        Whether ``Y`` is a multi-label target (else one-hot classes).
    cv : int or splitter
        Number of iteratively stratified folds, or a splitter whose
        ``split(X, Y)`` yields (train, test) indices.
    seed : int
        Seed of the stratified folds.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_labels)
        Each row's probabilities from the copy that did not see it.
    """
    targets = meta_targets(Y, multilabel)
    proba = np.full(Y.shape, np.nan)
    for train, test in _folds(cv, Y, seed):
        fitted = clone(estimator).fit(X[train], targets[train])
        proba[test] = positive_proba(fitted, X[test], Y.shape[1], multilabel)
    if np.isnan(proba).any():
        raise ValueError(
            "meta_cv must put every training row in exactly one test fold; "
            f"{int(np.isnan(proba).any(axis=1).sum())} rows were never predicted. "
            "Pass an int or a KFold-like splitter."
        )
    return proba


def _column(proba, classes, wanted):
    """Probability of class ``wanted``; 0 where the learner never saw it."""
    proba = np.asarray(proba, dtype=np.float64)
    if classes is None:
        classes = np.arange(proba.shape[1])
    hit = np.flatnonzero(np.asarray(classes) == wanted)
    return proba[:, hit[0]] if hit.size else np.zeros(proba.shape[0])


def positive_proba(estimator, X, n_labels, multilabel):
    """Probability that each label is positive, as an (n_samples, n_labels) array.

    Accepts the ``predict_proba`` formats users meet: an (n, n_labels) array
    (``MLPClassifier``, ``OneVsRestClassifier``), a list of one (n, n_classes)
    array per label (``MultiOutputClassifier``, multi-label random forests and
    nearest neighbours), and for class targets an (n, n_classes) array.

    Parameters
    ----------
    estimator : fitted estimator with ``predict_proba``
        The meta learner, fitted on :func:`meta_targets`.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Validated features.
    n_labels : int
        Number of encoded labels.
    multilabel : bool
        Whether the target is multi-label.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_labels)
        Positive-class probabilities, float64.
    """
    raw = estimator.predict_proba(X)
    classes = getattr(estimator, "classes_", None)
    if isinstance(raw, list):
        if multilabel and len(raw) == n_labels:
            per_label = classes if isinstance(classes, list) else [None] * n_labels
            return np.column_stack([_column(p, c, 1) for p, c in zip(raw, per_label)])
    elif multilabel and np.shape(raw) == (X.shape[0], n_labels):
        return np.asarray(raw, dtype=np.float64)
    elif not multilabel and np.ndim(raw) == 2:
        wanted = [1] if n_labels == 1 else range(n_labels)
        return np.column_stack([_column(raw, classes, k) for k in wanted])
    raise ValueError(
        f"meta_learner.predict_proba returned {_describe(raw)}; expected an array of "
        f"shape (n_samples, {n_labels}) or a list of {n_labels} arrays of shape "
        "(n_samples, 2), one per label. Wrap a single-label estimator in "
        "sklearn.multioutput.MultiOutputClassifier."
    )


def _describe(proba):
    if isinstance(proba, list):
        return f"a list of {len(proba)} arrays"
    return f"an array of shape {np.shape(proba)}"


def append_columns(X, columns):
    """``X`` with ``columns`` appended, float32, sparse if ``X`` is."""
    columns = np.asarray(columns, dtype=np.float32)
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(columns)], format="csr", dtype=np.float32)
    return np.hstack([X, columns])
