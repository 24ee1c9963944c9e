"""Inductive conformal prediction over label-sets (label powerset)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ShuffleSplit
from sklearn.multioutput import MultiOutputClassifier
from sklearn.utils import _safe_indexing, get_tags, indexable
from sklearn.utils._param_validation import RealNotInt
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._engine import (
    HasMethods,
    Interval,
    StrOptions,
    check_binary_indicator,
    check_thresholds,
    encode_targets,
    labels_from_proba,
    restore_on_error,
)
from ._enumeration import nonconformity
from ._sets import candidate_p_values, label_set_members, p_values, set_summary

__all__ = ["ConformalLabelPowersetClassifier", "ConformalSetTruncatedWarning"]

_NAIVE_MAX_LABELS = 20


class ConformalSetTruncatedWarning(UserWarning):
    """Prediction sets held more than ``max_sets`` label-sets and were cut.

    Parameters
    ----------
    message : str
        What was cut and what to do about it.
    samples : array-like of int, default=()
        Indices of the samples whose sets were cut.

    Attributes
    ----------
    samples : ndarray of int
        Indices of the samples whose sets were cut. Coverage does not hold for
        them.
    """

    def __init__(self, message, samples=()):
        super().__init__(message)
        self.samples = np.asarray(samples, dtype=np.int64)


def _wrapped_has_decision_function(conformal):
    """Whether the (fitted, else given) wrapped estimator has ``decision_function``."""
    return hasattr(getattr(conformal, "estimator_", conformal.estimator), "decision_function")


class ConformalLabelPowersetClassifier(ClassifierMixin, BaseEstimator):
    """Conformal prediction sets of label-sets around any multi-label model.

    Inductive (split) conformal prediction over the label powerset: the wrapped
    estimator is fitted on a *proper training* part, the rest calibrates the
    nonconformity ``alpha(x, y) = ||y - o(x)||`` of the true label-sets, where
    ``o(x)`` are the per-label probabilities. The prediction set at significance
    ``eps`` holds every label-set whose p-value exceeds ``eps``, so it contains the
    true label-set with probability at least ``1 - eps`` (marginally, under
    exchangeability). ``significance`` is MAPIE's ``1 - confidence_level``.

    There are ``2**n_labels`` label-sets. Both distances are a base cost plus one
    cost per label flipped away from the most likely label-set, so the budget left
    by the calibration threshold bounds which labels can flip and how many. The
    members are grown level by level (one more flip per level) for many samples at
    once, then re-scored exactly in float64, so the sets equal those of brute
    force (``method="naive"``, kept for checking and benchmarks).

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``predict_proba``, default=None
        Multi-label model. ``predict_proba`` may return an ``(n, n_labels)`` array
        or, as :class:`~sklearn.multioutput.MultiOutputClassifier` does, a list of
        ``(n, 2)`` arrays; for a 1-D ``y``, a binary classifier. It receives
        ``X`` as given, so a pipeline may take text or DataFrame columns. None
        means ``MultiOutputClassifier(LogisticRegression(max_iter=1000))``, or
        ``LogisticRegression(max_iter=1000)`` for a 1-D ``y``. Wrap an already
        fitted model in :class:`~sklearn.frozen.FrozenEstimator` to use all of
        ``X`` for calibration.
    significance : float in (0, 1) or list of floats, default=0.1
        Default error rate ``eps`` of :meth:`predict_sets` and
        :meth:`predict_set_summary`; a list gives one result per level.
    measure : {"euclidean", "l1"}, default="euclidean"
        Nonconformity measure: Euclidean (the paper's) or L1 distance between a
        label-set and the predicted probabilities.
    method : {"efficient", "naive"}, default="efficient"
        How sets are found; ``"naive"`` scores all ``2**n_labels`` label-sets and
        refuses more than 20 labels.
    calibration_size : float in (0, 1) or int, default=0.25
        Fraction (or number) of the training rows kept for calibration.
    max_sets : int, default=10_000
        At most this many label-sets per sample are listed, the most conforming
        ones. A :class:`ConformalSetTruncatedWarning` names the samples whose
        set was cut: coverage does not hold for them, while
        :meth:`predict_set_summary` still describes their whole set.
    allow_empty : bool, default=True
        If False, an empty prediction set is replaced by the point prediction,
        which can only increase coverage.
    threshold : float or array-like of shape (n_labels,), default=0.5
        :meth:`predict` returns ``predict_proba(X) >= threshold``, per label for
        an array. At 0.5 that is the label-set with the highest p-value, which
        every non-empty prediction set contains. Prediction sets do not use it.
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
    label_names_ : ndarray of shape (`n_labels_`,)
        Column names of a ``y`` DataFrame, else ``classes_``.
    constant_labels_ : ndarray of shape (`n_labels_`,)
        Value (0 or 1) of labels that were constant in the proper training part,
        -1 elsewhere; such labels are predicted with probability 0 or 1. A
        prefitted (frozen) model predicts every label itself: all -1.
    thresholds_ : ndarray of shape (`n_labels_`,)
        Per-label threshold of :meth:`predict`.
    classes_ : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels_)`` otherwise.
    n_features_in_ : int
        Number of features seen during fit, taken from the fitted estimator;
        only defined when it has this attribute.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, taken from the fitted estimator;
        only defined when it has this attribute (e.g. for DataFrame input).

    See Also
    --------
    mapie.risk_control.MultiLabelClassificationController : Bounds the expected
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
    >>> summary = clf.predict_set_summary(X[:2])
    >>> summary.n_sets.tolist() == [len(s) for s in sets]
    True
    >>> clf.predict(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "significance": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "measure": [StrOptions({"euclidean", "l1"})],
        "method": [StrOptions({"efficient", "naive"})],
        "calibration_size": [
            Interval(RealNotInt, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_sets": [Interval(Integral, 1, None, closed="left")],
        "allow_empty": ["boolean"],
        "threshold": [Interval(Real, 0, 1, closed="neither"), "array-like"],
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
        threshold=0.5,
        random_state=None,
    ):
        self.estimator = estimator
        self.significance = significance
        self.measure = measure
        self.method = method
        self.calibration_size = calibration_size
        self.max_sets = max_sets
        self.allow_empty = allow_empty
        self.threshold = threshold
        self.random_state = random_state

    # ---- fit ------------------------------------------------------------ #
    def _prefit(self):
        return isinstance(self.estimator, FrozenEstimator)

    def _encode_targets(self, y):
        # A prefitted model learned its labels elsewhere; calibration rows may
        # well miss one.
        Y, encoding = encode_targets(
            y, require_positive=not self._prefit(), estimator_name=type(self).__name__
        )
        if not encoding.multilabel and len(encoding.classes) > 2:
            raise _multiclass_error(type(self).__name__, encoding.classes)
        self.multilabel_ = encoding.multilabel
        self.classes_ = encoding.classes
        self.label_names_ = encoding.label_names
        self._label_binarizer = encoding.binarizer
        return Y.astype(np.int64)

    def _model_targets(self, Y):
        """What the wrapped model is fitted on: the class labels of a 1-D ``y``
        (one label, so a plain binary classifier fits), else the indicator."""
        return Y if self.multilabel_ else self.classes_[Y[:, 0]]

    def _targets(self, y):
        """0/1 indicator matrix of a test ``y``, encoded as in ``fit``."""
        if self.multilabel_:
            return check_binary_indicator(y, name="y").astype(np.int64)
        return self._label_binarizer.transform(np.asarray(y).ravel()).astype(np.int64)

    def _split(self, n_samples):
        if self._prefit():
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
        if self._prefit():
            return self.estimator
        varying = self.constant_labels_ < 0
        if not varying.any():
            return None
        estimator = self.estimator
        if estimator is None:
            estimator = LogisticRegression(max_iter=1000)
            if self.multilabel_:
                estimator = MultiOutputClassifier(estimator)
        return clone(estimator).fit(X, self._model_targets(Y[:, varying]))

    def _set_feature_attributes(self):
        """``n_features_in_`` and ``feature_names_in_`` of the fitted model, as
        scikit-learn's meta-estimators expose them; X itself is never read."""
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))
            else:
                vars(self).pop(name, None)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the wrapped estimator and calibrate on held-out rows.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Training data, passed to the wrapped estimator as given (rows are
            split with :func:`~sklearn.utils._safe_indexing`), so it may hold
            text or mixed columns that the estimator's own pipeline handles.
        y : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_labels) \
                or (n_samples,)
            0/1 label indicator matrix (densified: the label-sets are scored
            whole), or 1-D labels of two classes: one label, positive for
            ``classes_[1]``, and the wrapped model is fitted on the 1-D labels.
            A 1-D ``y`` of more than two classes raises a ``ValueError``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        # An interrupted refit keeps the previous model whole.
        with restore_on_error(self):
            if _num_samples(X) == 0:
                raise ValueError(
                    f"{type(self).__name__} got an empty X (0 samples); it needs rows "
                    "to fit and calibrate on."
                )
            Y = self._encode_targets(y)
            # The wrapped model checks X's content; the split needs only rows
            # (indexable turns sparse formats without row indexing into CSR).
            X, Y = indexable(X, Y)
            self.thresholds_ = check_thresholds(self.threshold, Y.shape[1])
            proper, calibration = self._split(Y.shape[0])
            self.n_labels_ = Y.shape[1]
            self.constant_labels_ = (
                np.full(Y.shape[1], -1) if self._prefit() else _constant_labels(Y[proper])
            )
            self.estimator_ = self._fit_estimator(_safe_indexing(X, proper), Y[proper])
            self._set_feature_attributes()
            proba = self._label_proba(_safe_indexing(X, calibration))
            self.calibration_scores_ = np.sort(
                nonconformity(proba, Y[calibration], self.measure))
            self.n_calibration_ = calibration.size
        return self

    # ---- probabilities and point predictions ----------------------------- #
    def _label_proba(self, X):
        """(n, n_labels) float64 probabilities, constant labels filled in."""
        proba = np.empty((_num_samples(X), self.n_labels_), dtype=np.float64)
        varying = self.constant_labels_ < 0
        proba[:, ~varying] = self.constant_labels_[~varying]
        if self.estimator_ is not None and self.multilabel_:
            proba[:, varying] = _positive_proba(self.estimator_, X, varying.sum())
        elif self.estimator_ is not None:
            proba[:, 0] = _class_proba(self.estimator_, X, self.classes_)
        return proba

    def _check_X(self, X):
        """X goes to the wrapped model as given; it checks the content."""
        check_is_fitted(self, "calibration_scores_")
        return X

    def predict_proba(self, X):
        """Per-label probabilities of the wrapped estimator.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.

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

    @available_if(_wrapped_has_decision_function)
    def decision_function(self, X):
        """Scores of the wrapped estimator's ``decision_function``.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_labels) or (n_samples,)
            The wrapped model's scores; ``+inf`` or ``-inf`` for labels that were
            constant in the proper training part. 1-D for a binary 1-D ``y``.
        """
        n_samples = _num_samples(self._check_X(X))
        scores = np.empty((n_samples, self.n_labels_), dtype=np.float64)
        varying = self.constant_labels_ < 0
        scores[:, ~varying] = np.where(self.constant_labels_[~varying] == 1, np.inf, -np.inf)
        if varying.any():
            scores[:, varying] = np.asarray(self.estimator_.decision_function(X)).reshape(
                n_samples, -1
            )
        if not self.multilabel_ and self.n_labels_ == 1:
            return scores.ravel()
        return scores

    def predict(self, X):
        """Point prediction: ``predict_proba(X) >= threshold``.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_labels) or (n_samples,)
            0/1 indicator matrix, or class labels for a 1-D ``y`` (the most
            probable class when there are more than two).
        """
        return labels_from_proba(
            self.predict_proba(X), self.thresholds_, self.classes_, self.multilabel_
        )

    # ---- p-values, sets and summaries ----------------------------------- #
    def _nonconformity_threshold(self, significance):
        """Largest admissible nonconformity at one significance level."""
        rank = int(np.floor(significance * (self.n_calibration_ + 1)))
        if rank == 0:
            raise ValueError(
                f"significance={significance} is below 1/(n_calibration + 1) = "
                f"{1 / (self.n_calibration_ + 1):.4g}: every one of the 2**{self.n_labels_} "
                "label-sets would be predicted. Use a larger significance or calibrate "
                "on more rows (calibration_size)."
            )
        return self.calibration_scores_[-rank]

    def _levels(self, significance):
        """Significance levels as a 1-D array, and whether one was asked for."""
        significance = self.significance if significance is None else significance
        levels = np.atleast_1d(np.asarray(significance, dtype=np.float64))
        if levels.ndim != 1 or levels.size == 0 or not ((levels > 0) & (levels < 1)).all():
            raise ValueError(
                f"significance must lie in (0, 1), or be a list of such; got {significance}."
            )
        return levels, np.ndim(significance) == 0

    def predict_p_values(self, X, Y_candidates, *, paired=False):
        """Conformal p-value of candidate label-sets.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.
        Y_candidates : array-like of shape (n_candidates, n_labels)
            0/1 label-sets to score.
        paired : bool, default=False
            If True, row ``i`` of ``Y_candidates`` is scored for sample ``i``
            only (e.g. each sample's true label-set).

        Returns
        -------
        p_values : ndarray of shape (n_samples, n_candidates) or (n_samples,)
            ``(#{calibration scores >= alpha} + 1) / (n_calibration + 1)``, for
            every pair, or per sample when ``paired``.
        """
        proba = self._label_proba(self._check_X(X))
        Y_candidates = check_binary_indicator(Y_candidates, name="Y_candidates")
        if Y_candidates.shape[1] != self.n_labels_:
            raise ValueError(
                f"Y_candidates has {Y_candidates.shape[1]} labels; the model has "
                f"{self.n_labels_}."
            )
        if not paired:
            return candidate_p_values(proba, Y_candidates, self.calibration_scores_, self.measure)
        if Y_candidates.shape[0] != proba.shape[0]:
            raise ValueError(
                f"paired=True needs one candidate per sample; got {Y_candidates.shape[0]} "
                f"candidates for {proba.shape[0]} samples."
            )
        alpha = nonconformity(proba, Y_candidates, self.measure)
        return p_values(self.calibration_scores_, alpha)

    def predict_sets(self, X, significance=None, *, return_truncated=False):
        """Prediction sets: the label-sets whose p-value exceeds ``significance``.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.
        significance : float in (0, 1) or list of floats, default=None
            Error rate ``eps``; ``self.significance`` when None. Sets shrink as
            ``eps`` grows, so a list is enumerated once, at its smallest level.
        return_truncated : bool, default=False
            Also return which samples' sets were cut at ``max_sets``.

        Returns
        -------
        sets : list of n_samples ndarrays of shape (n_sets, n_labels), dtype uint8
            Members of each prediction set, most conforming first (ties in
            binary order, label 0 the lowest bit). A set may be empty (an
            atypical input) unless ``allow_empty=False``. For a list of levels,
            a list of such lists, one per level.
        truncated : ndarray of shape (n_samples,), dtype bool
            Only with ``return_truncated``: samples whose set was cut; coverage
            does not hold for them. For a list of levels, one array per level.
        """
        levels, scalar = self._levels(significance)
        proba = self._label_proba(self._check_X(X))
        thresholds = [self._nonconformity_threshold(level) for level in levels]
        if self.method == "naive" and self.n_labels_ > _NAIVE_MAX_LABELS:
            raise ValueError(
                f"method='naive' enumerates 2**{self.n_labels_} label-sets; it is "
                f"limited to {_NAIVE_MAX_LABELS} labels. Use method='efficient'."
            )
        # One member more than max_sets is listed, so every level knows whether
        # its set holds more than max_sets.
        rows, alpha, counts, _ = label_set_members(
            proba, max(thresholds), self.measure, self.max_sets + 1, self.method
        )
        sample = np.repeat(np.arange(len(counts)), counts)
        starts = (np.cumsum(counts) - counts).tolist()
        sets, truncated = [], []
        for threshold in thresholds:
            # Members are sorted by score, so a larger eps keeps a prefix.
            inside = np.bincount(sample[alpha <= threshold], minlength=len(counts))
            truncated.append(inside > self.max_sets)
            kept = np.minimum(inside, self.max_sets).tolist()
            sets.append([rows[a:a + n] for a, n in zip(starts, kept)])
            if not self.allow_empty:
                _fill_empty(sets[-1], proba)
        _warn_truncated(np.flatnonzero(np.logical_or.reduce(truncated)), self.max_sets)
        if scalar:
            sets, truncated = sets[0], truncated[0]
        return (sets, truncated) if return_truncated else sets

    def predict_set_summary(self, X, significance=None):
        """What each prediction set says about each label, without listing it.

        A set too large to read (or to list) is still summarised exactly: a label
        is in some member exactly when flipping it alone from the most likely
        label-set is a member, since every other member flipping it costs more.

        Parameters
        ----------
        X : array-like, sparse matrix, DataFrame or list of n_samples inputs
            Input data, in the form the wrapped estimator takes.
        significance : float in (0, 1) or list of floats, default=None
            Error rate ``eps``; ``self.significance`` when None.

        Returns
        -------
        summary : Bunch, or list of Bunch for a list of levels
            With, per sample:

            - ``intersection`` (n_samples, n_labels) bool: labels positive in
              every member ("surely in");
            - ``union`` (n_samples, n_labels) bool: labels positive in some
              member ("possibly in");
            - ``n_uncertain``: number of labels on which the members disagree;
            - ``max_flips``: an upper bound on how many of those labels one
              member changes;
            - ``empty``: whether the set is empty;
            - ``n_sets``: the set's size, counted exactly up to ``max_sets`` and
              reported as ``max_sets + 1`` beyond;
            - ``n_sets_is_lower_bound``: where ``n_sets`` is only a lower bound;
            - ``credibility``: p-value of the most likely label-set;
            - ``confidence``: one minus the p-value of the runner-up.
        """
        levels, scalar = self._levels(significance)
        proba = self._label_proba(self._check_X(X))
        summaries = [
            set_summary(proba, self._nonconformity_threshold(level), self.calibration_scores_,
                        self.measure, self.max_sets, self.allow_empty)
            for level in levels
        ]
        return summaries[0] if scalar else summaries

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        # A 1-D y is one label: two classes only.
        tags.classifier_tags.multi_class = False
        # X goes to the wrapped model as given, so it decides what X may hold.
        # The default model (one logistic regression per label) takes sparse X;
        # a duck-typed model without tags keeps the defaults.
        if self.estimator is None:
            tags.input_tags.sparse = True
            return tags
        try:
            model_tags = get_tags(self.estimator).input_tags
        except AttributeError:  # no __sklearn_tags__, perhaps inside a FrozenEstimator
            return tags
        tags.input_tags.sparse = model_tags.sparse
        tags.input_tags.allow_nan = model_tags.allow_nan
        return tags


def _fill_empty(sets, proba):
    """Replace each empty set by the most likely label-set, in place."""
    for i, members in enumerate(sets):
        if members.shape[0] == 0:
            sets[i] = (proba[i] >= 0.5).astype(np.uint8)[None]


def _warn_truncated(samples, max_sets):
    if samples.size == 0:
        return
    shown = ", ".join(map(str, samples[:10])) + (" ..." if samples.size > 10 else "")
    warnings.warn(
        ConformalSetTruncatedWarning(
            f"The prediction sets of {samples.size} sample(s) ({shown}) held more than "
            f"max_sets={max_sets} label-sets; only the most conforming were kept, so "
            "coverage no longer holds for those samples. Their indices are in this "
            "warning's `samples` and in predict_sets(..., return_truncated=True); "
            "predict_set_summary describes the whole sets. Raise max_sets or significance.",
            samples,
        ),
        stacklevel=3,
    )


def _multiclass_error(name, classes):
    shown = ", ".join(map(repr, classes[:5].tolist())) + (", ..." if len(classes) > 5 else "")
    return ValueError(
        f"Only binary classification is supported for a 1-D y: {name} predicts sets of "
        f"label vectors for multi-label targets, and y holds {len(classes)} classes "
        f"({shown}). If the classes are really labels that can occur together, pass a "
        "0/1 indicator matrix (sklearn.preprocessing.LabelBinarizer or "
        "MultiLabelBinarizer); for sets of classes use a split-conformal classifier "
        "such as MAPIE's SplitConformalClassifier."
    )


def _constant_labels(Y):
    """Per label: its value if constant over the rows of Y, else -1."""
    constant = np.full(Y.shape[1], -1, dtype=np.int64)
    all_one, all_zero = Y.min(axis=0) == 1, Y.max(axis=0) == 0
    constant[all_one], constant[all_zero] = 1, 0
    return constant


def _label_column(j, proba, classes):
    """P(label j = 1) from one label's (n, n_classes) ``predict_proba``."""
    classes = np.asarray(classes)
    if proba.ndim != 2 or proba.shape[1] != classes.size or not np.isin(classes, (0, 1)).all():
        raise ValueError(
            f"predict_proba of label {j} has classes {classes.tolist()}; each label's "
            "model must predict classes 0 and 1."
        )
    if classes.size == 1:
        # The model saw one value of this label in training: it is certain.
        return np.full(proba.shape[0], float(classes[0]))
    return proba[:, list(classes).index(1)]


def _class_proba(estimator, X, classes):
    """P(y = classes[1]) from a binary classifier's (n, 2) ``predict_proba``."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    model_classes = list(getattr(estimator, "classes_", classes))
    if (len(classes) < 2 or proba.shape != (proba.shape[0], len(model_classes))
            or classes[1] not in model_classes):
        raise ValueError(
            f"y has classes {list(classes)}, but the wrapped estimator's predict_proba "
            f"gave shape {proba.shape} for classes {model_classes}; a 1-D y needs a "
            "binary classifier that predicts both classes of y (calibrate a prefitted "
            "one on rows of both classes)."
        )
    return np.clip(proba[:, model_classes.index(classes[1])], 0.0, 1.0)


def _positive_proba(estimator, X, n_labels):
    """P(label = 1) as an (n, n_labels) array from either predict_proba format."""
    proba = estimator.predict_proba(X)
    if isinstance(proba, list):
        classes = getattr(estimator, "classes_", [np.array([0, 1])] * len(proba))
        proba = np.column_stack([_label_column(j, p, c) for j, (p, c) in
                                 enumerate(zip(proba, classes))])
    elif n_labels == 1 and np.shape(proba)[1:] == (2,):
        # One 0/1 column: a binary classifier's class probabilities.
        classes = getattr(estimator, "classes_", np.array([0, 1]))
        proba = _label_column(0, np.asarray(proba), classes)[:, None]
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != n_labels:
        raise ValueError(
            f"predict_proba of the wrapped estimator returned shape {proba.shape}, "
            f"but y has {n_labels} label(s) to predict; a prefitted model must have "
            "been trained on the same label columns as y."
        )
    return np.clip(proba, 0.0, 1.0)
