"""Tests of the private plumbing in ``sklearn_losses._engine``."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import skorch
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from torch import nn

from sklearn_losses._engine import (
    DeviceDataset,
    MLPNetwork,
    StratifiedValidationSplit,
    TorchClassifierBase,
    check_binary_indicator,
    draw_seed,
    encode_targets,
    f1_optimal_thresholds,
    positive_counts,
    resolve_device,
    seeded_torch,
    sparse_corrcoef,
)


class _WeightedBCE(nn.Module):
    def forward(self, logits, y, weight):
        per_sample = nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction="none"
        ).mean(dim=1)
        return (per_sample * weight).sum() / weight.sum()


class _PlainMLPClassifier(TorchClassifierBase):
    """Smallest concrete subclass, to exercise the base class alone."""

    def __init__(self, *, max_epochs=30, batch_size=64, lr=1e-2, weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=100,
                 tol=1e-4, threshold=0.5, callbacks=None, warm_start=False, n_jobs=None,
                 device="auto", random_state=None, verbose=0):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.threshold = threshold
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.n_jobs = n_jobs
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


def test_device_dataset_densifies_sparse_rows_identically():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    X[1, :] = 0
    dense = DeviceDataset(X, np.eye(4, 2), np.arange(4), "cpu")
    sparse = DeviceDataset(sp.csr_matrix(X), np.eye(4, 2), np.arange(4), "cpu")
    index = torch.tensor([3, 1])
    (Xd, yd), (Xs, ys) = dense.take(index), sparse.take(index)
    np.testing.assert_array_equal(Xd.numpy(), Xs.numpy())
    np.testing.assert_array_equal(Xd.numpy(), X[[3, 1]])
    np.testing.assert_array_equal(yd["y"].numpy(), np.eye(4, 2)[[3, 1]])
    np.testing.assert_array_equal(ys["w"].numpy(), [3, 1])


def test_device_dataset_keeps_sparse_targets_sparse_and_batches_them_identically():
    rng = np.random.default_rng(0)
    Y = (rng.random((30, 5)) < 0.2).astype(np.float32)
    X = rng.normal(size=(30, 3)).astype(np.float32)
    dense = DeviceDataset(X, Y, np.ones(30), "cpu")
    sparse = DeviceDataset(X, sp.csr_matrix(Y), np.ones(30), "cpu")
    assert sparse.Y is None and sp.issparse(sparse.Y_host) and sparse.index_device == "cpu"
    index = torch.tensor([7, 2, 29])
    np.testing.assert_array_equal(sparse.take(index)[1]["y"].numpy(), Y[[7, 2, 29]])
    part = sparse.subset(np.array([4, 9]))
    assert sp.issparse(part.Y_host) and len(part) == 2
    np.testing.assert_array_equal(part.take(torch.tensor([1]))[1]["y"].numpy(), Y[[9]])
    # The stratified validation split sees the same positives either way.
    split = StratifiedValidationSplit(0.2, seed=0)
    np.testing.assert_array_equal(split(dense)[1].row_ids.numpy(),
                                  split(sparse)[1].row_ids.numpy())


def test_label_statistics_of_a_sparse_matrix_match_the_dense_ones():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 6)) < [0.5, 0.2, 0.05, 0.3, 0.0, 1.0]).astype(float)
    Y[3, 1] = -1  # unknown entries are not positives
    S = sp.csr_matrix(Y)
    np.testing.assert_array_equal(positive_counts(S), (Y == 1).sum(axis=0))
    np.testing.assert_array_equal(positive_counts(Y), (Y == 1).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.corrcoef(Y, rowvar=False)
    # Constant columns (never or always positive) have no correlation, as in NumPy.
    np.testing.assert_allclose(sparse_corrcoef(S), expected, atol=1e-12, equal_nan=True)


def test_sparse_indicator_is_validated_without_densifying():
    Y = sp.csr_matrix(np.array([[1, 0, 2], [0, 1, 0]]))
    with pytest.raises(ValueError, match="value\\(s\\) \\[2.0\\]"):
        check_binary_indicator(Y, keep_sparse=True)
    Y = sp.csr_matrix(np.array([[1, 0, -1], [0, 1, 0]]))
    kept = check_binary_indicator(Y, allow_unlabeled=True, keep_sparse=True)
    assert sp.issparse(kept) and kept.dtype == np.float32
    with pytest.raises(ValueError, match="never positive"):
        encode_targets(sp.csr_matrix(np.array([[1, 0], [1, 0]])), keep_sparse=True)
    Y, encoding = encode_targets(sp.csr_matrix(np.eye(3)), keep_sparse=True)
    assert sp.issparse(Y) and encoding.multilabel


def test_sparse_indicator_with_duplicate_entries_is_checked_as_their_sum():
    # Two stored 1s at one position are a 2 once densified, as the dense check says.
    Y = sp.csr_matrix((np.ones(3), [0, 0, 1], [0, 2, 3]), shape=(2, 2))
    assert not Y.has_canonical_format
    with pytest.raises(ValueError, match="value\\(s\\) \\[2.0\\]"):
        check_binary_indicator(Y, keep_sparse=True)
    assert Y.nnz == 3  # the caller's matrix is left as it was


def test_validation_subset_keeps_the_original_row_indices():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    data = DeviceDataset(X, np.eye(10, 2), np.ones(10), "cpu")
    part = data.subset(np.array([2, 5, 7]))
    X_part, targets = part.take(torch.tensor([0, 2]))
    np.testing.assert_array_equal(X_part.numpy(), X[[2, 7]])
    np.testing.assert_array_equal(targets["idx"].numpy(), [2, 7])


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
    # Three thresholds for three labels, but as a row: the shape is what is wrong.
    with pytest.raises(ValueError, match=r"shape \(1, 3\) but y has 3 labels.*1-D"):
        _PlainMLPClassifier(threshold=[[0.5, 0.5, 0.5]], max_epochs=1).fit(X, Y)
    thresholds = np.array([0.2, 0.5, 0.8])
    params = dict(max_epochs=2, random_state=0)
    per_label = _PlainMLPClassifier(threshold=thresholds, **params).fit(X, Y)
    scalar = _PlainMLPClassifier(threshold=0.5, **params).fit(X, Y)
    proba = per_label.predict_proba(X)
    np.testing.assert_array_equal(scalar.predict_proba(X), proba)  # same seed, same model
    np.testing.assert_array_equal(per_label.predict(X), (proba >= thresholds).astype(int))
    np.testing.assert_array_equal(scalar.predict(X), (proba >= 0.5).astype(int))
    assert not np.array_equal(per_label.predict(X), scalar.predict(X))


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
def test_device_dataset_batches_match_rows(n_rows, n_cols, data):
    rng = np.random.default_rng(n_rows * 7 + n_cols)
    X = rng.normal(size=(n_rows, n_cols)).astype(np.float32)
    X[X < 0] = 0
    idx = data.draw(st.lists(st.integers(0, n_rows - 1), min_size=1, max_size=n_rows))
    for source in (X, sp.csr_matrix(X)):
        dataset = DeviceDataset(source, np.zeros((n_rows, 1)), np.ones(n_rows), "cpu")
        batch, _ = dataset.take(torch.tensor(idx))
        np.testing.assert_array_equal(batch.numpy(), X[idx])


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


# --------------------------------------------------------------------------- #
# the training engine: stopping rule, threads, host syncs, interrupts
# --------------------------------------------------------------------------- #
def test_early_stopping_stops_early_on_easy_data_and_keeps_the_best_epoch():
    X, Y = _structured_multilabel(400)
    params = dict(max_epochs=300, early_stopping=True, n_iter_no_change=5, tol=0.0,
                  random_state=0)
    clf = _PlainMLPClassifier(**params).fit(X, Y)
    assert clf.n_epochs_ < 300
    assert clf.best_epoch_ < clf.n_epochs_
    valid = [row["valid_loss"] for row in clf.history_]
    assert min(valid) == valid[clf.best_epoch_ - 1]
    # The same seed for best_epoch_ epochs follows the same path, so its
    # last (and best) weights are the ones the long run restored.
    short = _PlainMLPClassifier(**{**params, "max_epochs": clf.best_epoch_}).fit(X, Y)
    np.testing.assert_array_equal(clf.predict_proba(X), short.predict_proba(X))


def test_without_early_stopping_the_training_loss_decides():
    X, Y = _structured_multilabel(200)
    clf = _PlainMLPClassifier(max_epochs=500, n_iter_no_change=3, tol=1e-2,
                              random_state=0).fit(X, Y)
    assert clf.n_epochs_ < 500
    assert "valid_loss" not in clf.history_[-1]


def test_validation_split_is_stratified_per_label():
    rng = np.random.default_rng(0)
    Y = (rng.random((1000, 4)) < [0.5, 0.1, 0.03, 0.01]).astype(np.float32)
    data = DeviceDataset(np.zeros((1000, 1), np.float32), Y, np.ones(1000), "cpu")
    train, valid = StratifiedValidationSplit(0.2, seed=0)(data)
    assert len(valid) == 200 and len(train) == 800
    np.testing.assert_allclose(valid.Y_host.mean(0), Y.mean(0), atol=0.006)


class _ThreadProbe(skorch.callbacks.Callback):
    def on_epoch_end(self, net, **kwargs):
        self.threads_ = torch.get_num_threads()


def test_n_jobs_sets_torch_threads_during_fit_and_restores_them():
    X, Y = _structured_multilabel(60)
    probe = _ThreadProbe()
    before = torch.get_num_threads()
    _PlainMLPClassifier(max_epochs=1, n_jobs=2, callbacks=[("probe", probe)]).fit(X, Y)
    assert probe.threads_ == 2
    assert torch.get_num_threads() == before


def test_training_step_never_reads_a_loss_back_per_batch(monkeypatch):
    """A read of a tensor's value from our code or skorch's loop; torch's
    optimizers read their CPU step counters, which is no device sync."""
    import traceback

    from sklearn_losses import HybridLossMultiLabelClassifier, PUMultiLabelClassifier

    X, Y = _structured_multilabel(640)
    calls = []
    for name in ("item", "__float__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name):
            caller = traceback.extract_stack(limit=2)[0].filename
            if "sklearn_losses" in caller or "skorch" in caller:
                calls.append((_name, caller))
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for estimator in (HybridLossMultiLabelClassifier, PUMultiLabelClassifier):
        calls.clear()
        clf = estimator(max_epochs=3, batch_size=64, early_stopping=False, random_state=0)
        clf.fit(X, Y)
        # 10 batches per epoch: anything per batch would show 30 or more.
        assert len(calls) < 3, (estimator.__name__, calls)


class _Interrupt(skorch.callbacks.Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_interrupt_reaches_the_caller_and_leaves_the_estimator_as_it_was():
    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=50, callbacks=[("stop", _Interrupt())])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    assert not hasattr(clf, "net_") and not hasattr(clf, "n_features_in_")
    fitted = _PlainMLPClassifier(max_epochs=2, random_state=0).fit(X, Y)
    proba = fitted.predict_proba(X)
    fitted.set_params(max_epochs=50, callbacks=[("stop", _Interrupt())])
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(X[:40], Y[:40])
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)
    assert len(fitted.history_) == 2


class _FailAtEpoch(skorch.callbacks.Callback):
    def __init__(self, epoch, error):
        self.epoch = epoch
        self.error = error

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_interrupted_warm_refit_restores_weights_optimizer_and_history(error):
    X, Y = _structured_multilabel(120)
    # The callback stays with the net that a warm refit continues; it fires
    # after the refit's first epoch, when the optimizer has taken its steps.
    clf = _PlainMLPClassifier(max_epochs=2, warm_start=True, random_state=0,
                              callbacks=[("fail", _FailAtEpoch(3, error))]).fit(X, Y)
    proba = clf.predict_proba(X)
    optimizer = copy.deepcopy(clf.net_.optimizer_.state_dict())
    with pytest.raises(error):
        clf.fit(X, Y)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    restored = clf.net_.optimizer_.state_dict()
    for key, state in optimizer["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(restored["state"][key][name], value, rtol=0, atol=0)
    assert len(clf.history_) == len(clf.net_.history) == 2
    # Continuing afterwards works, from the restored state.
    dict(clf.net_.callbacks_)["fail"].epoch = 0
    clf.fit(X, Y)
    assert len(clf.history_) == 4


def test_sigint_from_a_timer_thread_interrupts_fit():
    import signal
    import threading
    import time

    class Slow(skorch.callbacks.Callback):
        def on_epoch_end(self, net, **kwargs):
            time.sleep(0.05)

    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=10_000, callbacks=[("slow", Slow())])
    # A shell starts background jobs with SIGINT ignored; install Python's own
    # handler, which raises KeyboardInterrupt, as an interactive session has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, signal.raise_signal, args=(signal.SIGINT,))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, Y)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert not hasattr(clf, "net_")


def test_seeded_fits_in_threads_match_sequential_fits():
    from joblib import Parallel, delayed, parallel_backend

    X, Y = _structured_multilabel(200)

    def fit(seed):
        return _PlainMLPClassifier(max_epochs=5, random_state=seed).fit(X, Y).predict_proba(X)

    sequential = [fit(seed) for seed in range(4)]
    with parallel_backend("threading", n_jobs=4):
        threaded = Parallel()(delayed(fit)(seed) for seed in range(4))
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_warm_start_continues_from_the_previous_weights():
    X, Y = _structured_multilabel(200)
    clf = _PlainMLPClassifier(max_epochs=2, warm_start=True, random_state=0).fit(X, Y)
    first = {k: v.clone() for k, v in clf.net_.module_.state_dict().items()}
    net = clf.net_
    clf.fit(X, Y)
    assert clf.net_ is net and len(clf.history_) == 4
    moved = [not torch.equal(first[k], v) for k, v in clf.net_.module_.state_dict().items()]
    assert any(moved)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X[:, :4], Y)


def test_warm_start_refuses_another_device():
    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=1, warm_start=True, random_state=0).fit(X, Y)
    # As if trained on a GPU: the network would stay there, the data come to the CPU.
    clf.net_.device = "cuda:0"
    history = len(clf.history_)
    with pytest.raises(ValueError, match="previous fit on its device, 'cuda:0'.*device='cuda:0'"):
        clf.fit(X, Y)
    assert len(clf.history_) == history


def test_warm_refit_uses_the_current_epochs_learning_rate_batch_size_and_split():
    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=2, warm_start=True, random_state=0).fit(X, Y)
    net = clf.net_
    # A learning rate this large makes the loss jump.
    clf.set_params(max_epochs=3, lr=1.0, batch_size=20, early_stopping=True,
                   validation_fraction=0.25).fit(X, Y)
    assert clf.net_ is net and clf.n_epochs_ == 5
    assert [group["lr"] for group in net.optimizer_.param_groups] == [1.0]
    # 45 training rows (15 held out) in batches of 20.
    assert clf.history_[-1, "train_batch_count"] == 3 and len(net.valid_rows_) == 15
    assert "valid_loss" in clf.history_[-1] and "valid_loss" not in clf.history_[1]
    # The best-loss flags compare with the earlier epochs' losses too.
    losses = clf.history_[:, "train_loss"]
    assert losses[2] > min(losses[:2]) and not clf.history_[2, "train_loss_best"]


def test_failed_warm_refit_keeps_the_previous_settings():
    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=2, warm_start=True, random_state=0).fit(X, Y)
    clf.set_params(max_epochs=5, lr=0.5, callbacks=[("fail", _FailAtEpoch(3, ValueError("x")))])
    with pytest.raises(ValueError, match="x"):
        clf.fit(X, Y)
    assert clf.net_.max_epochs == 2 and clf.net_.optimizer_.param_groups[0]["lr"] == 1e-2


@pytest.mark.parametrize("sizes", [(0,), (-5,), (2.7,)])
def test_hidden_layer_sizes_entries_are_validated(sizes):
    from sklearn_losses import PUMultiLabelClassifier

    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match="positive integers"):
        PUMultiLabelClassifier(hidden_layer_sizes=sizes, max_epochs=1).fit(X, Y)


@pytest.mark.parametrize("device, match", [("cuda:7", "CUDA|GPU"), ("CPU", "lower case"),
                                           ("meta", "not supported"),
                                           (torch.device("cuda", 7), "CUDA|GPU"),
                                           (torch.device("meta"), "not supported")])
def test_unusable_devices_get_a_clear_error(device, match):
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


def test_a_torch_device_is_accepted_and_stored_as_its_name():
    X, Y = _structured_multilabel(60)
    clf = _PlainMLPClassifier(max_epochs=1, device=torch.device("cpu")).fit(X, Y)
    assert clf.device_ == "cpu" and isinstance(clf.device, torch.device)
    assert clf.net_.device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            _PlainMLPClassifier(max_epochs=1, device=torch.device("cuda")).fit(X, Y)
    with pytest.raises(ValueError, match="device"):
        _PlainMLPClassifier(max_epochs=1, device=0).fit(X, Y)


@pytest.mark.parametrize("to_sparse", [False, True])
def test_float32_cast_that_merges_distinct_values_warns(to_sparse):
    X, Y = _structured_multilabel(60)
    X = X.astype(np.float64)
    X[:, 5] = 1.7e9 + np.arange(60)  # unix timestamps, one second apart
    X = sp.csr_matrix(X) if to_sparse else X
    with pytest.warns(UserWarning, match=r"column\(s\) \[5\].*float32.*StandardScaler"):
        _PlainMLPClassifier(max_epochs=1).fit(X, Y)


def test_scaled_features_fit_without_a_precision_warning():
    import warnings

    X, Y = _structured_multilabel(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _PlainMLPClassifier(max_epochs=1).fit(X.astype(np.float64) * 1e6, Y)


def test_verbose_log_has_no_terminal_colour_codes(capsys):
    X, Y = _structured_multilabel(60)
    _PlainMLPClassifier(max_epochs=3, early_stopping=True, verbose=1).fit(X, Y)
    out = capsys.readouterr().out
    assert "valid_loss" in out and "\x1b[" not in out


@pytest.mark.parametrize("y", [[["a"], ["c"], ["a"]] * 20, [["a", "b"], [], ["c"]] * 20])
def test_label_lists_per_row_point_to_multilabelbinarizer(y):
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(ValueError, match="MultiLabelBinarizer"):
        _PlainMLPClassifier(max_epochs=1).fit(X, y)


def test_fused_optimizers_are_asked_for_only_where_the_class_takes_them():
    from sklearn_losses._engine._base import _accepts

    assert _accepts(torch.optim.AdamW, "fused")
    assert not _accepts(torch.optim.RMSprop, "fused")
    assert not _accepts(len, "fused")


def test_f1_optimal_thresholds_match_a_search_over_every_cut():
    rng = np.random.default_rng(0)
    Y = (rng.random((60, 4)) < [0.1, 0.3, 0.5, 0.0]).astype(int)
    proba = np.clip(0.3 * Y + rng.random((60, 4)) * 0.7, 0, 1)
    thresholds = f1_optimal_thresholds(Y, proba)
    for j in range(3):
        best = max(f1_score(Y[:, j], proba[:, j] >= cut) for cut in np.unique(proba[:, j]))
        assert f1_score(Y[:, j], proba[:, j] >= thresholds[j]) == pytest.approx(best)
    assert thresholds[3] == 0.5  # never positive: the default stays


def test_prediction_summaries_run_in_predict_sized_chunks(monkeypatch):
    """Labels and mean probabilities over many rows are built chunk by chunk,
    never running the network on more rows than ``predict`` does (its hidden
    activations bound the memory), and agree with ``predict``."""
    from sklearn_losses._engine import _base

    X, Y = _structured_multilabel(50)
    clf = _PlainMLPClassifier(max_epochs=2, random_state=0).fit(X, Y)
    monkeypatch.setattr(_base, "_PREDICT_CHUNK", 8)
    rows = []
    hook = clf.net_.module_.register_forward_pre_hook(lambda _, args: rows.append(len(args[0])))
    try:
        labels, mean = clf._compact_labels(X), clf._mean_proba(X)
    finally:
        hook.remove()
    assert max(rows) == 8 and sum(rows) == 2 * len(X)
    np.testing.assert_array_equal(labels, clf.predict(X))
    np.testing.assert_allclose(mean, clf.predict_proba(X).mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("dtype", [None, "Float64"])
def test_infinite_class_labels_get_a_clear_error_without_warnings(dtype):
    y = np.array([0.0, 1.0] * 5)
    y = y if dtype is None else pd.Series(y, dtype=dtype)
    y[3] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="1 infinite class label"):
            encode_targets(y)


# --------------------------------------------------------------------------- #
# warm starts, thresholds of 1-D targets, validation size, module widths
# --------------------------------------------------------------------------- #
def test_warm_start_refuses_other_classes_or_another_kind_of_target():
    X, Y = _structured_multilabel(120)
    y = np.arange(120) % 3
    clf = _PlainMLPClassifier(max_epochs=1, warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"same classes.*\[0, 1, 2\].*'a', 'b', 'c'.*afresh"):
        clf.fit(X, np.array(list("abc"))[y])
    with pytest.raises(ValueError, match="was class labels; this y holds a multi-label.*afresh"):
        clf.fit(X, Y)
    # The refused fits left the estimator as it was; the same classes continue.
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.fit(X, y).n_epochs_ == 2

    named = _PlainMLPClassifier(max_epochs=1, warm_start=True, random_state=0)
    named.fit(X, pd.DataFrame(Y, columns=["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"same labels.*'a', 'b', 'c'.*'a', 'c', 'b'"):
        named.fit(X, pd.DataFrame(Y, columns=["a", "c", "b"]))
    with pytest.raises(ValueError, match="was a multi-label indicator matrix; this y holds class"):
        named.fit(X, y)


def _rare_binary(n=300, seed=0):
    """A binary target whose positive class is rare (15 %), so that its
    F1-optimal threshold is not 0.5."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    score = X[:, 0] + rng.normal(size=n)
    return X, np.where(score > np.percentile(score, 85), "yes", "no")


def test_threshold_of_a_binary_target_is_the_positive_class_threshold():
    X, y = _rare_binary()
    params = dict(max_epochs=5, random_state=0)
    clf = _PlainMLPClassifier(threshold=0.3, **params).fit(X, y)
    positive = clf.predict_proba(X)[:, 1]
    assert (positive >= 0.5).sum() < (positive >= 0.3).sum() < len(y)
    np.testing.assert_array_equal(clf.predict(X), np.where(positive >= 0.3, "yes", "no"))

    tuned = _PlainMLPClassifier(threshold="tune", **params).fit(X, y)
    rows = tuned.net_.valid_rows_
    held_out = tuned.predict_proba(X[rows])[:, 1:]
    expected = f1_optimal_thresholds((y[rows] == "yes")[:, None].astype(int), held_out)
    np.testing.assert_array_equal(tuned.thresholds_, expected)
    assert tuned.thresholds_.shape == (1,) and tuned.thresholds_[0] != 0.5
    np.testing.assert_array_equal(
        tuned.predict(X), np.where(tuned.predict_proba(X)[:, 1] >= expected[0], "yes", "no")
    )


def test_hybrid_tunes_the_threshold_of_a_binary_target():
    from sklearn_losses import HybridLossMultiLabelClassifier

    X, y = _rare_binary()
    clf = HybridLossMultiLabelClassifier(max_epochs=3, threshold="tune", random_state=0)
    clf.fit(X, y)
    assert clf.thresholds_.shape == (1,) and clf.thresholds_[0] != 0.5


@pytest.mark.parametrize("threshold", [[0.99, 0.01, 0.99], 0.3, "tune"])
def test_thresholds_of_a_multiclass_target_are_refused(threshold):
    X, _ = _structured_multilabel(60)
    y = np.arange(60) % 3
    with pytest.raises(ValueError, match="multi-label and binary targets.*3 classes.*most prob"):
        _PlainMLPClassifier(max_epochs=1, threshold=threshold).fit(X, y)
    clf = _PlainMLPClassifier(max_epochs=1, threshold=[0.5] * 3).fit(X, y)
    assert not hasattr(clf.net_, "valid_rows_") or clf.net_.valid_rows_ is None


@pytest.mark.parametrize("params", [{"early_stopping": True}, {"threshold": "tune"}])
def test_too_few_rows_for_the_validation_split_are_an_error(params):
    X, Y = _structured_multilabel(300)
    X, Y = X[:5], np.vstack([Y[:4], 1 - Y[3]])  # every label positive somewhere
    name = next(iter(params))
    with pytest.raises(ValueError, match=rf"With {name}.*validation_fraction=0.1 of the 5 rows"):
        _PlainMLPClassifier(max_epochs=2, **params).fit(X, Y)
    clf = _PlainMLPClassifier(max_epochs=2, validation_fraction=0.4, **params).fit(X, Y)
    assert len(clf.net_.valid_rows_) == 2


class _GivenModuleClassifier(_PlainMLPClassifier):
    """Trains the network ``make_module(n_features, n_outputs)`` builds."""

    make_module = None

    def _build_module(self, n_features, n_outputs):
        return type(self).make_module(n_features, n_outputs)


class _WithEmbedding(nn.Module):
    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return self.linear(X), X


@pytest.mark.parametrize("make_module, match", [
    (lambda n_in, n_out: nn.Linear(n_in + 2, n_out),
     r"must take 6 input features and return 3 logits.*failed.*mat1 and mat2"),
    (lambda n_in, n_out: nn.Linear(n_in, n_out + 1), r"returned Tensor of shape \(2, 4\)"),
    (lambda n_in, n_out: nn.Sequential(nn.Linear(n_in, n_out), nn.Flatten(0)),
     r"returned Tensor of shape \(6,\)"),
])
def test_module_of_the_wrong_width_gets_a_clear_error(monkeypatch, make_module, match):
    monkeypatch.setattr(_GivenModuleClassifier, "make_module", staticmethod(make_module))
    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match=match):
        _GivenModuleClassifier(max_epochs=1).fit(X, Y)


def test_width_check_reads_the_logits_of_a_module_returning_a_tuple():
    from sklearn_losses._engine._base import _check_module_widths

    X, _ = _structured_multilabel(60)
    _check_module_widths(_WithEmbedding(6, 3), X, 3)  # (logits, embedding) passes
    with pytest.raises(ValueError, match=r"return 3 logits.*shape \(2, 4\)"):
        _check_module_widths(_WithEmbedding(6, 4), X, 3)


def _noisy_module(n_features, n_outputs):
    return nn.Sequential(nn.Linear(n_features, 8), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Dropout(0.3), nn.Linear(8, n_outputs))


def test_module_width_check_draws_no_random_numbers_and_keeps_layer_modes(monkeypatch):
    from sklearn_losses._engine import _base

    X, Y = _structured_multilabel(60)
    module = _noisy_module(6, 3)
    module[1].eval()  # a frozen batch norm stays frozen
    statistics = module[1].running_mean.clone()
    state = torch.get_rng_state()
    _base._check_module_widths(module, X, 3)
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(statistics, module[1].running_mean)
    assert [layer.training for layer in module] == [True, False, True, True, True]

    # A seeded fit trains the same model with the check as without it.
    monkeypatch.setattr(_GivenModuleClassifier, "make_module", staticmethod(_noisy_module))
    checked = _GivenModuleClassifier(max_epochs=2, random_state=0).fit(X, Y).predict_proba(X)
    monkeypatch.setattr(_base, "_check_module_widths", lambda *args: None)
    unchecked = _GivenModuleClassifier(max_epochs=2, random_state=0).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(checked, unchecked)


@pytest.mark.parametrize("y", [
    np.array([1, None, 2] * 4, dtype=object),
    ["a", None, "b"] * 4,
    np.array(["a", np.nan, "b"] * 4, dtype=object),
])
def test_missing_class_labels_among_objects_get_a_clear_error(y):
    with pytest.raises(ValueError, match="4 missing class label"):
        encode_targets(y)


def _skorch_callbacks(directory):
    scoring = skorch.callbacks
    return [
        scoring.EpochScoring("f1_macro", lower_is_better=False, name="valid_f1"),
        scoring.EpochScoring("f1_macro", lower_is_better=False, on_train=True, name="train_f1"),
        scoring.BatchScoring("f1_macro", lower_is_better=False, name="batch_f1"),
        scoring.Checkpoint(dirname=str(directory / "best")),
        scoring.TrainEndCheckpoint(dirname=str(directory / "end")),
    ]


@pytest.mark.parametrize("name", ["HybridLossMultiLabelClassifier", "PUMultiLabelClassifier",
                                  "NoisyLabelRescaledClassifier"])
def test_skorch_scoring_checkpoint_and_progress_callbacks_work(name, tmp_path, capsys):
    import sklearn_losses

    X, Y = _structured_multilabel(120)
    clf = getattr(sklearn_losses, name)(
        max_epochs=2, early_stopping=True, validation_fraction=0.25, random_state=0,
        verbose=2, callbacks=_skorch_callbacks(tmp_path),
    ).fit(X, Y)
    last = clf.history_[-1]
    # The last epoch improved, so the model kept is the one that epoch scored.
    assert last["improved"] and last["valid_loss_best"]
    rows = clf.net_.valid_rows_
    held_out = f1_score(Y[rows], clf.predict(X[rows]), average="macro")
    assert last["valid_f1"] == pytest.approx(held_out)
    # One batch of held-out rows: the batch score is the epoch score.
    assert last["batch_f1"] == pytest.approx(held_out)
    assert 0 <= last["train_f1"] <= 1 and "train_f1_best" in last
    # skorch's per-batch rows: their size-weighted mean is the epoch's loss.
    train_rows = [row for row in last["batches"] if "train_loss" in row]
    assert len(train_rows) == last["train_batch_count"]
    assert sum(r["train_batch_size"] for r in train_rows) == len(X) - len(rows)
    mean = np.average([r["train_loss"] for r in train_rows],
                      weights=[r["train_batch_size"] for r in train_rows])
    assert last["train_loss"] == pytest.approx(mean) and type(last["train_loss"]) is float
    assert (tmp_path / "best" / "params.pt").exists()
    assert (tmp_path / "end" / "train_end_params.pt").exists()
    assert "\x1b[" not in capsys.readouterr().out


def test_class_labels_are_scored_by_callbacks_in_their_one_hot_space():
    from sklearn.metrics import accuracy_score

    from sklearn_losses import NoisyLabelRescaledClassifier

    X, Y = _structured_multilabel(120)
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    scoring = skorch.callbacks.EpochScoring("accuracy", lower_is_better=False, name="acc")
    clf = NoisyLabelRescaledClassifier(max_epochs=2, early_stopping=True, validation_fraction=0.25,
                                       random_state=0, callbacks=[scoring]).fit(X, y)
    assert clf.history_[-1, "improved"]
    rows = clf.net_.valid_rows_
    assert clf.history_[-1, "acc"] == pytest.approx(accuracy_score(y[rows], clf.predict(X[rows])))


def test_checkpoint_without_a_monitor_saves_and_load_init_state_resumes(tmp_path):
    X, Y = _structured_multilabel(60)
    checkpoint = skorch.callbacks.Checkpoint(monitor=None, dirname=str(tmp_path))
    first = _PlainMLPClassifier(max_epochs=2, random_state=0, callbacks=[checkpoint]).fit(X, Y)
    assert first.history_[-1, "event_cp"]
    resume = skorch.callbacks.LoadInitState(checkpoint)
    resumed = _PlainMLPClassifier(max_epochs=1, random_state=1,
                                  callbacks=[checkpoint, resume]).fit(X, Y)
    # The resumed fit starts from the saved epoch's weights and history.
    assert len(resumed.history_) == 3
    assert resumed.history_[2, "train_loss"] < first.history_[0, "train_loss"]


class _Narrow(nn.Module):
    def __init__(self, n_features, n_outputs, width=8):
        super().__init__()
        self.hidden = nn.Linear(n_features, width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


def test_skorch_style_module_parameters_get_a_clear_error():
    import functools

    from sklearn.model_selection import GridSearchCV

    from sklearn_losses import HybridLossMultiLabelClassifier

    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match="module='mlp' names a built-in.*set dropout directly"):
        HybridLossMultiLabelClassifier().set_params(module__dropout=0.1)
    search = GridSearchCV(HybridLossMultiLabelClassifier(max_epochs=1),
                          {"module__dropout": [0.1]}, cv=2)
    with pytest.raises(ValueError, match="module__dropout: module__. parameters are not routed"):
        search.fit(X, Y)
    with pytest.raises(ValueError, match="your own network.*functools.partial"):
        HybridLossMultiLabelClassifier(module=_Narrow).set_params(module__width=4)
    # What the message recommends works, also as grid values.
    clf = HybridLossMultiLabelClassifier(module=functools.partial(_Narrow, width=4), max_epochs=1,
                                         contrastive_weight=0.0).fit(X, Y)
    assert clf.net_.module_.hidden.out_features == 4
    search = GridSearchCV(clf, {"module": [functools.partial(_Narrow, width=w) for w in (2, 4)]},
                          cv=2).fit(X, Y)
    assert search.best_estimator_.net_.module_.hidden.out_features in (2, 4)


@pytest.mark.parametrize("callback, match", [
    (skorch.callbacks.Checkpoint(dirname="unused"), "Checkpoint monitors 'valid_loss_best'"),
    (skorch.callbacks.EpochScoring("f1_macro"), "EpochScoring scores the held-out rows"),
])
def test_callbacks_reading_held_out_rows_without_a_split_are_an_error(callback, match):
    X, Y = _structured_multilabel(60)
    with pytest.raises(ValueError, match=match + ".*holds out no rows.*early_stopping=True"):
        _PlainMLPClassifier(max_epochs=1, callbacks=[callback]).fit(X, Y)
