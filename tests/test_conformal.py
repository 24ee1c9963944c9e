"""Conformal label-powerset predictor: the level-wise enumeration gives exactly
the brute-force sets, summaries agree with the sets, coverage holds on real
data, and misuse is refused."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import _safe_indexing

from sklearn_losses import ConformalLabelPowersetClassifier, HybridLossMultiLabelClassifier
from sklearn_losses.conformal import ConformalSetTruncatedWarning, nonconformity
from sklearn_losses.datasets import load_multilabel_dataset, load_yeast
from sklearn_losses.metrics import (
    empty_rate,
    error_rate_band,
    labelset_coverage,
    labelset_error_rate,
    make_efficiency_scorer,
    mean_set_size,
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


def _frozen(proba, Y, n_calibration, **params):
    """Calibrate given probabilities on the first ``n_calibration`` rows."""
    X = np.arange(len(proba))[:, None].astype(float)
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(_FixedProba(proba)), **params)
    return clf.fit(X[:n_calibration], Y[:n_calibration]), X[n_calibration:]


def _brute_force_set(proba, calibration_scores, significance, measure):
    """Score all 2**L label-sets with the p-value definition, keep p > eps."""
    every = np.array(list(itertools.product([0, 1], repeat=proba.size)))
    alpha = nonconformity(proba, every, measure)
    n_cal = calibration_scores.size
    p = ((calibration_scores[None, :] >= alpha[:, None]).sum(axis=1) + 1) / (n_cal + 1)
    return {tuple(row) for row in every[p > significance]}


def _as_set(rows):
    return {tuple(r) for r in rows}


def _assert_same_sets(first, second):
    """Same members in the same order (most conforming first, ties in binary order)."""
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def synthetic():
    X, Y = make_multilabel_classification(
        n_samples=700, n_features=10, n_classes=8, n_labels=3, random_state=0
    )
    return StandardScaler().fit_transform(X), Y


@pytest.fixture(scope="module")
def yeast():
    """Shuffled, standardised Yeast and a logistic model fitted on its first 1000 rows."""
    X, Y = load_yeast(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X = StandardScaler().fit_transform(X)[order]
    Y = np.asarray(Y)[order]
    return X, Y, FrozenEstimator(_base().fit(X[:1000], Y[:1000]))


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
@pytest.mark.parametrize("significance", [0.05, 0.1, 0.2])
def test_efficient_sets_equal_brute_force(synthetic, measure, significance):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(
        _base(), measure=measure, significance=significance, random_state=0
    ).fit(X[:600], Y[:600])
    efficient = clf.predict_sets(X[600:])
    naive = clf.set_params(method="naive").predict_sets(X[600:])
    _assert_same_sets(efficient, naive)
    for members, o in zip(efficient, clf.predict_proba(X[600:])):
        assert _as_set(members) == _brute_force_set(
            o, clf.calibration_scores_, significance, measure
        )
        scores = nonconformity(o, members, measure)
        assert (np.diff(scores) >= 0).all(), "members are listed most conforming first"


@pytest.mark.parametrize("n_labels", [1, 4, 12])
def test_efficient_equals_brute_force_for_several_label_counts(n_labels):
    # One 12-label data set, cut to n_labels columns: the generator is slow for
    # few labels.
    X, Y = make_multilabel_classification(
        n_samples=500, n_features=12, n_classes=12, n_labels=3, random_state=1
    )
    X, Y = StandardScaler().fit_transform(X), Y[:, :n_labels]
    Y[:3] = 1  # every label positive somewhere
    Y[3:6] = 0  # and negative somewhere
    clf = ConformalLabelPowersetClassifier(_base(), significance=0.2, random_state=0)
    clf.fit(X[:480], Y[:480])
    for o, members in zip(clf.predict_proba(X[480:]), clf.predict_sets(X[480:])):
        assert _as_set(members) == _brute_force_set(o, clf.calibration_scores_, 0.2, "euclidean")


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
def test_efficient_equals_naive_on_yeast_at_three_levels(yeast, measure):
    X, Y, model = yeast
    clf = ConformalLabelPowersetClassifier(model, measure=measure).fit(X[1000:1500], Y[1000:1500])
    levels = [0.05, 0.1, 0.2]
    efficient = clf.predict_sets(X[1500:1530], significance=levels)
    naive = clf.set_params(method="naive").predict_sets(X[1500:1530], significance=levels)
    for fast, slow in zip(efficient, naive):
        _assert_same_sets(fast, slow)
    # Sets are nested: each level keeps a prefix of the smaller level's members.
    for small, large in zip(efficient[0], efficient[2]):
        np.testing.assert_array_equal(small[: len(large)], large)
    assert mean_set_size(efficient[2]) < mean_set_size(efficient[0])


def test_many_flippable_labels_match_naive():
    """18 labels all close to 0.5: every label can flip, beyond any 14-label shortcut."""
    rng = np.random.default_rng(3)
    proba = 0.5 + rng.uniform(-0.12, 0.12, size=(260, 18))
    Y = (rng.random(proba.shape) < proba).astype(int)
    clf, X_test = _frozen(proba, Y, 256, significance=0.2, max_sets=300_000)
    efficient = clf.predict_sets(X_test)
    assert min(len(s) for s in efficient) > 1000
    flipped = [np.flatnonzero((s != s[0]).any(axis=0)).size for s in efficient]
    assert min(flipped) == 18
    _assert_same_sets(efficient, clf.set_params(method="naive").predict_sets(X_test))


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
def test_more_than_63_flippable_labels(measure):
    """70 labels that can each flip alone (no 64-bit mask limit), checked against
    every label-set within two flips; three flips cannot fit the budget."""
    rng = np.random.default_rng(4)
    n_labels = 70
    signs = rng.integers(0, 2, size=(233, n_labels))
    proba = np.abs(signs - 0.02 + rng.uniform(-0.005, 0.005, size=signs.shape))
    Y = signs.copy()
    # 30 calibration rows have an undecided label and one wrong confident label:
    # their score lies between one and two confident flips of a test sample.
    proba[:30, 0] = 0.5
    Y[:30, 1] ^= 1
    clf, X_test = _frozen(proba, Y, 230, measure=measure, significance=0.1)
    threshold = clf._nonconformity_threshold(0.1)
    for o, members in zip(proba[230:], clf.predict_sets(X_test)):
        best = (o >= 0.5).astype(np.uint8)
        candidates = [best]
        for flips in itertools.chain(itertools.combinations(range(n_labels), 1),
                                     itertools.combinations(range(n_labels), 2)):
            y = best.copy()
            y[list(flips)] ^= 1
            candidates.append(y)
        candidates = np.array(candidates)
        inside = candidates[nonconformity(o, candidates, measure) <= threshold]
        cheapest_three = best.copy()
        cheapest_three[np.argsort(np.abs(2 * o - 1))[:3]] ^= 1
        assert nonconformity(o, cheapest_three[None], measure)[0] > threshold
        assert len(inside) == n_labels + 1
        assert _as_set(members) == _as_set(inside)


def test_tied_probabilities_and_duplicated_scores_stay_exact():
    rng = np.random.default_rng(0)
    # Probabilities on a coarse grid: many ties among labels and among samples.
    proba = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], size=(300, 6))
    Y = (rng.random((300, 6)) < proba).astype(int)
    for measure in ("euclidean", "l1"):
        clf, X_test = _frozen(proba, Y, 200, significance=0.1, measure=measure)
        assert np.unique(clf.calibration_scores_).size < clf.n_calibration_
        sets = clf.predict_sets(X_test)
        for o, members in zip(proba[200:], sets):
            assert _as_set(members) == _brute_force_set(o, clf.calibration_scores_, 0.1, measure)
        _assert_same_sets(sets, clf.set_params(method="naive").predict_sets(X_test))


def test_smallest_significance_and_empty_sets():
    rng = np.random.default_rng(1)
    proba = rng.random((120, 4))
    Y = (rng.random((120, 4)) < proba).astype(int)
    Y[0] = 1
    clf, _ = _frozen(proba, Y, 99)
    X_test = np.arange(99, 120)[:, None].astype(float)
    # k = 1: the threshold is the largest calibration score.
    sets = clf.predict_sets(X_test, significance=1 / 100)
    for o, members in zip(proba[99:], sets):
        assert _as_set(members) == _brute_force_set(o, clf.calibration_scores_, 0.01, "euclidean")
    with pytest.raises(ValueError, match="below 1/\\(n_calibration \\+ 1\\)"):
        clf.predict_sets(X_test, significance=0.5 / 100)


def test_an_atypical_sample_gets_an_empty_set_unless_disallowed():
    # Calibration: confident probabilities, true label-sets always the most likely.
    rng = np.random.default_rng(2)
    confident = rng.choice([0.02, 0.98], size=(100, 4))
    Y = (confident >= 0.5).astype(int)
    strange = np.full((1, 4), 0.5)  # as far from every label-set as possible
    proba = np.vstack([confident, strange, confident[:1]])
    clf, X_test = _frozen(proba, np.vstack([Y, Y[:2]]), 100, significance=0.2)
    sets = clf.predict_sets(X_test)
    assert [len(s) for s in sets] == [0, 1]
    assert empty_rate(sets) == 0.5
    summary = clf.predict_set_summary(X_test)
    assert summary.empty.tolist() == [True, False]
    np.testing.assert_array_equal(summary.n_sets, [0, 1])
    clf.set_params(allow_empty=False)
    np.testing.assert_array_equal(clf.predict_sets(X_test)[0], [[1, 1, 1, 1]])
    assert clf.predict_set_summary(X_test).n_sets[0] == 1


def test_truncation_keeps_the_cheapest_and_names_the_samples(synthetic):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(_base(), significance=0.05, random_state=0)
    clf.fit(X[:600], Y[:600])
    full = clf.predict_sets(X[600:])
    cap = int(np.median([len(s) for s in full]))
    clf.set_params(max_sets=cap)
    with pytest.warns(ConformalSetTruncatedWarning, match="coverage no longer holds") as record:
        sets, truncated = clf.predict_sets(X[600:], return_truncated=True)
    expected = np.array([len(s) > cap for s in full])
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(truncated, expected)
    np.testing.assert_array_equal(record[0].message.samples, np.flatnonzero(expected))
    assert "predict_set_summary" in str(record[0].message)
    _assert_same_sets(sets, [s[:cap] for s in full])
    with pytest.warns(ConformalSetTruncatedWarning):
        naive = clf.set_params(method="naive").predict_sets(X[600:])
    _assert_same_sets(sets, naive)
    with pytest.warns(ConformalSetTruncatedWarning):
        _, cut = clf.predict_sets(X[600:], significance=[0.05, 0.5], return_truncated=True)
    np.testing.assert_array_equal(cut[0], expected)
    assert not (cut[1] & ~expected).any() and cut[1].sum() < expected.sum()
    clf.set_params(method="efficient")
    summary = clf.predict_set_summary(X[600:])
    np.testing.assert_array_equal(summary.n_sets_is_lower_bound, expected)
    np.testing.assert_array_equal(summary.n_sets[expected], cap + 1)
    uncut = [len(s) for s in full if len(s) <= cap]
    np.testing.assert_array_equal(summary.n_sets[~expected], uncut)


def test_truncation_with_many_flippable_labels_keeps_the_cheapest():
    rng = np.random.default_rng(5)
    proba = 0.5 + rng.uniform(-0.2, 0.2, size=(205, 16))
    Y = (rng.random(proba.shape) < proba).astype(int)
    clf, X_test = _frozen(proba, Y, 200, significance=0.1, max_sets=50)
    with pytest.warns(ConformalSetTruncatedWarning):
        sets = clf.predict_sets(X_test)
    with pytest.warns(ConformalSetTruncatedWarning):
        naive = clf.set_params(method="naive").predict_sets(X_test)
    _assert_same_sets(sets, naive)


def _cut_and_count(clf, X_test, proba, levels):
    """Per level: efficient sets, flags and summary, and the naive sets (the
    reference for which members a cut keeps), next to the brute-force sizes.
    All levels are listed by one call, as predict_sets does for a list."""
    sets, cut = clf.set_params(method="efficient").predict_sets(
        X_test, significance=levels, return_truncated=True)
    summaries = clf.predict_set_summary(X_test, significance=levels)
    naive = clf.set_params(method="naive").predict_sets(X_test, significance=levels)
    sizes = [np.array([len(_brute_force_set(o, clf.calibration_scores_, level, clf.measure))
                       for o in proba]) for level in levels]
    return zip(sets, cut, summaries, naive, sizes)


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
@pytest.mark.parametrize("grid", [(0, 1 / 3, 2 / 3, 1), (0, 0.5, 0.5, 0.5, 0.2, 1)])
def test_cut_at_ties_keeps_the_brute_force_members_and_flags(measure, grid):
    """On a coarse grid many label-sets tie (exactly or within rounding), also
    with the max_sets-th member; labels at exactly 0.5 tie whatever their value.
    At every level the cut keeps the members naive keeps, and a set is flagged
    exactly when it holds more than max_sets members."""
    rng = np.random.default_rng(7)
    proba = rng.choice(grid, size=(240, 7))
    Y = (rng.random(proba.shape) < proba).astype(int)
    for max_sets in (1, 2, 3, 6):
        clf, X_test = _frozen(proba, Y, 200, measure=measure, max_sets=max_sets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConformalSetTruncatedWarning)
            levels = list(_cut_and_count(clf, X_test, proba[200:], [0.1, 0.2, 0.3]))
        for sets, cut, summary, naive, sizes in levels:
            _assert_same_sets(sets, naive)
            np.testing.assert_array_equal(cut, sizes > max_sets)
            np.testing.assert_array_equal(summary.n_sets_is_lower_bound, sizes > max_sets)
            np.testing.assert_array_equal(summary.n_sets, np.minimum(sizes, max_sets + 1))


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
def test_labels_at_one_half_match_brute_force(measure):
    """Up to 8 of 10 labels at exactly 0.5 multiply a set by 2 each; uncut sets
    and their sizes equal brute force."""
    rng = np.random.default_rng(8)
    proba = rng.choice([0.5, 0.5, 0.1, 0.35, 0.8, 1.0], size=(230, 10))
    proba[200:, :8] = np.where(rng.random((30, 8)) < 0.7, 0.5, proba[200:, :8])
    Y = (rng.random(proba.shape) < proba).astype(int)
    clf, X_test = _frozen(proba, Y, 200, measure=measure, max_sets=2**10)
    (sets, cut, summary, naive, sizes), = _cut_and_count(clf, X_test, proba[200:], [0.2])
    assert (proba[200:] == 0.5).sum(axis=1).max() >= 7 and sizes.max() >= 2**7
    assert not cut.any()
    _assert_same_sets(sets, naive)
    np.testing.assert_array_equal([len(s) for s in sets], sizes)
    np.testing.assert_array_equal(summary.n_sets, sizes)


def test_forty_labels_at_one_half_are_cut_at_max_sets():
    """20 of 40 labels at exactly 0.5 and the rest confident: the set is the
    most likely values of the confident labels with all 2**20 values of the
    others. The first max_sets in binary order have the undecided labels
    spell 0, 1, 2, ... in binary, lowest label first."""
    rng = np.random.default_rng(9)
    undecided = np.sort(rng.choice(40, size=20, replace=False))
    proba = np.where(rng.random((120, 40)) < 0.5, 0.02, 0.98)
    proba[:, undecided] = 0.5
    Y = (proba > 0.5).astype(int)
    Y[:, undecided] = rng.integers(0, 2, size=(120, 20))
    clf, X_test = _frozen(proba, Y, 100, max_sets=10)
    with pytest.warns(ConformalSetTruncatedWarning):
        sets, cut = clf.predict_sets(X_test, return_truncated=True)
    assert cut.all()
    summary = clf.predict_set_summary(X_test)
    assert summary.n_sets_is_lower_bound.all() and (summary.n_sets == 11).all()
    assert (summary.n_uncertain == 20).all()
    spelled = (np.arange(10)[:, None] >> np.arange(20)) & 1
    for x, o, members in zip(X_test, proba[100:], sets):
        expected = np.tile((o > 0.5).astype(np.uint8), (10, 1))
        expected[:, undecided] = spelled
        np.testing.assert_array_equal(members, expected)
        assert (clf.predict_p_values(x[None], members) > 0.1).all()


def test_summary_agrees_with_the_enumerated_sets(yeast):
    X, Y, model = yeast
    clf = ConformalLabelPowersetClassifier(model).fit(X[1000:1500], Y[1000:1500])
    X_test = X[1500:1560]
    for significance in (0.1, 0.3):
        sets = clf.predict_sets(X_test, significance=significance)
        summary = clf.predict_set_summary(X_test, significance=significance)
        best = clf.predict(X_test)
        for i, members in enumerate(sets):
            assert summary.n_sets[i] == len(members)
            assert not summary.n_sets_is_lower_bound[i]
            assert summary.empty[i] == (len(members) == 0)
            if len(members) == 0:
                continue
            np.testing.assert_array_equal(summary.union[i], members.any(axis=0))
            np.testing.assert_array_equal(summary.intersection[i], members.all(axis=0))
            disagree = (members != members[0]).any(axis=0)
            assert summary.n_uncertain[i] == disagree.sum()
            assert summary.max_flips[i] >= (members != best[i]).sum(axis=1).max()
        p = clf.predict_p_values(X_test, best, paired=True)
        np.testing.assert_allclose(summary.credibility, p)
        assert (summary.confidence <= 1 - 1 / (clf.n_calibration_ + 1)).all()


@pytest.mark.parametrize("measure", ["euclidean", "l1"])
@pytest.mark.parametrize("grid", [(0, 1 / 3, 2 / 3, 1), (0.1, 0.3, 0.5, 0.7, 0.9)])
def test_summary_counts_tied_sets_exactly(measure, grid):
    """Scores tie with the threshold often on a coarse grid; n_sets must count
    the label-sets whose p-value exceeds eps, as brute force does."""
    rng = np.random.default_rng(3)
    proba = rng.choice(grid, size=(400, 5))
    Y = (rng.random((400, 5)) < proba).astype(int)
    clf, X_test = _frozen(proba, Y, 200, measure=measure)
    for significance in (0.05, 0.1, 0.3):
        summary = clf.predict_set_summary(X_test, significance=significance)
        expected = [len(_brute_force_set(o, clf.calibration_scores_, significance, measure))
                    for o in proba[200:]]
        np.testing.assert_array_equal(summary.n_sets, expected)
        assert not summary.n_sets_is_lower_bound.any()


def test_p_values_agree_with_set_membership(synthetic):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(_base(), significance=0.1, random_state=0)
    clf.fit(X[:600], Y[:600])
    every = np.array(list(itertools.product([0, 1], repeat=8)))
    p = clf.predict_p_values(X[600:610], every)
    for row, members in zip(p, clf.predict_sets(X[600:610])):
        assert _as_set(members) == {tuple(y) for y, pv in zip(every, row) if pv > 0.1}
    best = clf.predict(X[600:610])
    np.testing.assert_array_equal(p.max(axis=1), clf.predict_p_values(X[600:610], best).diagonal())
    np.testing.assert_array_equal(
        clf.predict_p_values(X[600:610], best, paired=True), p.max(axis=1)
    )


def test_p_values_are_exact_at_tied_scores():
    """A candidate whose score equals a calibration score counts that score."""
    rng = np.random.default_rng(6)
    proba = rng.choice([0.2, 0.4, 0.6, 0.8], size=(150, 5))
    Y = (rng.random((150, 5)) < proba).astype(int)
    clf, X_test = _frozen(proba, Y, 100)
    matrix = clf.predict_p_values(X_test, Y[100:])
    np.testing.assert_array_equal(matrix.diagonal(), clf.predict_p_values(X_test, Y[100:],
                                                                          paired=True))


def test_coverage_on_yeast_within_binomial_band(yeast):
    X, Y, model = yeast
    test = slice(1700, 2417)
    clf = ConformalLabelPowersetClassifier(model).fit(X[1000:1700], Y[1000:1700])
    levels = [0.05, 0.1, 0.2]
    p_true = clf.predict_p_values(X[test], Y[test], paired=True)
    sizes = clf.predict_set_summary(X[test][:100], significance=levels)
    for significance, summary in zip(levels, sizes):
        low, high = error_rate_band(len(p_true), clf.n_calibration_, significance)
        error = np.mean(p_true <= significance)
        assert low <= error <= high, (significance, error, (low, high))
        assert np.median(summary.n_sets) < 2**14 / 2
    # Sets shrink as eps grows, and the point prediction alone covers far less often.
    assert np.median(sizes[2].n_sets) < np.median(sizes[1].n_sets) < np.median(sizes[0].n_sets)
    assert np.mean((clf.predict(X[test]) == Y[test]).all(axis=1)) < 0.5


@pytest.mark.slow
def test_coverage_on_enron_text_within_binomial_band():
    bunch = load_multilabel_dataset("enron")
    X, Y = bunch.data, np.asarray(bunch.target)
    Y = Y[:, Y.sum(axis=0) >= 20]
    order = np.random.default_rng(0).permutation(X.shape[0])
    train, test = order[:1200], order[1200:]
    base = MultiOutputClassifier(LogisticRegression(C=0.1, max_iter=300))
    clf = ConformalLabelPowersetClassifier(base, calibration_size=0.5, random_state=0)
    clf.fit(X[train], Y[train])
    p_true = clf.predict_p_values(X[test], Y[test], paired=True)
    for significance in (0.05, 0.1, 0.2):
        low, high = error_rate_band(len(test), clf.n_calibration_, significance)
        assert low <= np.mean(p_true <= significance) <= high


@pytest.mark.parametrize(
    "model",
    [
        # Early stopping ends the fit without a ConvergenceWarning.
        MLPClassifier((16,), max_iter=300, early_stopping=True, random_state=0),
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


def test_frozen_estimator_calibrates_on_all_rows(synthetic):
    X, Y = synthetic
    model = _base().fit(X[:300], Y[:300])
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[300:600], Y[300:600])
    assert clf.n_calibration_ == 300
    np.testing.assert_allclose(
        clf.predict_proba(X[600:]), np.column_stack([p[:, 1] for p in model.predict_proba(X[600:])])
    )


def test_frozen_estimator_with_a_label_constant_in_calibration(synthetic):
    X, Y = synthetic
    model = _base().fit(X[:300], Y[:300])
    Y_cal = Y[300:600].copy()
    Y_cal[:, 2] = 0  # never positive among the calibration rows
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[300:600], Y_cal)
    np.testing.assert_allclose(
        clf.predict_proba(X[600:])[:, 2], model.predict_proba(X[600:])[2][:, 1]
    )
    assert all(s.shape[1] == 8 for s in clf.predict_sets(X[600:610]))


def test_frozen_model_trained_without_one_label_value(synthetic):
    """A per-label model that saw one value predicts it with certainty."""
    X, Y = synthetic
    Y_fit = Y[:300].copy()
    Y_fit[:, 0] = 1
    model = MultiOutputClassifier(DecisionTreeClassifier(max_depth=3, random_state=0))
    model.fit(X[:300], Y_fit)
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[300:600], Y[300:600])
    assert (clf.predict_proba(X[600:])[:, 0] == 1).all()
    with pytest.raises(ValueError, match="trained on the same label columns"):
        ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[300:600], Y[300:600, :5])


def test_sparse_and_dataframe_targets(synthetic):
    X, Y = synthetic
    dense = ConformalLabelPowersetClassifier(_base(), random_state=0).fit(X[:300], Y[:300])
    sparse = ConformalLabelPowersetClassifier(_base(), random_state=0).fit(
        X[:300], sp.csr_matrix(Y[:300])
    )
    np.testing.assert_array_equal(dense.calibration_scores_, sparse.calibration_scores_)
    names = [f"tag{j}" for j in range(Y.shape[1])]
    framed = ConformalLabelPowersetClassifier(_base(), random_state=0).fit(
        X[:300], pd.DataFrame(Y[:300], columns=names)
    )
    assert framed.label_names_.tolist() == names
    np.testing.assert_array_equal(framed.calibration_scores_, dense.calibration_scores_)


def test_threshold_follows_the_package_semantics(synthetic):
    X, Y = synthetic
    per_label = np.linspace(0.2, 0.8, Y.shape[1])
    clf = ConformalLabelPowersetClassifier(_base(), threshold=per_label, random_state=0)
    clf.fit(X[:600], Y[:600])
    proba = clf.predict_proba(X[600:])
    np.testing.assert_array_equal(clf.predict(X[600:]), (proba >= per_label).astype(int))
    assert not np.array_equal(clf.predict(X[600:]), (proba >= 0.5).astype(int))
    with pytest.raises(ValueError, match=r"threshold has shape \(3,\) but y has 8 labels"):
        clf.set_params(threshold=[0.5, 0.5, 0.5]).fit(X[:600], Y[:600])


def test_decision_function_delegates_to_the_wrapped_model(synthetic):
    X, Y = synthetic
    assert not hasattr(ConformalLabelPowersetClassifier(_base()), "decision_function")
    model = OneVsRestClassifier(LogisticRegression(max_iter=500))
    clf = ConformalLabelPowersetClassifier(model, random_state=0).fit(X[:600], Y[:600])
    np.testing.assert_allclose(
        clf.decision_function(X[600:]), clf.estimator_.decision_function(X[600:])
    )


def test_efficiency_scorer_in_grid_search(synthetic):
    X, Y = synthetic
    search = GridSearchCV(
        ConformalLabelPowersetClassifier(_base(), random_state=0),
        {"estimator__estimator__C": [0.001, 1.0]},
        scoring=make_efficiency_scorer(0.1),
        cv=3,
    ).fit(X, Y)
    # A nearly constant model has wide sets; the scorer prefers the sharper one.
    assert search.best_params_ == {"estimator__estimator__C": 1.0}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0]
    sizes = search.best_estimator_.predict_set_summary(X[:100], significance=0.1).n_sets
    np.testing.assert_allclose(
        make_efficiency_scorer(0.1)(search.best_estimator_, X[:100], Y[:100]),
        -np.mean(np.log2(1 + sizes)),
    )


def test_efficiency_scorer_warns_when_coverage_fails(synthetic):
    X, Y = synthetic
    clf = ConformalLabelPowersetClassifier(_base(), random_state=0).fit(X[:600], Y[:600])
    with pytest.warns(UserWarning, match="above the 99% band"):
        make_efficiency_scorer(0.1)(clf, X[600:], 1 - Y[600:])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_efficiency_scorer(0.1)(clf, X[600:], Y[600:])


def test_errors():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    X = StandardScaler().fit_transform(X)
    with pytest.raises(NotFittedError):
        ConformalLabelPowersetClassifier().predict_sets(X)
    clf = ConformalLabelPowersetClassifier(_base(), random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="significance must lie in"):
        clf.predict_sets(X, significance=1.5)
    with pytest.raises(ValueError, match="significance must lie in"):
        clf.predict_set_summary(X, significance=[0.1, 0.0])
    with pytest.raises(ValueError, match="Y_candidates has 2 labels"):
        clf.predict_p_values(X[:2], np.array([[0, 1]]))
    with pytest.raises(ValueError, match="one candidate per sample"):
        clf.predict_p_values(X[:2], Y[:3], paired=True)
    with pytest.raises(ValueError, match="n_samples=1"):
        ConformalLabelPowersetClassifier().fit(X[:1], np.ones((1, 3), dtype=int))
    with pytest.raises(ValueError, match="rows but"):
        labelset_coverage(Y[:3], [np.zeros((1, 3))])
    rng = np.random.default_rng(0)
    naive, X_test = _frozen(rng.random((60, 22)), rng.integers(0, 2, size=(60, 22)), 50,
                            method="naive")
    with pytest.raises(ValueError, match="limited to 20 labels"):
        naive.predict_sets(X_test)
    assert labelset_error_rate(Y[:1], [Y[:1]]) == 0.0


# --------------------------------------------------------------------------- #
# X goes to the wrapped model as given: text, DataFrames with named columns
# --------------------------------------------------------------------------- #
def _texts(n_samples, seed=0):
    """Documents whose words hint at three labels: a label's words occur in most
    of its documents and in a few others, so the model is good but not sure."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n_samples, 3)) < 0.4).astype(int)
    words = [["alpha", "apex", "ace"], ["beta", "bold", "bear"], ["gamma", "glow", "gust"]]
    filler = ["the", "a", "of", "and", "day", "note"]
    docs = []
    for labels in Y:
        doc = list(rng.choice(filler, 4))
        for j, positive in enumerate(labels):
            if rng.random() < (0.85 if positive else 0.1):
                doc += list(rng.choice(words[j], 2))
        docs.append(" ".join(rng.permutation(doc)))
    return docs, Y


def _mixed_frame(n_samples, seed=0):
    """Two numeric columns and a string column, all bearing on two labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "f0": rng.normal(size=n_samples),
        "f1": rng.normal(size=n_samples),
        "color": rng.choice(["red", "green", "blue"], size=n_samples),
    })
    noise = rng.normal(scale=0.7, size=(n_samples, 2))
    Y = np.column_stack([
        frame.f0 + (frame.color == "red") + noise[:, 0] > 0.3,
        frame.f1 - (frame.color == "blue") + noise[:, 1] > -0.3,
    ]).astype(int)
    return frame, Y


def _text_pipeline():
    return make_pipeline(TfidfVectorizer(), MultiOutputClassifier(LogisticRegression()))


def _frame_pipeline():
    columns = ColumnTransformer([("num", StandardScaler(), ["f0", "f1"]),
                                 ("cat", OneHotEncoder(), ["color"])])
    return make_pipeline(columns, MultiOutputClassifier(LogisticRegression()))


def _text_case():
    X, Y = _texts(1600)
    return X, Y, ConformalLabelPowersetClassifier(
        _text_pipeline(), calibration_size=0.5, random_state=0)


def _frozen_text_case():
    X, Y = _texts(1600, seed=1)
    model = _text_pipeline().fit(X[1200:], Y[1200:])  # rows never scored below
    return X[:1200], Y[:1200], ConformalLabelPowersetClassifier(FrozenEstimator(model))


def _frame_case():
    X, Y = _mixed_frame(1600)
    return X, Y, ConformalLabelPowersetClassifier(
        _frame_pipeline(), calibration_size=0.5, random_state=0)


@pytest.mark.parametrize("case", [_text_case, _frozen_text_case, _frame_case],
                         ids=["text", "frozen-text", "dataframe-columns"])
def test_non_numeric_X_reaches_the_wrapped_pipeline_and_sets_cover(case):
    X, Y, clf = case()
    fit_rows, test_rows = np.arange(800), np.arange(800, len(Y))
    clf.fit(_safe_indexing(X, fit_rows), Y[fit_rows])
    X_test, Y_test = _safe_indexing(X, test_rows), Y[test_rows]
    levels = [0.1, 0.2]
    for significance, sets in zip(levels, clf.predict_sets(X_test, significance=levels)):
        low, high = error_rate_band(len(test_rows), clf.n_calibration_, significance)
        assert low <= labelset_error_rate(Y_test, sets) <= high, significance
        assert mean_set_size(sets) < 2 ** Y.shape[1] / 2
    np.testing.assert_allclose(
        clf.predict_proba(X_test),
        np.column_stack([p[:, 1] for p in clf.estimator_.predict_proba(X_test)]),
    )
    if isinstance(X, pd.DataFrame):  # delegated from the fitted pipeline
        np.testing.assert_array_equal(clf.feature_names_in_, X.columns)
    else:  # a text vectoriser has no feature count
        assert not hasattr(clf, "n_features_in_")


def test_the_wrapped_model_reports_bad_X():
    X, Y = _mixed_frame(100)
    clf = ConformalLabelPowersetClassifier(_frame_pipeline(), random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="columns are missing"):
        clf.predict_sets(X.drop(columns="color"))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ConformalLabelPowersetClassifier(_frame_pipeline()).fit(X[:50], Y)
    with pytest.raises(ValueError, match="empty X"):
        ConformalLabelPowersetClassifier(FrozenEstimator(clf.estimator_)).fit(X[:0], Y[:0])


# --------------------------------------------------------------------------- #
# 1-D y: two classes are one label; more classes are refused
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("estimator", [LogisticRegression(), None], ids=["logistic", "default"])
def test_multiclass_1d_y_is_refused_with_what_to_do(estimator):
    X, y = make_classification(n_samples=120, n_classes=3, n_informative=3, random_state=0)
    y = np.array(["a", "b", "c"])[y]
    with pytest.raises(ValueError, match=r"(?s)Only binary classification.*3 classes"
                                         r".*MultiLabelBinarizer.*MAPIE"):
        ConformalLabelPowersetClassifier(estimator, random_state=0).fit(X, y)


def test_binary_1d_y_is_one_label_for_a_plain_classifier():
    X, y = make_classification(n_samples=600, n_features=6, flip_y=0.15, random_state=0)
    fit, test = slice(0, 400), slice(400, 600)
    one = ConformalLabelPowersetClassifier(LogisticRegression(), random_state=0)
    one.fit(X[fit], y[fit])
    assert one.estimator_.classes_.tolist() == [0, 1]  # fitted on the 1-D labels
    two = ConformalLabelPowersetClassifier(MultiOutputClassifier(LogisticRegression()),
                                           random_state=0).fit(X[fit], y[fit, None])
    np.testing.assert_array_equal(one.calibration_scores_, two.calibration_scores_)
    np.testing.assert_allclose(one.predict_proba(X[test])[:, 1], two.predict_proba(X[test])[:, 0])
    np.testing.assert_array_equal(one.predict(X[test]), two.predict(X[test])[:, 0])
    sets = one.predict_sets(X[test], significance=0.2)
    _assert_same_sets(sets, two.predict_sets(X[test], significance=0.2))
    # One label: a set holds at most its two values, and the 1-D truth scores.
    assert max(len(s) for s in sets) <= 2 and 1 in {len(s) for s in sets}
    assert labelset_coverage(y[test], sets) == labelset_coverage(y[test, None], sets)


def test_binary_1d_class_labels_with_the_default_model():
    X, y = make_classification(n_samples=300, n_features=6, random_state=1)
    names = np.array(["no", "yes"])[y]
    clf = ConformalLabelPowersetClassifier(random_state=0).fit(X, names)
    plain = ConformalLabelPowersetClassifier(LogisticRegression(max_iter=1000),
                                             random_state=0).fit(X, y)
    assert clf.classes_.tolist() == ["no", "yes"]
    np.testing.assert_array_equal(clf.calibration_scores_, plain.calibration_scores_)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[plain.predict(X)])
    sets = clf.predict_sets(X[:50], significance=0.2)
    with pytest.raises(ValueError, match=r"1-D with values \['no', 'yes'\].*classes_\[1\]"):
        labelset_coverage(names[:50], sets)


def test_a_prefitted_binary_classifier_on_class_labels():
    X, y = make_classification(n_samples=400, n_features=6, random_state=2)
    names = np.array(["neg", "pos"])[y]
    model = LogisticRegression().fit(X[:200], names[:200])
    clf = ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(X[200:], names[200:])
    np.testing.assert_allclose(clf.predict_proba(X[:5]), model.predict_proba(X[:5]))
    with pytest.raises(ValueError, match="binary classifier that predicts both classes"):
        ConformalLabelPowersetClassifier(FrozenEstimator(model)).fit(
            X[200:], np.array(["no", "yes"])[y[200:]])
