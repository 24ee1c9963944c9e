"""Conformal label-powerset predictor: the efficient elimination gives exactly
the brute-force sets, coverage holds on real data, and misuse is refused."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_losses import ConformalLabelPowersetClassifier, HybridLossMultiLabelClassifier
from sklearn_losses.conformal import ConformalSetTruncatedWarning, nonconformity
from sklearn_losses.datasets import load_yeast
from sklearn_losses.metrics import (
    empty_rate,
    error_rate_band,
    labelset_coverage,
    labelset_error_rate,
    mean_set_size,
    observed_excess,
)


def _base():
    return MultiOutputClassifier(LogisticRegression(max_iter=500))


class _FixedProba:
    """A 'model' returning given probabilities row by row (tied values allowed)."""

    def __init__(self, proba):
        self.proba = proba

    def fit(self, X, Y):
        return self

    def predict_proba(self, X):
        return self.proba[np.asarray(X[:, 0], dtype=int)]


def _brute_force_set(proba, calibration_scores, significance, measure):
    """Score all 2**L label-sets with the p-value definition, keep p > eps."""
    L = proba.size
    every = np.array(list(itertools.product([0, 1], repeat=L)))
    alpha = nonconformity(proba, every, measure)
    n_cal = calibration_scores.size
    p = ((calibration_scores[None, :] >= alpha[:, None]).sum(axis=1) + 1) / (n_cal + 1)
    return {tuple(row) for row in every[p > significance]}


@pytest.fixture(scope="module")
def synthetic():
    X, Y = make_multilabel_classification(
        n_samples=700, n_features=10, n_classes=8, n_labels=3, random_state=0
    )
    return StandardScaler().fit_transform(X), Y


@pytest.fixture(params=["vectorised", "heap"])
def enumeration(request, monkeypatch):
    """Run a test through both enumeration paths of the efficient method."""
    if request.param == "heap":
        monkeypatch.setattr("sklearn_losses._conformal._estimator._VECTORISED_MAX_FLIPPABLE", -1)
    return request.param


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
@pytest.mark.parametrize("significance", [0.05, 0.1, 0.2])
def test_efficient_sets_equal_brute_force(synthetic, measure, significance, enumeration):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(
        _base(), measure=measure, significance=significance, random_state=0
    ).fit(X[:600], Y[:600])
    efficient = clf.predict_sets(X[600:])
    naive = clf.set_params(method="naive").predict_sets(X[600:])
    proba = clf.predict_proba(X[600:])
    for fast, slow, o in zip(efficient, naive, proba):
        expected = _brute_force_set(o, clf.calibration_scores_, significance, measure)
        assert {tuple(r) for r in fast} == expected
        assert {tuple(r) for r in slow} == expected
        scores = nonconformity(o, fast, measure)
        assert (np.diff(scores) >= 0).all(), "members are listed most conforming first"


def test_efficient_equals_brute_force_with_12_labels():
    X, Y = make_multilabel_classification(
        n_samples=500, n_features=12, n_classes=12, n_labels=3, random_state=1
    )
    Y[:3] = 1  # every label positive somewhere
    clf = ConformalLabelPowersetClassifier(_base(), significance=0.2, random_state=0)
    clf.fit(X[:480], Y[:480])
    for o, members in zip(clf.predict_proba(X[480:]), clf.predict_sets(X[480:])):
        expected = _brute_force_set(o, clf.calibration_scores_, 0.2, "euclidean")
        assert {tuple(r) for r in members} == expected


@pytest.mark.parametrize(
    "model",
    [
        MLPClassifier((16,), max_iter=300, random_state=0),
        HybridLossMultiLabelClassifier(max_epochs=10, random_state=0),
    ],
    ids=type,
)
def test_wraps_array_predict_proba_models(synthetic, model):
    """Models whose predict_proba is an (n, n_labels) array, not a list."""
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(model, significance=0.2, random_state=0)
    clf.fit(X[:600], Y[:600])
    np.testing.assert_allclose(clf.predict_proba(X[600:]), clf.estimator_.predict_proba(X[600:]))
    sets = clf.predict_sets(X[600:])
    low, _ = error_rate_band(100, clf.n_calibration_, 0.2)
    assert labelset_coverage(Y[600:], sets) >= 1 - 0.2 - (0.2 - low)


def test_tied_probabilities_and_duplicated_scores_stay_exact(enumeration):
    rng = np.random.default_rng(0)
    # Probabilities on a coarse grid: many ties among labels and among samples.
    proba = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], size=(300, 6))
    Y = (rng.random((300, 6)) < proba).astype(int)
    X = np.arange(300)[:, None].astype(float)
    clf = ConformalLabelPowersetClassifier(
        FrozenEstimator(_FixedProba(proba)), significance=0.1
    ).fit(X[:200], Y[:200])
    assert np.unique(clf.calibration_scores_).size < clf.n_calibration_
    for measure in ("euclidean", "l1"):
        clf.set_params(measure=measure)
        clf.fit(X[:200], Y[:200])
        for o, members in zip(proba[200:], clf.predict_sets(X[200:])):
            expected = _brute_force_set(o, clf.calibration_scores_, 0.1, measure)
            assert {tuple(r) for r in members} == expected


def test_smallest_significance_and_empty_sets():
    rng = np.random.default_rng(1)
    proba = rng.random((120, 4))
    Y = (rng.random((120, 4)) < proba).astype(int)
    Y[0] = 1
    X = np.arange(120)[:, None].astype(float)
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(_FixedProba(proba))).fit(
        X[:99], Y[:99]
    )
    # k = 1: the threshold is the largest calibration score.
    sets = clf.predict_sets(X[99:], significance=1 / 100)
    for o, members in zip(proba[99:], sets):
        assert {tuple(r) for r in members} == _brute_force_set(
            o, clf.calibration_scores_, 1 / 100, "euclidean"
        )
    with pytest.raises(ValueError, match="below 1/\\(n_calibration \\+ 1\\)"):
        clf.predict_sets(X[99:], significance=0.5 / 100)
    # A sample far from everything seen gets an empty set at a large significance.
    strange = np.full((1, 4), 0.5)
    clf_strange = ConformalLabelPowersetClassifier(
        FrozenEstimator(_FixedProba(np.vstack([proba[:99], strange]))), significance=0.9
    ).fit(X[:99], Y[:99])
    assert empty_rate(clf_strange.predict_sets(np.array([[99.0]]))) in (0.0, 1.0)
    clf_strange.set_params(allow_empty=False)
    assert clf_strange.predict_sets(np.array([[99.0]]))[0].shape[0] >= 1


def test_p_values_agree_with_set_membership(synthetic):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(_base(), significance=0.1, random_state=0)
    clf.fit(X[:600], Y[:600])
    every = np.array(list(itertools.product([0, 1], repeat=8)))
    p = clf.predict_p_values(X[600:610], every)
    for row, members in zip(p, clf.predict_sets(X[600:610])):
        inside = {tuple(r) for r in members}
        assert inside == {tuple(y) for y, pv in zip(every, row) if pv > 0.1}
    best = clf.predict(X[600:610])
    assert (p.max(axis=1) == clf.predict_p_values(X[600:610], best).diagonal()).all()


def test_coverage_on_yeast_within_binomial_band():
    X, Y = load_yeast(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:1700], order[1700:2100]
    clf = ConformalLabelPowersetClassifier(
        _base(), significance=0.1, calibration_size=0.4, random_state=0
    ).fit(X[train], Y[train])
    sizes = []
    for significance in (0.1, 0.2):
        sets = clf.predict_sets(X[test], significance=significance)
        low, high = error_rate_band(len(test), clf.n_calibration_, significance)
        error = labelset_error_rate(Y[test], sets)
        assert low <= error <= high, (significance, error, (low, high))
        sizes.append(mean_set_size(sets))
    # Measured: about 2700 and 400 of the 2**14 label-sets; sets shrink as eps grows.
    assert sizes[0] < 2**14 / 4
    assert sizes[1] < sizes[0] / 2
    # Point prediction alone covers far less often than the sets do.
    point = [clf.predict(X[test])[i][None] for i in range(len(test))]
    assert labelset_coverage(Y[test], point) < 0.5


def test_max_sets_truncates_with_a_warning(synthetic, enumeration):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(
        _base(), significance=0.05, max_sets=3, random_state=0
    ).fit(X[:600], Y[:600])
    with pytest.warns(ConformalSetTruncatedWarning, match="max_sets=3"):
        sets = clf.predict_sets(X[600:])
    assert max(s.shape[0] for s in sets) <= 3
    assert observed_excess(Y[600:], sets) <= 3


def test_naive_refuses_many_labels():
    X, Y = make_multilabel_classification(
        n_samples=300, n_classes=22, n_labels=6, random_state=0
    )
    Y[:5] = 1
    clf = ConformalLabelPowersetClassifier(_base(), method="naive", random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="limited to 20 labels"):
        clf.predict_sets(X[:2])


def test_frozen_estimator_calibrates_on_all_rows(synthetic):
    X, Y = synthetic
    model = _base().fit(X[:300], Y[:300])
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[300:600], Y[300:600])
    assert clf.n_calibration_ == 300
    np.testing.assert_allclose(
        clf.predict_proba(X[600:]), np.column_stack([p[:, 1] for p in model.predict_proba(X[600:])])
    )


def test_errors():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    with pytest.raises(NotFittedError):
        ConformalLabelPowersetClassifier().predict_sets(X)
    clf = ConformalLabelPowersetClassifier(random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="significance must lie in"):
        clf.predict_sets(X, significance=1.5)
    with pytest.raises(ValueError, match="Y_candidates has 2 labels"):
        clf.predict_p_values(X[:2], np.array([[0, 1]]))
    with pytest.raises(ValueError, match="n_samples=1"):
        ConformalLabelPowersetClassifier().fit(X[:1], np.ones((1, 3), dtype=int))
    with pytest.raises(ValueError, match="rows but"):
        labelset_coverage(Y[:3], [np.zeros((1, 3))])
