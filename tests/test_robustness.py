"""Bad input, persistence and determinism across every public estimator.

Each bad input must give a ValueError that names the problem (or a documented,
tested handling), never a torch stack trace and never a silent wrong answer.
"""

import pickle
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import skorch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import NotFittedError
from test_common import _small_estimators

from sklearn_losses import ConformalLabelPowersetClassifier, IHOMERClassifier

ESTIMATORS = _small_estimators()


def _ids(estimator):
    return type(estimator).__name__


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(
        n_samples=120, n_features=6, n_classes=3, n_labels=2, random_state=1
    )
    return X.astype(np.float64), Y


def _fit(estimator, X, Y):
    return clone(estimator).fit(X, Y)


BAD_X = {
    "nan": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), "NaN"),
    "inf": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.inf, X),
            "infinity"),
    "too large for float32": (lambda X: X * 1e300, "too large|infinity"),
    "empty": (lambda X: X[:0], "0 sample"),
    "strings": (lambda X: X.astype(object).astype(str).astype(object) + "x",
                "could not convert|string"),
    "3-D": (lambda X: X[:, :, None], "dim"),
}


# scikit-learn's float32 cast of the 1e300 case warns before check_array raises.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("case", list(BAD_X), ids=str)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_bad_X_at_fit(estimator, case, data):
    X, Y = data
    if case == "too large for float32" and isinstance(estimator, ConformalLabelPowersetClassifier):
        pytest.skip("the conformal wrapper keeps float64 input for the model it wraps")
    transform, match = BAD_X[case]
    with pytest.raises(ValueError, match=match):
        _fit(estimator, transform(X), Y)


@pytest.mark.parametrize(
    "case, transform, match",
    [
        ("value 2", lambda Y: np.where(np.arange(Y.size).reshape(Y.shape) == 3, 2, Y),
         r"0 and 1|binary|indicator"),
        ("negative", lambda Y: -Y, r"0 and 1|binary|indicator|never positive"),
        ("fractional", lambda Y: Y * 0.5, r"0 and 1|binary|indicator"),
        ("3-D", lambda Y: Y[:, :, None], r"dim|shape|2-D|indicator"),
    ],
)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_bad_label_matrix(estimator, case, transform, match, data):
    X, Y = data
    with pytest.raises(ValueError, match=match):
        _fit(estimator, X, transform(Y))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_mismatched_lengths(estimator, data):
    X, Y = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples|length"):
        _fit(estimator, X, Y[:-5])


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_never_positive_label(estimator, data):
    """Batch learners refuse a label with no positive; a stream may see one later."""
    X, Y = data
    Y = Y.copy()
    Y[:, 1] = 0
    if isinstance(estimator, IHOMERClassifier):
        fitted = _fit(estimator, X, Y)
        assert (fitted.predict(X)[:, 1] == 0).all()
        return
    with pytest.raises(ValueError, match="never positive"):
        _fit(estimator, X, Y)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_always_positive_label_is_predicted_positive(estimator, data):
    X, Y = data
    Y = Y.copy()
    Y[:, 0] = 1
    proba = np.asarray(_fit(estimator, X, Y).predict_proba(X))
    assert np.isfinite(proba).all()
    assert proba[:, 0].mean() > 0.8


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_one_dimensional_y_is_class_labels(estimator, data):
    """A 1-D y means classes (as in MLPClassifier): predict returns those labels."""
    X, Y = data
    y = np.array(["a", "b", "c"])[Y.sum(axis=1) % 3]
    if isinstance(estimator, ConformalLabelPowersetClassifier):
        # Its sets are of label vectors: a 1-D y of two classes is one label,
        # more classes are refused (tests/test_conformal.py).
        with pytest.raises(ValueError, match="Only binary classification"):
            _fit(estimator, X, y)
        return
    pred = _fit(estimator, X, y).predict(X)
    assert pred.shape == y.shape
    assert set(pred) <= {"a", "b", "c"}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_predict_side_errors(estimator, data):
    X, Y = data
    with pytest.raises(NotFittedError):
        clone(estimator).predict(X)
    fitted = _fit(estimator, X, Y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(np.full_like(X[:3], np.nan))
    assert fitted.predict(X[:1]).shape == (1, Y.shape[1])


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_pickle_round_trip_identical(estimator, data):
    X, Y = data
    fitted = _fit(estimator, X, Y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(fitted.predict_proba(X), restored.predict_proba(X))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_same_seed_same_predictions_across_fits(estimator, data):
    X, Y = data
    first = _fit(estimator, X, Y).predict_proba(X)
    second = _fit(estimator, X, Y).predict_proba(X)
    # On the CPU refits are bitwise identical. CUDA's atomic additions (e.g.
    # index_add_ in STORM's features) sum in varying order: measured 2.5e-7.
    atol = 1e-5 if torch.cuda.is_available() else 0.0
    np.testing.assert_allclose(first, second, rtol=0, atol=atol)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    Y=arrays(np.int64, st.tuples(st.integers(8, 30), st.integers(1, 4)),
             elements=st.integers(0, 1)),
    seed=st.integers(0, 2**16),
)
def test_any_valid_label_matrix_fits_or_names_the_empty_label(Y, seed):
    """Property: every 0/1 matrix either trains (and predicts its shape) or is
    refused for exactly the label(s) that are never positive."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(Y.shape[0], 3))
    estimator = clone(ESTIMATORS[0]).set_params(max_epochs=1)
    never = np.flatnonzero(Y.sum(axis=0) == 0)
    if never.size:
        with pytest.raises(ValueError, match="never positive"):
            estimator.fit(X, Y)
        return
    assert estimator.fit(X, Y).predict(X).shape == Y.shape


def test_torch_global_state_untouched_by_inference(data):
    X, Y = data
    fitted = _fit(ESTIMATORS[0], X, Y)
    torch.manual_seed(3)
    state = torch.get_rng_state()
    fitted.predict_proba(X)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
@pytest.mark.parametrize(
    "estimator", [e for e in ESTIMATORS if hasattr(e, "max_epochs")], ids=_ids
)
def test_model_pickled_on_cuda_predicts_on_cpu_only_machine(estimator, data):
    """A net whose device says CUDA (as after a GPU fit) is loaded on the CPU by
    skorch and predicts the same values."""
    X, Y = data
    fitted = _fit(estimator, X, Y)
    expected = fitted.predict_proba(X)
    fitted.net_.device = "cuda"
    # Ours says the model was saved on cuda; skorch's DeviceWarning says where it loads.
    with pytest.warns(UserWarning) as record:
        restored = pickle.loads(pickle.dumps(fitted))
    assert any("cuda" in str(w.message) for w in record)
    assert str(restored.net_.device) == "cpu"
    np.testing.assert_allclose(restored.predict_proba(X), expected)


def test_skops_round_trip_of_the_conformal_wrapper(data):
    """skops stores NumPy/scikit-learn state safely; the conformal wrapper around a
    scikit-learn model is pure NumPy and round-trips exactly. (skops cannot hold
    torch tensors, so the torch-backed estimators persist with pickle/joblib.)"""
    sio = pytest.importorskip("skops.io")
    X, Y = data
    fitted = _fit(ESTIMATORS[-1], X, Y)
    payload = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=payload)
    assert untrusted == ["sklearn_losses._conformal._estimator.ConformalLabelPowersetClassifier"]
    restored = sio.loads(payload, trusted=untrusted)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert [s.tolist() for s in restored.predict_sets(X[:5], significance=0.3)] == [
        s.tolist() for s in fitted.predict_sets(X[:5], significance=0.3)
    ]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_sparse_label_matrix_is_accepted(estimator, data):
    X, Y = data
    dense = _fit(estimator, X, Y).predict(X)
    sparse = _fit(estimator, X, sp.csr_matrix(Y)).predict(X)
    np.testing.assert_array_equal(np.asarray(dense), np.asarray(sparse))


class _InterruptAfterEpoch(skorch.callbacks.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("estimator", ESTIMATORS[:3], ids=_ids)
def test_interrupted_warm_refit_leaves_the_model_as_it_was(estimator, data):
    """A warm refit trains the same net in place; Ctrl-C after some of its
    optimizer steps must still give back the model as it was before."""
    X, Y = data
    clf = clone(estimator).set_params(
        max_epochs=2, warm_start=True, callbacks=[("stop", _InterruptAfterEpoch(3))]
    ).fit(X, Y)
    proba = clf.predict_proba(X)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert len(clf.history_) == 2


def _sparse_labels(n, n_labels, density, seed):
    Y = sp.random(n, n_labels, density=density, format="csr", random_state=seed)
    Y.data[:] = 1
    return Y[:, np.flatnonzero(Y.getnnz(axis=0))]


@pytest.mark.parametrize("estimator", ESTIMATORS[:3], ids=_ids)
def test_large_sparse_label_matrix_is_never_densified(estimator, monkeypatch):
    """20,000 rows x 500 labels at 0.1 % density: the dense float32 matrix
    would take 38 MiB; the fit's NumPy allocations stay a fraction of it, and
    the training data keeps the targets as CSR (densified per batch)."""
    import sklearn_losses._engine._base as base

    datasets = []

    class Spy(base.DeviceDataset):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            datasets.append(self)

    monkeypatch.setattr(base, "DeviceDataset", Spy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 5))
    Y = _sparse_labels(20_000, 500, 0.001, seed=0)
    params = dict(max_epochs=1, batch_size=1000)
    if "weight_granularity" in estimator.get_params():
        # Per-(row, label) weights are n x labels by design; one per row is not.
        params["weight_granularity"] = "sample"
    clf = clone(estimator).set_params(**params)
    clf.fit(X[:200], X[:200, :3] > 0)  # first fit: imports and caches, not data
    tracemalloc.start()
    try:
        clf.fit(X, Y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    dense_bytes = Y.shape[0] * Y.shape[1] * 4
    # STORM keeps its predictions on the training rows, one byte per entry,
    # for label_issues_.
    budget = dense_bytes / 4 + (dense_bytes / 4 if "weight_granularity" in params else 0)
    assert sp.issparse(datasets[-1].Y_host) and datasets[-1].Y is None
    assert peak < budget, (peak / 2**20, dense_bytes / 2**20)


@pytest.mark.parametrize("estimator", ESTIMATORS[:3], ids=_ids)
def test_sparse_and_dense_label_matrices_train_the_same_model(estimator):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 8))
    Y = _sparse_labels(300, 12, 0.08, seed=1)
    Y = Y + sp.csr_matrix((X[:, :3] > 0.5).astype(float) @ np.ones((3, Y.shape[1])) > 0)
    Y = sp.csr_matrix(Y > 0, dtype=float)
    params = dict(max_epochs=3, batch_size=64)
    if "tune" in str(type(estimator)._parameter_constraints["threshold"]):
        params["threshold"] = "tune"  # thresholds from the held-out rows' labels
    dense = clone(estimator).set_params(**params).fit(X, Y.toarray())
    sparse = clone(estimator).set_params(**params).fit(X, Y)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(sparse.thresholds_, dense.thresholds_)


@pytest.mark.parametrize("estimator", ESTIMATORS[:4], ids=_ids)
def test_seeded_fits_in_threads_give_the_sequential_models(estimator, data):
    """Dask workers and joblib's threading backend run fits in threads; each
    seeded fit must still give the model a sequential fit gives."""
    from joblib import Parallel, delayed, parallel_backend

    X, Y = data

    def fit(seed):
        return clone(estimator).set_params(random_state=seed).fit(X, Y).predict_proba(X)

    sequential = [fit(seed) for seed in range(3)]
    with parallel_backend("threading", n_jobs=3):
        threaded = Parallel()(delayed(fit)(seed) for seed in range(3))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", ESTIMATORS[:3], ids=_ids)
def test_a_huge_feature_raises_the_divergence_error(estimator, data):
    """A 1e30 column is finite in float32 but saturates the network; the loss
    stays finite (about 1e28 for the hybrid loss), so finiteness alone misses it."""
    X, Y = data
    X = X.copy()
    X[:, 0] *= 1e30
    with pytest.raises(ValueError, match="diverged.*StandardScaler"):
        clone(estimator).set_params(max_epochs=2).fit(X, Y)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_sparse_label_matrix_in_score_and_default_grid_search(estimator, data):
    from sklearn.model_selection import GridSearchCV

    X, Y = data
    fitted = _fit(estimator, X, Y)
    assert fitted.score(X, sp.csr_matrix(Y)) == fitted.score(X, Y)
    search = GridSearchCV(clone(estimator), {"random_state": [0]}, cv=2).fit(X, sp.csr_matrix(Y))
    assert np.isfinite(search.best_score_)


def test_interrupted_refit_of_the_conformal_wrapper_keeps_the_previous_model(data):
    """The wrapped model's interrupt reaches the caller, and the wrapper keeps
    its previous calibration and model together (not half of the new fit)."""
    X, Y = data
    model = clone(ESTIMATORS[0]).set_params(max_epochs=2)
    clf = ConformalLabelPowersetClassifier(model, random_state=0).fit(X, Y)
    proba, sets = clf.predict_proba(X), clf.predict_sets(X[:5], significance=0.3)
    clf.set_params(estimator__callbacks=[("stop", _InterruptAfterEpoch(1))], threshold=0.3)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y[:, :2])
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    assert [s.tolist() for s in clf.predict_sets(X[:5], significance=0.3)] == [
        s.tolist() for s in sets
    ]


@pytest.mark.parametrize("estimator", ESTIMATORS[:3], ids=_ids)
def test_interrupted_first_fit_leaves_the_estimator_unfitted(estimator, data):
    X, Y = data
    clf = clone(estimator).set_params(callbacks=[("stop", _InterruptAfterEpoch(1))])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def _refuse_read_only(convert):
    def checked(data, *args, **kwargs):
        if isinstance(data, np.ndarray):
            assert data.flags.writeable, "a read-only array reached torch without a copy"
        return convert(data, *args, **kwargs)
    return checked


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_read_only_input(estimator, data, monkeypatch):
    """Read-only arrays (joblib hands memmaps to parallel workers) are copied before
    torch would share them (torch warns, once per process, that writing to such a
    tensor is undefined), and give the writable input's results."""
    X, Y = data
    # float32 X is not copied by validation, so the network could read the buffer itself.
    X = X.astype(np.float32)
    expected = _fit(estimator, X, Y).predict_proba(X)
    X_ro, Y_ro = X.copy(), Y.copy()
    X_ro.flags.writeable = Y_ro.flags.writeable = False
    monkeypatch.setattr(torch, "from_numpy", _refuse_read_only(torch.from_numpy))
    monkeypatch.setattr(torch, "as_tensor", _refuse_read_only(torch.as_tensor))
    proba = _fit(estimator, X_ro, Y_ro).predict_proba(X_ro)
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
