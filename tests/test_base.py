"""Tests of the private plumbing in ``sklearn_losses._engine``."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError
from torch import nn

from sklearn_losses._engine._base import (
    TabularDataset,
    TorchMultiLabelClassifierBase,
    check_binary_indicator,
    draw_seed,
    resolve_device,
    seeded_torch,
)
from sklearn_losses._engine._network import MLPNetwork


class _WeightedBCE(nn.Module):
    def forward(self, logits, y, weight):
        per_sample = nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none"
        ).mean(dim=1)
        return (per_sample * weight).sum() / weight.sum()


class _PlainMLPClassifier(TorchMultiLabelClassifierBase):
    """Smallest concrete subclass, to exercise the base class alone."""

    def __init__(self, *, max_epochs=30, batch_size=64, lr=1e-2, threshold=0.5,
                 device="auto", random_state=None, verbose=0):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.threshold = threshold
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_module(self, n_features, n_outputs):
        return MLPNetwork(n_features, n_outputs, hidden_layer_sizes=(16,))

    def _build_criterion(self, Y, weight):
        return _WeightedBCE()


def _structured_multilabel(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 1]).astype(int)
    return X, Y


def test_resolve_device_auto_and_missing_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_seeded_torch_leaves_global_rng_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded_torch(draw_seed(0)):
        torch.rand(10)
    assert torch.equal(state, torch.get_rng_state())


def test_tabular_dataset_densifies_sparse_rows_identically():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    X[1, :] = 0
    dense = TabularDataset(X, np.eye(4, 2), np.arange(4))
    sparse = TabularDataset(sp.csr_matrix(X), np.eye(4, 2), np.arange(4))
    for a, b in zip(dense.__getitems__([3, 1]), sparse.__getitems__([3, 1])):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1]["y"], b[1]["y"])
    assert dense[2][1]["w"] == 2


@pytest.mark.parametrize(
    "Y, match",
    [
        (np.array([[0, 2], [1, 0]]), "only 0 and 1"),
        (np.array([[0, np.nan], [1, 0]]), "NaN"),
        (np.array([0, 1]), "must be 2-D"),
    ],
)
def test_check_binary_indicator_rejects_bad_matrices(Y, match):
    with pytest.raises(ValueError, match=match):
        check_binary_indicator(Y)


def test_check_binary_indicator_accepts_unknown_when_allowed():
    Y = check_binary_indicator(np.array([[1, -1], [np.nan, 0]]), allow_unlabeled=True)
    assert Y.dtype == np.float32


def test_fit_learns_structured_labels_and_beats_prior():
    X, Y = _structured_multilabel()
    clf = _PlainMLPClassifier(random_state=0).fit(X[:200], Y[:200])
    accuracy = (clf.predict(X[200:]) == Y[200:]).mean()
    prior = (Y[200:] == (Y[:200].mean(axis=0) > 0.5)).mean()
    assert accuracy > prior + 0.1
    assert clf.predict(X[:5]).dtype == np.int64
    assert clf.predict_proba(X[:5]).dtype == np.float64


def test_never_positive_label_is_named_in_the_error():
    X, Y = _structured_multilabel(50)
    Y[:, 1] = 0
    with pytest.raises(ValueError, match="Label.*1.*never positive"):
        _PlainMLPClassifier(max_epochs=1).fit(X, Y)


def test_pandas_label_names_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, Y = _structured_multilabel(60)
    Xf = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    Yf = pd.DataFrame(Y, columns=["a", "b", "c"])
    clf = _PlainMLPClassifier(max_epochs=2, random_state=0).fit(Xf, Yf)
    assert list(clf.feature_names_in_) == list(Xf.columns)
    assert list(clf.label_names_) == ["a", "b", "c"]


def test_sparse_and_dense_fits_agree():
    X, Y = _structured_multilabel(120)
    X[X < 0.3] = 0
    dense = _PlainMLPClassifier(max_epochs=3, random_state=0).fit(X, Y)
    sparse = _PlainMLPClassifier(max_epochs=3, random_state=0).fit(sp.csr_matrix(X), Y)
    np.testing.assert_allclose(
        dense.predict_proba(X), sparse.predict_proba(sp.csr_matrix(X)), atol=1e-5
    )


def test_sample_weight_matches_repetition_with_full_batch():
    X, Y = _structured_multilabel(40)
    weight = np.tile([1, 2], 20)
    repeated = np.repeat(np.arange(40), weight)
    kwargs = dict(max_epochs=5, batch_size=200, random_state=0)
    weighted = _PlainMLPClassifier(**kwargs).fit(X, Y, sample_weight=weight)
    repeat = _PlainMLPClassifier(**kwargs).fit(X[repeated], Y[repeated])
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeat.predict_proba(X), rtol=1e-5, atol=1e-6
    )


def test_threshold_validation_and_per_label_thresholds():
    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match="one threshold per label"):
        _PlainMLPClassifier(threshold=[0.5, 0.5], max_epochs=1).fit(X, Y)
    clf = _PlainMLPClassifier(threshold=[0.01, 0.5, 0.99], max_epochs=2).fit(X, Y)
    pred = clf.predict(X)
    assert pred[:, 0].mean() >= pred[:, 2].mean()


def test_unfitted_and_bad_input_errors():
    X, Y = _structured_multilabel(60)
    with pytest.raises(NotFittedError):
        _PlainMLPClassifier().predict(X)
    clf = _PlainMLPClassifier(max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :4])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _PlainMLPClassifier(max_epochs=1).fit(X_nan, Y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _PlainMLPClassifier(max_epochs=1).fit(X, Y[:-1])
    with pytest.raises(ValueError, match="(?i)sample.weight"):
        _PlainMLPClassifier(max_epochs=1).fit(X, Y, sample_weight=np.zeros(60))


def test_refit_is_reproducible_and_pickles():
    X, Y = _structured_multilabel(80)
    a = _PlainMLPClassifier(max_epochs=3, random_state=7).fit(X, Y)
    b = _PlainMLPClassifier(max_epochs=3, random_state=7).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), restored.predict_proba(X))


# --------------------------------------------------------------------------- #
# property-based checks of the label-matrix and batch plumbing
# --------------------------------------------------------------------------- #
@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)),
              elements=st.sampled_from([0.0, 1.0, 2.0, -1.0, 0.5])))
def test_check_binary_indicator_accepts_exactly_zero_one(Y):
    if np.isin(Y, [0.0, 1.0]).all():
        np.testing.assert_array_equal(check_binary_indicator(Y), Y.astype(np.float32))
    else:
        with pytest.raises(ValueError, match="binary indicator"):
            check_binary_indicator(Y)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(1, 6), st.data())
def test_tabular_dataset_batches_match_rows(n_rows, n_cols, data):
    rng = np.random.default_rng(n_rows * 7 + n_cols)
    X = rng.normal(size=(n_rows, n_cols)).astype(np.float32)
    X[X < 0] = 0
    idx = data.draw(st.lists(st.integers(0, n_rows - 1), min_size=1, max_size=n_rows))
    for source in (X, sp.csr_matrix(X)):
        batch = TabularDataset(source).__getitems__(idx)
        np.testing.assert_array_equal(np.stack([b[0] for b in batch]), X[idx])


class _DivergingLoss(nn.Module):
    """A loss that turns NaN, as a too-large learning rate eventually does."""

    def forward(self, logits, y, weight=None):
        return logits.mean() * torch.tensor(float("nan"))


def test_diverging_training_raises_instead_of_returning_nan_model():
    class Diverging(_PlainMLPClassifier):
        def _build_criterion(self, Y, weight):
            return _DivergingLoss()

    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match="diverged.*StandardScaler"):
        Diverging(max_epochs=2, random_state=0).fit(X, Y)


def test_multiclass_probabilities_stay_normalised_for_extreme_logits():
    X, Y = _structured_multilabel(120)
    y = Y[:, 0] + Y[:, 1]
    clf = _PlainMLPClassifier(max_epochs=5, random_state=0).fit(X, y)
    proba = clf.predict_proba(X * 1e6)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
