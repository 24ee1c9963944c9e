"""PU-MLC: the loss against a hand-written reference, the estimator against the
naive "unlabeled = negative" baseline on Yeast, partial labels and errors."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from sklearn_losses.datasets import load_yeast
from sklearn_losses.losses import PUMLCLoss, pumlc_mixup_penalty
from sklearn_losses.noise import make_partial_labels, make_positive_unlabeled


def _reference_loss(logits, targets, alpha, gamma, weight):
    """Loop over labels, straight from the definition (float64)."""
    logits = logits.astype(np.float64)
    total = 0.0
    for c in range(logits.shape[1]):
        s = logits[:, c]
        mean = (weight * s).sum() / weight.sum()
        spread = np.sqrt((weight * (s - mean) ** 2).sum() / weight.sum())
        t = min(max(alpha * spread, 1e-4), 1.0)
        log_phi = -np.log1p(np.exp(-s / t))
        positives = targets[:, c] == 1
        positive_term = (
            (weight[positives] * log_phi[positives]).sum() / weight[positives].sum()
            if positives.any() else 0.0
        )
        mean_phi = (weight * np.exp(log_phi)).sum() / weight.sum()
        total += mean_phi**gamma * np.log(mean_phi) - positive_term
    return total


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(10, 3, generator=g) * 2
    targets = (torch.rand(10, 3, generator=g) < 0.3).float()
    targets[0, 2] = float("nan")
    targets[1, 1] = -1.0
    return logits, targets


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("scale", [1.0, 0.05])  # temperature at its cap of 1, or below
def test_loss_matches_reference(batch, weighted, scale):
    logits, targets = batch
    logits = logits * scale
    weight = torch.linspace(0.5, 2.0, 10) if weighted else torch.ones(10)
    got = PUMLCLoss(alpha=2.0, gamma=0.85)(logits, targets, weight=weight)
    expected = _reference_loss(logits.numpy(), targets.numpy(), 2.0, 0.85, weight.numpy())
    assert float(got) == pytest.approx(expected, abs=1e-5)


def test_loss_is_row_permutation_invariant(batch):
    logits, targets = batch
    loss = PUMLCLoss()
    order = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loss(logits, targets), loss(logits[order], targets[order]))


def test_no_gradient_flows_through_temperature_or_rebalancing(batch):
    logits, targets = batch
    logits = logits.clone().requires_grad_(True)
    PUMLCLoss(alpha=2.0, gamma=0.85)(logits, targets).backward()
    # Same loss with t_c and w_c frozen as plain numbers.
    frozen = logits.detach().clone().requires_grad_(True)
    t = (2.0 * frozen.detach().std(dim=0, unbiased=False)).clamp(1e-4, 1.0)
    log_phi = torch.nn.functional.logsigmoid(frozen / t)
    positive = (targets == 1).float()
    P = (positive * log_phi).sum(0) / positive.sum(0).clamp_min(1e-12)
    U = torch.logsumexp(log_phi, dim=0) - np.log(10)
    w = torch.exp(U.detach()) ** 0.85
    (w * U - P).sum().backward()
    torch.testing.assert_close(logits.grad, frozen.grad)


def test_mixup_penalty_is_reproducible_and_zero_for_one_row():
    net = torch.nn.Linear(4, 3)
    X = torch.randn(16, 4)
    targets = (torch.rand(16, 3) < 0.3).float()
    first = pumlc_mixup_penalty(net, X, net(X), targets, generator=torch.Generator().manual_seed(0))
    again = pumlc_mixup_penalty(net, X, net(X), targets, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, again)
    assert float(pumlc_mixup_penalty(net, X[:1], net(X[:1]), targets[:1])) == 0.0


def _loss_and_gradient(loss, logits, targets, weight):
    logits = logits.clone().requires_grad_(True)
    value = loss(logits, targets, weight=weight)
    value.backward()
    return value.detach(), logits.grad


def test_zero_weight_rows_leave_loss_and_gradient_as_dropping_them(batch):
    logits, targets = batch
    weight = torch.tensor([1.0, 0.0, 2.0, 0.5, 0.0, 1.0, 3.0, 0.0, 1.0, 1.0])
    kept = weight > 0
    # Logits of a small spread, so that the temperature is below its cap of 1:
    # rows of weight 0 far from the others would widen an unweighted spread.
    logits = torch.where(kept[:, None], logits / 20, 1.5)
    loss = PUMLCLoss()
    value, grad = _loss_and_gradient(loss, logits, targets, weight)
    dropped_value, dropped_grad = _loss_and_gradient(loss, logits[kept], targets[kept],
                                                     weight[kept])
    torch.testing.assert_close(value, dropped_value)
    torch.testing.assert_close(grad[kept], dropped_grad)
    assert not grad[~kept].any()


def test_batch_of_zero_weight_rows_gives_zero_loss_and_gradient(batch):
    logits, targets = batch
    value, grad = _loss_and_gradient(PUMLCLoss(), logits, targets, torch.zeros(10))
    assert float(value) == 0.0 and not grad.any()


def test_mixup_penalty_ignores_zero_weight_rows_and_equals_unweighted_with_unit_weights():
    net = torch.nn.Linear(4, 3)
    X = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    targets = (torch.rand(16, 3, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    weight = torch.tensor([1.0, 2.0, 0.0, 1.0] * 4)

    def penalty(X, targets, weight):
        return pumlc_mixup_penalty(net, X, net(X), targets, weight=weight,
                                   generator=torch.Generator().manual_seed(0))

    unweighted = pumlc_mixup_penalty(net, X, net(X), targets,
                                     generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(penalty(X, targets, torch.ones(16)), unweighted, atol=0, rtol=0)
    # Other inputs and labels in the zero-weight rows change nothing.
    garbage = weight == 0
    X_garbage = torch.where(garbage[:, None], 100.0, X)
    targets_garbage = torch.where(garbage[:, None], 1.0 - targets, targets)
    torch.testing.assert_close(penalty(X_garbage, targets_garbage, weight),
                               penalty(X, targets, weight))
    assert float(penalty(X, targets, torch.zeros(16)).detach()) == 0.0


@pytest.mark.parametrize("as_given", [np.asarray, sp.csr_matrix], ids=["dense", "sparse"])
def test_observed_positive_rate_counts_weighted_rows_as_repetitions(as_given):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    Y = (rng.rand(60, 3) < [0.5, 0.3, 0.2]).astype(int)
    Y[:3] = 1
    weight = rng.randint(0, 4, size=60)
    params = dict(max_epochs=1, hidden_layer_sizes=(8,), batch_size=16, random_state=0)
    weighted = PUMultiLabelClassifier(**params).fit(X, as_given(Y), sample_weight=weight)
    repeated = PUMultiLabelClassifier(**params).fit(np.repeat(X, weight, axis=0),
                                                   as_given(np.repeat(Y, weight, axis=0)))
    np.testing.assert_array_equal(weighted.observed_positive_rate_,
                                  repeated.observed_positive_rate_)


def test_zero_weighted_garbage_rows_train_as_if_dropped():
    # The review's case: 100 rows with every label flipped, all weighted 0.
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5)
    Y = (X[:, :3] + 0.3 * rng.randn(200, 3) > 0).astype(int)
    garbage = Y.copy()
    garbage[:100] = 1 - garbage[:100]
    weight = np.r_[np.zeros(100), np.ones(100)]
    params = dict(max_epochs=20, random_state=0)
    weighted = PUMultiLabelClassifier(**params).fit(X, garbage, sample_weight=weight)
    dropped = PUMultiLabelClassifier(**params).fit(X[100:], garbage[100:])
    np.testing.assert_array_equal(weighted.observed_positive_rate_,
                                  dropped.observed_positive_rate_)
    # Measured: 0.615 weighted, 0.608 dropped (0.508 when the MixUp pairs
    # ignored the weights).
    accuracy = [(model.predict(X) == Y).mean() for model in (weighted, dropped)]
    assert accuracy[0] >= accuracy[1] - 0.03
    np.testing.assert_allclose(weighted.label_prior_, dropped.label_prior_, atol=0.06)


@pytest.fixture(scope="module")
def yeast_pu():
    X, Y = load_yeast(return_X_y=True)
    X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    Y_pu, _ = make_positive_unlabeled(Y_tr, keep_positive=0.3, random_state=0)
    return scaler.transform(X_tr), scaler.transform(X_te), Y_pu, Y_te


def _map_f1(model, X_te, Y_te):
    return (
        average_precision_score(Y_te, model.predict_proba(X_te), average="macro"),
        f1_score(Y_te, model.predict(X_te), average="macro"),
    )


def test_pu_mlc_beats_naive_bce_on_yeast(yeast_pu):
    # Measured (seed 0, 60 epochs): naive mAP .403 / F1 .073; PU-MLC .429 / .417;
    # ablation (no temperature, gamma 0, no MixUp) mAP .310.
    X_tr, X_te, Y_pu, Y_te = yeast_pu
    naive = HybridLossMultiLabelClassifier(
        pos_weighting=None, corr_weight=0.0, contrastive_weight=0.0, max_epochs=60,
        random_state=0,
    ).fit(X_tr, Y_pu)
    pu = PUMultiLabelClassifier(max_epochs=60, random_state=0).fit(X_tr, Y_pu)
    ablation = PUMultiLabelClassifier(
        max_epochs=60, adaptive_temperature=False, gamma=0.0, mixup=False, random_state=0
    ).fit(X_tr, Y_pu)
    naive_map, naive_f1 = _map_f1(naive, X_te, Y_te)
    pu_map, pu_f1 = _map_f1(pu, X_te, Y_te)
    assert pu_map >= naive_map + 0.015
    assert pu_f1 >= naive_f1 + 0.2
    assert _map_f1(ablation, X_te, Y_te)[0] < pu_map - 0.05
    # The prior estimate follows the true label frequencies, not the observed 30%.
    assert np.corrcoef(pu.label_prior_, Y_te.mean(axis=0))[0, 1] > 0.95
    assert (pu.label_prior_ > pu.observed_positive_rate_).all()


def test_partial_labels_unknown_equals_unlabeled():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] + X[:, 3] > 0]).astype(int)
    Y_partial, _ = make_partial_labels(Y, 0.5, random_state=0)
    as_minus_one = np.where(np.isnan(Y_partial), -1, Y_partial)
    as_zero = np.nan_to_num(Y_partial, nan=0.0)
    params = dict(max_epochs=5, random_state=0)
    expected = PUMultiLabelClassifier(**params).fit(X, as_zero).predict_proba(X)
    for Y_unknown in (Y_partial, as_minus_one):
        got = PUMultiLabelClassifier(**params).fit(X, Y_unknown).predict_proba(X)
        np.testing.assert_array_equal(got, expected)


def test_label_without_observed_positive(yeast_pu):
    X_tr, X_te, Y_pu, _ = yeast_pu
    Y_missing = Y_pu.copy()
    Y_missing[:, 3] = 0
    with pytest.raises(ValueError, match="never positive"):
        PUMultiLabelClassifier(max_epochs=2).fit(X_tr, Y_missing)
    with pytest.warns(UserWarning, match="no observed positive"):
        clf = PUMultiLabelClassifier(
            max_epochs=60, on_missing_positives="warn", random_state=0
        ).fit(X_tr, Y_missing)
    proba = clf.predict_proba(X_te)
    assert np.isfinite(proba).all()
    assert proba[:, 3].mean() < 0.05
    assert clf.labels_without_positives_.tolist() == [3]


def test_score_is_subset_accuracy_and_ranking_scorers_work(yeast_pu):
    from sklearn.metrics import accuracy_score, get_scorer

    X_tr, X_te, Y_pu, Y_te = yeast_pu
    clf = PUMultiLabelClassifier(max_epochs=3, random_state=0).fit(X_tr, Y_pu)
    assert clf.score(X_te, Y_te) == accuracy_score(Y_te, clf.predict(X_te))
    expected = roc_auc_score(Y_te, clf.predict_proba(X_te), average="macro")
    assert get_scorer("roc_auc")(clf, X_te, Y_te) == pytest.approx(expected)


def test_loss_and_gradient_finite_when_a_label_has_no_positive_in_the_batch(batch):
    logits, targets = batch
    targets = targets.clone()
    targets[:, 0] = 0.0
    logits = logits.clone().requires_grad_(True)
    value = PUMLCLoss()(logits, targets)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    # The label without positives keeps only its unlabeled term: it is pushed down.
    assert (logits.grad[:, 0] > 0).all()


def test_nullable_boolean_frame_with_missing_entries_is_partial_labels():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(float)
    Y[rng.random(Y.shape) < 0.3] = np.nan
    frame = pd.DataFrame(Y, columns=["a", "b"]).astype("boolean")
    assert frame.isna().any().any()
    params = dict(max_epochs=3, random_state=0)
    from_frame = PUMultiLabelClassifier(**params).fit(X, frame).predict_proba(X)
    from_nan = PUMultiLabelClassifier(**params).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(from_frame, from_nan)


def test_history_records_every_loss_term_per_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    clf = PUMultiLabelClassifier(max_epochs=3, random_state=0).fit(X, Y)
    assert len(clf.history_) == 3
    for key in ("train_loss", "loss_positive", "loss_unlabeled", "loss_mixup"):
        assert np.isfinite(clf.history_[:, key]).all()
    no_mixup = PUMultiLabelClassifier(max_epochs=1, mixup=False, random_state=0).fit(X, Y)
    assert "loss_mixup" not in no_mixup.history_[-1]


def test_batch_of_one_row_is_refused():
    X = np.random.default_rng(0).normal(size=(20, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    with pytest.raises(ValueError, match="batch_size"):
        PUMultiLabelClassifier(batch_size=1).fit(X, Y)


@pytest.mark.parametrize("estimator", [PUMultiLabelClassifier, HybridLossMultiLabelClassifier])
def test_batches_of_zero_weight_rows_train_without_diverging(estimator):
    # Batches of 4 drawn from 48 zero-weight and 16 weighted rows: some hold
    # only zero-weight rows, whose loss was NaN ("training diverged").
    rng = np.random.RandomState(0)
    X = rng.randn(64, 3)
    Y = (X[:, :2] > 0).astype(int)
    weight = np.r_[np.zeros(48), np.ones(16)]
    params = dict(batch_size=4, max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
    clf = estimator(**params).fit(X, Y, sample_weight=weight)
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
