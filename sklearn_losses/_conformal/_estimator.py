"""Inductive conformal prediction over label-sets (label powerset), with
efficient elimination of the label-sets that cannot enter a prediction set."""

import heapq
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ShuffleSplit
from sklearn.multioutput import MultiOutputClassifier
from sklearn.utils._param_validation import RealNotInt
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine import (
    HasMethods,
    Interval,
    StrOptions,
    _never_positive_error,
    binarize_class_labels,
    check_binary_indicator,
    is_class_label_column,
)

__all__ = ["ConformalLabelPowersetClassifier", "ConformalSetTruncatedWarning", "nonconformity"]

# Candidates whose bound lies within this relative slack of the budget are
# re-scored exactly, so float rounding in the bound never drops a member.
_PRUNE_SLACK = 1e-9
_NAIVE_MAX_LABELS = 20
# Up to this many flippable labels, scoring every flip pattern at once in NumPy
# beats the best-first heap, whose per-member Python cost dominates large sets.
_VECTORISED_MAX_FLIPPABLE = 14


class ConformalSetTruncatedWarning(UserWarning):
    """A prediction set held more than ``max_sets`` label-sets and was cut."""


def nonconformity(proba, Y, measure):
    """Nonconformity of label-sets ``Y`` for one sample's probabilities ``proba``.

    Parameters
    ----------
    proba : ndarray of shape (n_labels,)
        Per-label probabilities of the sample.
    Y : ndarray of shape (n_sets, n_labels)
        Candidate 0/1 label-sets.
    measure : {"euclidean", "l1"}
        Distance between a label-set and ``proba``.

    Returns
    -------
    alpha : ndarray of shape (n_sets,)
        Float64 nonconformity scores; larger means stranger.

    Examples
    --------
    >>> import numpy as np
    >>> nonconformity(np.array([0.9, 0.2]), np.array([[1, 0], [0, 1]]), "l1")
    array([0.3, 1.7])
    """
    gap = np.abs(np.asarray(Y, dtype=np.float64) - proba)
    if measure == "l1":
        return gap.sum(axis=1)
    return np.sqrt((gap * gap).sum(axis=1))


def _flip_costs(proba, measure):
    """Base cost of the most likely label-set and the cost of flipping each label.

    Both distances split into ``base + sum of delta_j over flipped labels``: for L1
    on the distance itself, for the Euclidean distance on its square.
    """
    margin = np.minimum(proba, 1.0 - proba)
    delta = np.abs(2.0 * proba - 1.0)
    base = margin.sum() if measure == "l1" else (margin * margin).sum()
    return base, delta


def _all_flip_patterns(n_flippable):
    """Every 0/1 pattern over ``n_flippable`` labels, as rows."""
    codes = np.arange(2**n_flippable, dtype=np.int64)
    return (codes[:, None] >> np.arange(n_flippable)) & 1


def _cheapest_flip_sets(costs, budget, max_sets):
    """Subsets of ``costs`` (sorted ascending) with sum <= budget, cheapest first.

    Best-first enumeration: each subset is a sorted index tuple; popping one whose
    last index is i pushes it extended by i+1 and it with i replaced by i+1, which
    generates every subset exactly once in non-decreasing order of cost.
    """
    found = [()]
    if costs.size == 0 or costs[0] > budget:
        return found, False
    heap = [(costs[0], (0,))]
    while heap:
        total, subset = heapq.heappop(heap)
        if total > budget:
            break
        if len(found) == max_sets:
            return found, True
        found.append(subset)
        last = subset[-1]
        if last + 1 < costs.size:
            heapq.heappush(heap, (total + costs[last + 1], subset + (last + 1,)))
            heapq.heappush(
                heap, (total - costs[last] + costs[last + 1], subset[:-1] + (last + 1,))
            )
    return found, False


class ConformalLabelPowersetClassifier(ClassifierMixin, BaseEstimator):
    """Conformal prediction sets of label-sets around any multi-label model.

    Inductive (split) conformal prediction over the label powerset: the wrapped
    estimator is fitted on a *proper training* part, the rest calibrates the
    nonconformity ``alpha(x, y) = ||y - o(x)||`` of the true label-sets, where
    ``o(x)`` are the per-label probabilities. The prediction set at significance
    ``eps`` holds every label-set whose p-value exceeds ``eps``, so it contains the
    true label-set with probability at least ``1 - eps`` (marginally, under
    exchangeability).

    There are ``2**n_labels`` label-sets. Both distances are a base cost plus one
    cost per label flipped away from the most likely label-set, so the budget left
    by the calibration threshold bounds which labels can flip and how many; a
    best-first search then lists exactly the members of the set, cheapest first,
    without scoring the others. The result equals brute-force enumeration
    (``method="naive"``), which is kept for checking and benchmarks.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``predict_proba``, default=None
        Multi-label model. ``predict_proba`` may return an ``(n, n_labels)`` array
        or, as :class:`~sklearn.multioutput.MultiOutputClassifier` does, a list of
        ``(n, 2)`` arrays. None means
        ``MultiOutputClassifier(LogisticRegression(max_iter=1000))``. Wrap an
        already fitted model in :class:`~sklearn.frozen.FrozenEstimator` to use
        all of ``X`` for calibration.
    significance : float in (0, 1), default=0.1
        Default error rate ``eps`` of :meth:`predict_sets`.
    measure : {"euclidean", "l1"}, default="euclidean"
        Nonconformity measure: Euclidean (the paper's) or L1 distance between a
        label-set and the predicted probabilities.
    method : {"efficient", "naive"}, default="efficient"
        How sets are found; ``"naive"`` scores all ``2**n_labels`` label-sets and
        refuses more than 20 labels.
    calibration_size : float in (0, 1) or int, default=0.25
        Fraction (or number) of the training rows kept for calibration.
    max_sets : int, default=10_000
        At most this many label-sets per sample are listed (the cheapest); a
        :class:`ConformalSetTruncatedWarning` says when a set was cut.
    allow_empty : bool, default=True
        If False, an empty prediction set is replaced by the point prediction,
        which can only increase coverage.
    random_state : int, RandomState instance or None, default=None
        Controls the proper-training / calibration split.

    Attributes
    ----------
    estimator_ : estimator or None
        The fitted model (None when every label was constant in training).
    calibration_scores_ : ndarray of shape (`n_calibration_`,)
        Sorted nonconformity scores of the calibration label-sets.
    n_calibration_ : int
        Number of calibration rows.
    n_labels_ : int
        Number of labels.
    constant_labels_ : ndarray of shape (`n_labels_`,)
        Value (0 or 1) of labels that were constant in the proper training part,
        -1 elsewhere; such labels are predicted with probability 0 or 1.
    classes_ : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels_)`` otherwise.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, for pandas input.

    See Also
    --------
    mapie.risk_control.MultiLabelClassificationController : bounds the expected
        per-label recall or precision of one label-set, a different guarantee.

    References
    ----------
    .. [1] Maltoudoglou et al., Pattern Recognition 122:108271, 2022
       (arXiv:2312.09304).

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn_losses import ConformalLabelPowersetClassifier
    >>> X, Y = make_multilabel_classification(n_samples=400, n_classes=4, random_state=0)
    >>> clf = ConformalLabelPowersetClassifier(significance=0.2, random_state=0).fit(X, Y)
    >>> sets = clf.predict_sets(X[:2])
    >>> [s.shape[1] for s in sets]
    [4, 4]
    >>> clf.predict(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "significance": [Interval(Real, 0, 1, closed="neither")],
        "measure": [StrOptions({"euclidean", "l1"})],
        "method": [StrOptions({"efficient", "naive"})],
        "calibration_size": [
            Interval(RealNotInt, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_sets": [Interval(Integral, 1, None, closed="left")],
        "allow_empty": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        significance=0.1,
        measure="euclidean",
        method="efficient",
        calibration_size=0.25,
        max_sets=10_000,
        allow_empty=True,
        random_state=None,
    ):
        self.estimator = estimator
        self.significance = significance
        self.measure = measure
        self.method = method
        self.calibration_size = calibration_size
        self.max_sets = max_sets
        self.allow_empty = allow_empty
        self.random_state = random_state

    # ---- fit ------------------------------------------------------------ #
    def _encode_targets(self, y):
        y = np.asarray(y)
        if is_class_label_column(y):
            y = y.ravel()
        if y.ndim == 1:
            self._label_binarizer, Y = binarize_class_labels(y)
            self.classes_ = self._label_binarizer.classes_
            self.multilabel_ = False
            return Y.astype(np.int64)
        Y = check_binary_indicator(y, name="y").astype(np.int64)
        never = np.flatnonzero(Y.sum(axis=0) == 0)
        if never.size:
            raise _never_positive_error(never.tolist())
        self.multilabel_ = True
        self.classes_ = np.arange(Y.shape[1])
        return Y

    def _split(self, n_samples):
        if isinstance(self.estimator, FrozenEstimator):
            return np.arange(0), np.arange(n_samples)
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples (one to fit, one to "
                f"calibrate); got n_samples={n_samples}."
            )
        splitter = ShuffleSplit(
            n_splits=1, test_size=self.calibration_size, random_state=self.random_state
        )
        try:
            return next(splitter.split(np.zeros((n_samples, 1))))
        except ValueError as error:
            raise ValueError(
                f"calibration_size={self.calibration_size} leaves no rows to fit or to "
                f"calibrate with {n_samples} samples: {error}"
            ) from None

    def _fit_estimator(self, X, Y):
        varying = self.constant_labels_ < 0
        estimator = self.estimator
        if estimator is None:
            estimator = MultiOutputClassifier(LogisticRegression(max_iter=1000))
        if isinstance(estimator, FrozenEstimator):
            return estimator
        if not varying.any():
            return None
        return clone(estimator).fit(X, Y[:, varying])

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the wrapped estimator and calibrate on held-out rows.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples, n_labels) or (n_samples,)
            0/1 label indicator matrix, or 1-D class labels (one-hot encoded).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True)
        Y = self._encode_targets(y)
        proper, calibration = self._split(X.shape[0])
        self.n_labels_ = Y.shape[1]
        self.constant_labels_ = _constant_labels(Y[proper] if proper.size else Y)
        self.estimator_ = self._fit_estimator(X[proper], Y[proper])
        proba = self._label_proba(X[calibration])
        self.calibration_scores_ = np.sort(nonconformity(proba, Y[calibration], self.measure))
        self.n_calibration_ = calibration.size
        return self

    # ---- probabilities -------------------------------------------------- #
    def _label_proba(self, X):
        """(n, n_labels) float64 probabilities, constant labels filled in."""
        proba = np.empty((X.shape[0], self.n_labels_), dtype=np.float64)
        varying = self.constant_labels_ < 0
        proba[:, ~varying] = self.constant_labels_[~varying]
        if self.estimator_ is not None:
            proba[:, varying] = _positive_proba(self.estimator_, X, varying.sum())
        return proba

    def _check_X(self, X):
        check_is_fitted(self, "calibration_scores_")
        return validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)

    def predict_proba(self, X):
        """Per-label probabilities of the wrapped estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels)
            Probability that each label is positive. For a 1-D ``y``, class
            probabilities whose rows sum to one.
        """
        proba = self._label_proba(self._check_X(X))
        if self.multilabel_:
            return proba
        if len(self.classes_) == 2:
            return np.hstack([1.0 - proba, proba])
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total > 0)

    def predict(self, X):
        """Most likely label-set (the one with the highest p-value).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_labels) or (n_samples,)
            0/1 indicator matrix, or class labels for a 1-D ``y``.
        """
        proba = self.predict_proba(X)
        if self.multilabel_:
            return (proba >= 0.5).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    # ---- p-values and sets ---------------------------------------------- #
    def _threshold(self, significance):
        """Largest admissible nonconformity, or None when every set qualifies."""
        rank = int(np.floor(significance * (self.n_calibration_ + 1)))
        if rank == 0:
            raise ValueError(
                f"significance={significance} is below 1/(n_calibration + 1) = "
                f"{1 / (self.n_calibration_ + 1):.4g}: every one of the 2**{self.n_labels_} "
                "label-sets would be predicted. Use a larger significance or calibrate "
                "on more rows (calibration_size)."
            )
        return self.calibration_scores_[-rank]

    def _p_values_from_scores(self, alpha):
        at_least = self.n_calibration_ - np.searchsorted(
            self.calibration_scores_, alpha, side="left"
        )
        return (at_least + 1.0) / (self.n_calibration_ + 1.0)

    def predict_p_values(self, X, Y_candidates):
        """Conformal p-value of each candidate label-set for each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.
        Y_candidates : array-like of shape (n_candidates, n_labels)
            0/1 label-sets to score.

        Returns
        -------
        p_values : ndarray of shape (n_samples, n_candidates)
            ``(#{calibration scores >= alpha} + 1) / (n_calibration + 1)``.
        """
        proba = self._label_proba(self._check_X(X))
        Y_candidates = check_binary_indicator(Y_candidates, name="Y_candidates")
        if Y_candidates.shape[1] != self.n_labels_:
            raise ValueError(
                f"Y_candidates has {Y_candidates.shape[1]} labels; the model has "
                f"{self.n_labels_}."
            )
        return np.vstack([
            self._p_values_from_scores(nonconformity(o, Y_candidates, self.measure))
            for o in proba
        ])

    def predict_sets(self, X, significance=None):
        """Prediction sets: the label-sets whose p-value exceeds ``significance``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.
        significance : float in (0, 1), default=None
            Error rate ``eps``; ``self.significance`` when None.

        Returns
        -------
        sets : list of n_samples ndarrays of shape (n_sets, n_labels), dtype uint8
            Members of each prediction set, most conforming first. A set may be
            empty (an atypical input) unless ``allow_empty=False``.
        """
        significance = self.significance if significance is None else significance
        if not 0 < significance < 1:
            raise ValueError(f"significance must lie in (0, 1), got {significance}.")
        proba = self._label_proba(self._check_X(X))
        threshold = self._threshold(significance)
        if self.method == "naive":
            if self.n_labels_ > _NAIVE_MAX_LABELS:
                raise ValueError(
                    f"method='naive' enumerates 2**{self.n_labels_} label-sets; it is "
                    f"limited to {_NAIVE_MAX_LABELS} labels. Use method='efficient'."
                )
            find = self._naive_set
        else:
            find = self._efficient_set
        sets, truncated = [], 0
        for o in proba:
            members, cut = find(o, threshold)
            truncated += cut
            if members.shape[0] == 0 and not self.allow_empty:
                members = (o >= 0.5).astype(np.uint8)[None]
            sets.append(members)
        if truncated:
            warnings.warn(
                f"{truncated} prediction set(s) held more than max_sets={self.max_sets} "
                "label-sets; only the most conforming were kept. Raise max_sets or "
                "significance.",
                ConformalSetTruncatedWarning,
                stacklevel=2,
            )
        return sets

    def _keep_members(self, o, candidates, threshold):
        """Exact float64 re-scoring: keep candidates with alpha <= threshold, ordered."""
        alpha = nonconformity(o, candidates, self.measure)
        keep = alpha <= threshold
        order = np.argsort(alpha[keep], kind="stable")
        return candidates[keep][order].astype(np.uint8)

    def _naive_set(self, o, threshold):
        L = self.n_labels_
        codes = np.arange(2**L, dtype=np.int64)
        members = []
        for chunk in np.array_split(codes, max(1, 2**L // 65536)):
            candidates = ((chunk[:, None] >> np.arange(L)) & 1).astype(np.int64)
            members.append(self._keep_members(o, candidates, threshold))
        members = np.vstack(members)
        order = np.argsort(nonconformity(o, members, self.measure), kind="stable")
        members = members[order]
        cut = members.shape[0] > self.max_sets
        return members[: self.max_sets], cut

    def _efficient_set(self, o, threshold):
        base, delta = _flip_costs(o, self.measure)
        bound = threshold if self.measure == "l1" else threshold * threshold
        budget = bound - base + _PRUNE_SLACK * (1.0 + abs(bound))
        if budget < 0:
            return np.zeros((0, self.n_labels_), dtype=np.uint8), False
        flippable = np.flatnonzero(delta <= budget)
        flippable = flippable[np.argsort(delta[flippable], kind="stable")]
        best = (o >= 0.5).astype(np.int64)
        if flippable.size <= _VECTORISED_MAX_FLIPPABLE:
            flips = _all_flip_patterns(flippable.size)
            flips = flips[flips @ delta[flippable] <= budget]
        else:
            subsets, cut = _cheapest_flip_sets(delta[flippable], budget, self.max_sets)
            flips = np.zeros((len(subsets), flippable.size), dtype=np.int64)
            for row, subset in enumerate(subsets):
                flips[row, list(subset)] = 1
        candidates = np.repeat(best[None], flips.shape[0], axis=0)
        candidates[:, flippable] ^= flips
        members = self._keep_members(o, candidates, threshold)
        if flippable.size <= _VECTORISED_MAX_FLIPPABLE:
            cut = members.shape[0] > self.max_sets
        return members[: self.max_sets], cut

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags


def _constant_labels(Y):
    """Per label: its value if constant over the rows of Y, else -1."""
    constant = np.full(Y.shape[1], -1, dtype=np.int64)
    all_one, all_zero = Y.min(axis=0) == 1, Y.max(axis=0) == 0
    constant[all_one], constant[all_zero] = 1, 0
    return constant


def _positive_proba(estimator, X, n_labels):
    """P(label = 1) as an (n, n_labels) array from either predict_proba format."""
    proba = estimator.predict_proba(X)
    if isinstance(proba, list):
        classes = getattr(estimator, "classes_", [np.array([0, 1])] * len(proba))
        columns = []
        for j, (p, c) in enumerate(zip(proba, classes)):
            c = np.asarray(c)
            if p.ndim != 2 or p.shape[1] != 2 or not np.array_equal(c, [0, 1]):
                raise ValueError(
                    f"predict_proba of label {j} has classes {c.tolist()}; each label's "
                    "model must see both 0 and 1 in training."
                )
            columns.append(p[:, 1])
        proba = np.column_stack(columns)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != n_labels:
        raise ValueError(
            f"predict_proba of the wrapped estimator returned shape {proba.shape}; "
            f"expected (n_samples, {n_labels}) per-label probabilities."
        )
    return np.clip(proba, 0.0, 1.0)
