"""Metrics for conformal prediction sets of label-sets.

A prediction set is an array of shape ``(n_sets, n_labels)`` holding 0/1
label-sets, as returned by
:meth:`~sklearn_losses.ConformalLabelPowersetClassifier.predict_sets`.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from ._engine import check_binary_indicator

__all__ = [
    "empty_rate",
    "error_rate_band",
    "labelset_coverage",
    "labelset_error_rate",
    "make_efficiency_scorer",
    "mean_set_size",
    "observed_excess",
    "singleton_rate",
]


def _true_label_sets(Y_true):
    """``Y_true`` as an (n, n_labels) 0/1 matrix; a 1-D 0/1 vector is one label.

    Other 1-D values are refused rather than encoded: which class is the
    positive label cannot be told from them (a test set may hold one class).
    """
    if sp.issparse(Y_true) or np.ndim(Y_true) != 1:
        return check_binary_indicator(Y_true, name="Y_true").astype(np.int64)
    y = np.asarray(Y_true)
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        shown = np.unique(y.astype(str))[:5].tolist()
        raise ValueError(
            f"Y_true is 1-D with values {shown}, but prediction sets hold 0/1 label "
            "vectors. Pass a 0/1 indicator matrix; for a predictor fitted on a 1-D y of "
            "two classes (one label, positive for clf.classes_[1]) pass "
            "(y == clf.classes_[1]).astype(int). Multiclass targets have no label-set "
            "prediction sets."
        )
    return y.astype(np.int64)[:, None]


def _check_sets(Y_true, sets):
    Y_true = _true_label_sets(Y_true)
    if len(sets) != Y_true.shape[0]:
        raise ValueError(
            f"Y_true has {Y_true.shape[0]} rows but {len(sets)} prediction sets were given."
        )
    for s in sets:
        if np.ndim(s) != 2 or np.shape(s)[1] != Y_true.shape[1]:
            raise ValueError(
                f"each prediction set must have shape (n_sets, {Y_true.shape[1]}); "
                f"got {np.shape(s)}."
            )
    return Y_true


def _contains(members, y):
    return bool(np.asarray(members).shape[0]) and bool((members == y).all(axis=1).any())


def labelset_coverage(Y_true, sets):
    """Fraction of samples whose true label-set is in their prediction set.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or (n_samples,)
        True 0/1 label-sets; a 1-D 0/1 vector is one label.
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets, one per sample.

    Returns
    -------
    coverage : float
        Empirical coverage; conformal sets at significance ``eps`` aim at
        ``1 - eps`` or more.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0], [0, 1]])
    >>> sets = [np.array([[1, 0], [1, 1]]), np.array([[1, 1]])]
    >>> labelset_coverage(Y, sets)
    0.5
    """
    Y_true = _check_sets(Y_true, sets)
    return float(np.mean([_contains(s, y) for s, y in zip(sets, Y_true)]))


def labelset_error_rate(Y_true, sets):
    """Fraction of samples whose true label-set is missing from their set.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or (n_samples,)
        True 0/1 label-sets; a 1-D 0/1 vector is one label.
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets, one per sample.

    Returns
    -------
    error_rate : float
        ``1 - labelset_coverage(Y_true, sets)``.

    Examples
    --------
    >>> import numpy as np
    >>> labelset_error_rate(np.array([[1, 0]]), [np.array([[0, 0]])])
    1.0
    """
    return 1.0 - labelset_coverage(Y_true, sets)


def mean_set_size(sets):
    """Mean number of label-sets per prediction set (the N criterion).

    Parameters
    ----------
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets.

    Returns
    -------
    size : float
        Smaller is more informative at the same coverage.

    Examples
    --------
    >>> import numpy as np
    >>> mean_set_size([np.zeros((3, 2)), np.zeros((1, 2))])
    2.0
    """
    return float(np.mean([np.shape(s)[0] for s in sets]))


def singleton_rate(sets):
    """Fraction of prediction sets holding exactly one label-set.

    Parameters
    ----------
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets.

    Returns
    -------
    rate : float
        Share of samples with a single, confident label-set.

    Examples
    --------
    >>> import numpy as np
    >>> singleton_rate([np.zeros((1, 2)), np.zeros((4, 2))])
    0.5
    """
    return float(np.mean([np.shape(s)[0] == 1 for s in sets]))


def empty_rate(sets):
    """Fraction of empty prediction sets (inputs unlike the calibration data).

    Parameters
    ----------
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets.

    Returns
    -------
    rate : float
        Share of samples whose set is empty.

    Examples
    --------
    >>> import numpy as np
    >>> empty_rate([np.zeros((0, 2)), np.zeros((2, 2))])
    0.5
    """
    return float(np.mean([np.shape(s)[0] == 0 for s in sets]))


def observed_excess(Y_true, sets):
    """Mean number of *false* label-sets per prediction set (OE criterion).

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or (n_samples,)
        True 0/1 label-sets; a 1-D 0/1 vector is one label.
    sets : list of ndarrays of shape (n_sets, n_labels)
        Prediction sets, one per sample.

    Returns
    -------
    excess : float
        ``mean(|set| - [true label-set in set])``.

    Examples
    --------
    >>> import numpy as np
    >>> observed_excess(np.array([[1, 0]]), [np.array([[1, 0], [1, 1]])])
    1.0
    """
    Y_true = _check_sets(Y_true, sets)
    return float(np.mean([np.shape(s)[0] - _contains(s, y) for s, y in zip(sets, Y_true)]))


def error_rate_band(n_test, n_calibration, significance, *, level=0.99):
    """Range an honest conformal predictor's test error rate falls in.

    The error rate of split conformal prediction has mean at most ``eps`` and at
    least ``eps - 1/(n_calibration + 1)``; its spread comes from both the test
    sample and the calibration sample. The band is the normal approximation
    ``[eps - 1/(n_cal + 1) - z s, eps + z s]`` with
    ``s = sqrt(eps (1 - eps) (1/n_test + 1/n_cal))``.

    Parameters
    ----------
    n_test : int
        Number of test samples the error rate is measured on.
    n_calibration : int
        Number of calibration samples.
    significance : float in (0, 1)
        Target error rate ``eps``.
    level : float in (0, 1), default=0.99
        Two-sided probability the band should hold.

    Returns
    -------
    low, high : float
        Band limits, clipped to [0, 1].

    Examples
    --------
    >>> low, high = error_rate_band(500, 1000, 0.1)
    >>> round(low, 3), round(high, 3)
    (0.057, 0.142)
    """
    if not 0 < significance < 1 or not 0 < level < 1:
        raise ValueError("significance and level must lie in (0, 1).")
    if n_test < 1 or n_calibration < 1:
        raise ValueError("n_test and n_calibration must be positive.")
    z = norm.ppf(0.5 + level / 2)
    spread = np.sqrt(significance * (1 - significance) * (1 / n_test + 1 / n_calibration))
    low = significance - 1 / (n_calibration + 1) - z * spread
    high = significance + z * spread
    return float(max(low, 0.0)), float(min(high, 1.0))


class _EfficiencyScorer:
    """Scorer of :func:`make_efficiency_scorer`; a class so that it pickles."""

    def __init__(self, significance, level):
        self.significance = significance
        self.level = level

    def __call__(self, estimator, X, y):
        Y = estimator._targets(y)
        p_true = estimator.predict_p_values(X, Y, paired=True)
        error = float(np.mean(p_true <= self.significance))
        _, high = error_rate_band(
            len(p_true), estimator.n_calibration_, self.significance, level=self.level
        )
        if error > high:
            warnings.warn(
                f"Label-set error rate {error:.3f} at significance {self.significance} is "
                f"above the {self.level:.0%} band (<= {high:.3f}): the data scored may not "
                "be exchangeable with the calibration data, so its sets are not valid.",
                UserWarning,
                stacklevel=2,
            )
        summary = estimator.predict_set_summary(X, significance=self.significance)
        sizes = np.minimum(summary.n_sets, estimator.max_sets + 1)
        return -float(np.mean(np.log2(1.0 + sizes)))

    def __repr__(self):
        return f"make_efficiency_scorer({self.significance!r})"


def make_efficiency_scorer(significance, *, level=0.99):
    """Scorer that prefers small conformal label-set prediction sets.

    Every model and hyperparameter gives valid sets, so tune for efficiency:
    the score is ``-mean(log2(1 + |set|))``, higher for smaller sets. Sizes are
    counted by
    :meth:`~sklearn_losses.ConformalLabelPowersetClassifier.predict_set_summary`,
    without listing the sets; a set larger than ``max_sets`` counts as
    ``max_sets + 1``. The scorer warns if the error rate on the scored data is
    above the band of :func:`error_rate_band`, a sign that the data are not
    exchangeable with the calibration data.

    Parameters
    ----------
    significance : float in (0, 1)
        Error rate ``eps`` at which sets are measured.
    level : float in (0, 1), default=0.99
        Two-sided level of the error band that triggers the warning.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, for ``scoring=`` in
        :class:`~sklearn.model_selection.GridSearchCV` or
        :func:`~sklearn.model_selection.cross_val_score`.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_losses import ConformalLabelPowersetClassifier
    >>> X, Y = make_multilabel_classification(n_samples=300, n_classes=4, random_state=0)
    >>> clf = ConformalLabelPowersetClassifier(random_state=0)
    >>> scores = cross_val_score(clf, X, Y, cv=3, scoring=make_efficiency_scorer(0.2))
    >>> bool((scores < 0).all())
    True
    """
    if not 0 < significance < 1:
        raise ValueError(f"significance must lie in (0, 1), got {significance}.")
    return _EfficiencyScorer(significance, level)
