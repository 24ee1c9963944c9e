"""Tests of STORM: the meta step's maths, noise detection, robustness, errors."""

import statistics

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import torch
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_validate, train_test_split
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback, Freezer

from sklearn_losses import NoisyLabelRescaledClassifier
from sklearn_losses._engine import DeviceDataset
from sklearn_losses._storm._features import FeatureMemory, gaussian_kl_overlap
from sklearn_losses._storm._meta import StormCriterion, StormNet, _TensorSlots
from sklearn_losses.networks import LossRescalerNetwork, MLPNetwork
from sklearn_losses.noise import inject_label_noise


# --------------------------------------------------------------------------- #
# building blocks
# --------------------------------------------------------------------------- #
def test_gaussian_kl_and_overlap_match_reference_formulas():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=40), rng.normal(size=40)
    s1, s2 = rng.uniform(0.1, 2, size=40), rng.uniform(0.1, 2, size=40)
    s2[:3] = s1[:3]  # equal spreads: one crossing
    s2[3:6] = s1[3:6] * (1 + 1e-9)  # nearly equal: the other root runs off
    m2[6], s2[6] = m1[6], s1[6]  # identical densities
    t = [torch.tensor(a, dtype=torch.float64) for a in (m1, s1, m2, s2)]
    expected = [
        statistics.NormalDist(a, b).overlap(statistics.NormalDist(c, d))
        for a, b, c, d in zip(m1, s1, m2, s2)
    ]
    kl, overlap = gaussian_kl_overlap(*t)
    np.testing.assert_allclose(overlap.numpy(), expected, atol=1e-7)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(t[0], t[1]), torch.distributions.Normal(t[2], t[3])
    )
    np.testing.assert_allclose(kl.numpy(), reference.numpy(), rtol=1e-10, atol=1e-12)
    zero = torch.zeros(1, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    assert [v.item() for v in gaussian_kl_overlap(zero, zero, one, one)] == [0.0, 1.0]


def test_feature_memory_groups_by_class_and_agreement_and_forgets():
    memory = FeatureMemory(n_groups=2, size=3)
    loss = torch.tensor([[1.0, 2.0, 3.0, 9.0], [1.0, 2.0, 5.0, 9.0]])
    conf = torch.full_like(loss, 0.5)
    correct = torch.tensor([[True, True, True, False]] * 2)
    groups = torch.tensor([0, 0, 0, 1])
    features = memory.featurize(loss, conf, correct, groups)
    assert features.shape == (4, 19)
    # Rows 0-2 share (class 0, agreeing): group mean of the mean losses 1, 2, 4.
    np.testing.assert_allclose(features[:3, 1].numpy(), 7 / 3, rtol=1e-6)
    np.testing.assert_allclose(features[:, 18].numpy(), [1, 1, 1, 0])
    # A lone row (class 1) gets std 1e-8, never NaN.
    assert torch.isfinite(features).all() and features[3, 2] == pytest.approx(1e-8)
    features = memory.featurize(loss[:, :2] + 10, conf[:, :2], correct[:, :2], groups[:2])
    # The two new rows and the remembered three of class 0 form one group.
    np.testing.assert_allclose(features[:, 1].numpy(), (11 + 12 + 1 + 2 + 4) / 5, rtol=1e-6)
    # Class 0 then keeps its 3 newest rows: the two new ones and the newest old one.
    # A slot's statistics group is 2 * class + agrees, 2 * n_groups when the
    # slot is unused; the last slot is a spare.
    in_class_0 = memory.row_groups[:-1] // 2 == 0
    np.testing.assert_allclose(np.sort(memory.rows[:-1][in_class_0, 0].numpy()), [4, 11, 12])
    # A batch larger than the memory keeps only ``size`` rows of the group.
    many = torch.arange(8.0).repeat(2, 1)
    memory.featurize(many, many * 0 + 0.5, many > -1, torch.zeros(8, dtype=torch.long))
    assert (memory.row_groups[:-1] // 2 == 0).sum() == 3


def test_rescaler_weights_in_unit_interval_and_half_for_lone_rows():
    torch.manual_seed(0)
    rescaler = LossRescalerNetwork(n_nets=3)
    nets = torch.tensor([0, 0, 1, 1, 1, 2])
    w = rescaler(torch.randn(6, 19), nets, bn_ids=nets)
    assert ((w > 0) & (w < 1)).all()
    assert w[5] == 0.5  # a class alone in the batch cannot be normalised
    # The output batch norm centres each group's weights at 0.5 on average.
    assert w[:5].mean().item() == pytest.approx(0.5, abs=0.15)


def test_parameter_slots_run_a_module_at_other_values_like_functional_call():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3))
    module[2].weight = module[0].weight  # tied: one tensor under two names
    X = torch.randn(4, 3)
    other = {name: torch.randn_like(p) for name, p in module.named_parameters()}
    with _TensorSlots(module).replaced(other):
        out = module(X)
    torch.testing.assert_close(out, torch.func.functional_call(module, other, (X,)))
    # Afterwards the module holds its own parameters again.
    assert module[2].weight is module[0].weight
    assert isinstance(module[0].weight, torch.nn.Parameter)
    assert not torch.equal(module(X), out)


# --------------------------------------------------------------------------- #
# the meta step against slow references
# --------------------------------------------------------------------------- #
def _tiny_net(kind="multiclass", n_outputs=3, lookahead_lr=0.5, dtype=torch.float64,
              dropout=0.0, meta_gradient="double_backward"):
    """A StormNet on 12 rows; without dropout the meta loss is deterministic."""
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    if kind == "multiclass":
        Y = np.eye(n_outputs, dtype=np.float32)[np.arange(12) % n_outputs]
    else:
        Y = (np.random.default_rng(1).random((12, n_outputs)) < 0.5).astype(np.float32)
    criterion = StormCriterion(kind, n_outputs, granularity="label", normalization="batch")
    net = StormNet(
        MLPNetwork(4, n_outputs, (5,), dropout=dropout), criterion, lookahead_lr=lookahead_lr,
        extra_pass_dropout=0.0, memory_size=4, max_epochs=1, batch_size=6,
        train_split=None, optimizer=torch.optim.SGD, lr=0.1, meta_gradient=meta_gradient,
    ).initialize()
    net.module_.to(dtype)
    net.rescaler_.to(dtype)
    net.prepare_step()
    net.input_dropout_ = 0.0
    net.reset_memories()
    data = torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype)
    return net, data


@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_lookahead_equals_a_manual_sgd_step(kind):
    net, (X, Y) = _tiny_net(kind)
    step = net.meta_objective(X[:6], Y[:6], X[6:], Y[6:])
    weights = step["weights"].detach()
    manual = MLPNetwork(4, 3, (5,)).double()
    manual.load_state_dict(net.module_.state_dict())
    sgd = torch.optim.SGD(manual.parameters(), lr=0.5)
    criterion = net.criterion_
    loss = criterion.unit_losses(manual(X[:6]), criterion.target(Y[:6]))
    (weights * loss).sum(1).mean().backward()
    sgd.step()
    for name, p in manual.named_parameters():
        torch.testing.assert_close(step["fast"][name], p, rtol=1e-12, atol=1e-12)


class _Replay:
    """A feature memory that records its first features, then replays them.

    STORM's features are detached statistics: the meta gradient treats them as
    constants. Replaying them makes finite differences measure the same thing.
    """

    def __init__(self, memory):
        self.memory, self.features = memory, None

    def featurize(self, *args):
        if self.features is None:
            self.features = self.memory.featurize(*args)
        return self.features


@pytest.mark.parametrize("meta_gradient", ["double_backward", "jvp", "auto"])
@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_rescaler_meta_gradient_matches_finite_differences(kind, meta_gradient):
    net, (X, Y) = _tiny_net(kind, meta_gradient=meta_gradient)
    train, meta = _Replay(net.train_memory_), _Replay(net.meta_memory_)

    def step():
        net.train_memory_, net.meta_memory_ = train, meta
        return net.meta_gradients(X[:6], Y[:6], X[6:], Y[6:])

    def meta_loss():
        return step()["meta"].item()

    params = list(net.rescaler_.parameters())
    grads = step()["rescaler_grads"]
    eps = 1e-6
    for p, g in zip(params, grads):
        flat, gflat = p.data.view(-1), g.reshape(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 7)):
            old = flat[i].item()
            flat[i] = old + eps
            up = meta_loss()
            flat[i] = old - eps
            down = meta_loss()
            flat[i] = old
            assert gflat[i].item() == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-9)
    # The meta gradient must flow through the look-ahead step as well as through
    # the meta batch's own weights: with alpha = 0 only the latter remains.
    net.lookahead_lr = 0.0
    outer_only = step()["rescaler_grads"]
    assert not all(torch.allclose(a, b) for a, b in zip(grads, outer_only))


def test_jvp_meta_gradient_equals_double_backward_with_dropout():
    """Forward mode replays pass 1's dropout masks: both modes agree exactly."""
    results = []
    for meta_gradient in ["double_backward", "jvp"]:
        net, (X, Y) = _tiny_net(dropout=0.5, meta_gradient=meta_gradient)
        torch.manual_seed(1)
        step = net.meta_gradients(X[:6], Y[:6], X[6:], Y[6:])
        results.append((step, torch.get_rng_state()))
    (exact, rng_exact), (jvp, rng_jvp) = results
    for a, b in zip(exact["rescaler_grads"], jvp["rescaler_grads"]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    for a, b in zip(exact["grads"], jvp["grads"]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # The replay leaves the random stream where the exact mode leaves it.
    assert torch.equal(rng_exact, rng_jvp)
    assert exact["rescaler_grads"][0].abs().sum() > 0


def test_training_step_sets_weighted_model_gradient_and_steps_both_optimizers():
    net, (X, Y) = _tiny_net(dtype=torch.float32)
    net.train_data_ = net.meta_data_ = DeviceDataset(X.numpy(), Y.numpy(), np.ones(len(X)),
                                                     "cpu")
    net.meta_generator_ = torch.Generator().manual_seed(0)
    net.epoch_weights_ = torch.full((12, 1), float("nan"))
    net.n_train_steps_ = 0
    batch = net.train_data_.take(torch.arange(6))
    before = [p.detach().clone() for p in net.rescaler_.parameters()]
    module_before = [p.detach().clone() for p in net.module_.parameters()]
    net.train_step(batch)
    weights = net.epoch_weights_[:6]
    assert torch.isfinite(weights).all() and torch.isnan(net.epoch_weights_[6:]).all()
    # The model moved by -lr * grad of the weighted loss at the old parameters.
    manual = MLPNetwork(4, 3, (5,))
    for p, old in zip(manual.parameters(), module_before):
        p.data.copy_(old)
    loss = net.criterion_.unit_losses(manual(X[:6]), net.criterion_.target(Y[:6]))
    (weights * loss).sum(1).mean().backward()
    for p, m in zip(net.module_.parameters(), manual.parameters()):
        torch.testing.assert_close(p.detach(), m.detach() - 0.1 * m.grad)
    # The rescaler took one Adam step (lr 1e-2) from its gradients, whatever
    # their memory layout (a fused kernel once misread a transposed one).
    reference = [old.clone().requires_grad_() for old in before]
    for r, p in zip(reference, net.rescaler_.parameters()):
        r.grad = p.grad.clone()
    torch.optim.Adam(reference, lr=1e-2, foreach=False).step()
    for r, p in zip(reference, net.rescaler_.parameters()):
        torch.testing.assert_close(p.detach(), r.detach())
    assert any(not torch.equal(a, b) for a, b in zip(before, net.rescaler_.parameters()))


def test_meta_batch_is_capped_at_the_number_of_rows():
    net, (X, Y) = _tiny_net(dtype=torch.float32)
    net.batch_size = 64
    net.train_data_ = net.meta_data_ = DeviceDataset(X.numpy(), Y.numpy(), np.ones(len(X)),
                                                     "cpu")
    net.meta_generator_ = torch.Generator().manual_seed(0)
    Xv, Yv = net._meta_batch()
    assert Xv.shape == (12, 4) and Yv.shape == (12, 3)
    clf = NoisyLabelRescaledClassifier(batch_size=64, max_epochs=1, random_state=0)
    assert clf.fit(X.numpy(), Y.numpy().argmax(1)).sample_weights_.shape == (12,)


# --------------------------------------------------------------------------- #
# behaviour on data
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def noisy_digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    y_noisy, is_noisy = inject_label_noise(y_tr, 0.4, random_state=0)
    return scaler.transform(X_tr), scaler.transform(X_te), y_noisy, is_noisy, y_te


def _plain_cross_entropy_accuracy(X, y, X_test, y_test, epochs, seed=0):
    """The same MLP, optimizer and batches with unweighted cross-entropy."""
    torch.manual_seed(seed)
    model = MLPNetwork(X.shape[1], 10, (256,), dropout=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=generator).split(32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            optimizer.step()
    with torch.no_grad():
        pred = model.eval()(torch.tensor(X_test, dtype=torch.float32)).argmax(1).numpy()
    return (pred == y_test).mean()


def test_digits_40pct_noise_weights_find_flips_and_beat_cross_entropy(noisy_digits):
    X_tr, X_te, y_noisy, is_noisy, y_te = noisy_digits
    clf = NoisyLabelRescaledClassifier(max_epochs=10, random_state=0).fit(X_tr, y_noisy)
    w = clf.sample_weights_
    assert w.shape == (len(y_noisy),) and np.isfinite(w).all()
    assert ((w > 0) & (w < 1)).all() and w.dtype == np.float32
    assert roc_auc_score(~is_noisy, w) > 0.85
    assert w[is_noisy].mean() < 0.3 < 0.5 < w[~is_noisy].mean()
    # Averaged over the epochs the weights rank the flips at least as well.
    mean = clf.sample_weight_mean_
    assert mean.shape == w.shape and mean.dtype == np.float32
    assert roc_auc_score(~is_noisy, mean) > roc_auc_score(~is_noisy, w) - 0.02
    plain = _plain_cross_entropy_accuracy(X_tr, y_noisy, X_te, y_te, epochs=10)
    assert clf.score(X_te, y_te) > plain + 0.01
    issues = clf.label_issues_
    assert "label_issues_" not in vars(clf)  # built when read, not stored
    flagged = issues["is_label_issue"].to_numpy()
    # Low mean weight and a disagreeing prediction: nearly only flips, and most
    # of them (the weight < 0.5 alone flags about half of all rows).
    assert is_noisy[flagged].mean() > 0.9 and flagged[is_noisy].mean() > 0.8
    np.testing.assert_array_equal(issues["given_label"], y_noisy)
    np.testing.assert_array_equal(issues["label_quality"], mean)
    np.testing.assert_array_equal(issues["predicted_label"], clf.predict(X_tr))
    np.testing.assert_array_equal(
        flagged, (mean < 0.5) & (issues["predicted_label"] != y_noisy).to_numpy())
    np.testing.assert_allclose(clf.predict_proba(X_te[:5]).sum(1), 1.0)


def test_label_issues_flag_few_rows_of_clean_labels(noisy_digits):
    X_tr, _, _, _, _ = noisy_digits
    _, y_tr = load_digits(return_X_y=True)
    y_clean = train_test_split(y_tr, test_size=0.3, stratify=y_tr, random_state=0)[0]
    clf = NoisyLabelRescaledClassifier(max_epochs=5, random_state=0).fit(X_tr, y_clean)
    # Half the weights are below 0.5 by construction (batch norm); the flag
    # also needs the model to disagree with the label.
    assert (clf.sample_weight_mean_ < 0.5).mean() > 0.3
    assert clf.label_issues_["is_label_issue"].mean() < 0.03


def test_meta_interval_takes_a_meta_step_on_every_kth_step_and_still_finds_flips(
        noisy_digits):
    X_tr, X_te, y_noisy, is_noisy, y_te = noisy_digits
    clf = NoisyLabelRescaledClassifier(max_epochs=10, meta_interval=2, random_state=0)
    clf.fit(X_tr, y_noisy)
    n_steps = 10 * -(-len(y_noisy) // 32)
    model_state = clf.net_.optimizer_.state[next(clf.net_.module_.parameters())]
    rescaler_state = clf.net_.rescaler_optimizer_.state[next(clf.rescaler_.parameters())]
    assert int(model_state["step"]) == n_steps
    assert int(rescaler_state["step"]) == -(-n_steps // 2)
    # Half the meta steps in 10 epochs: over seeds 0-2 the weights' ROC-AUC is
    # 0.85-0.89 and accuracy 1.5-3 points above plain cross-entropy (0.915), so
    # the bounds leave room for float rounding, which moves accuracy by a point.
    assert roc_auc_score(~is_noisy, clf.sample_weights_) > 0.8
    plain = _plain_cross_entropy_accuracy(X_tr, y_noisy, X_te, y_te, epochs=10)
    assert clf.score(X_te, y_te) > plain


def test_multilabel_entry_weights_rank_flipped_entries_lower():
    X, Y = make_multilabel_classification(
        n_samples=600, n_features=20, n_classes=5, n_labels=2, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    Y_noisy, is_noisy = inject_label_noise(Y, (0.2, 0.05), kind="multilabel", random_state=0)
    clf = NoisyLabelRescaledClassifier(max_epochs=20, random_state=0)
    clf.fit(sp.csr_matrix(X), Y_noisy)
    assert clf.sample_weights_.shape == Y.shape
    assert roc_auc_score(~is_noisy.ravel(), clf.sample_weights_.ravel()) > 0.6
    issues = clf.label_issues_
    assert len(issues) == Y.size
    np.testing.assert_array_equal(issues["given_label"], Y_noisy.ravel())
    np.testing.assert_array_equal(issues["label_quality"], clf.sample_weight_mean_.ravel())
    disagrees = issues["given_label"] != issues["predicted_label"]
    np.testing.assert_array_equal(issues["is_label_issue"],
                                  (issues["label_quality"] < 0.5) & disagrees)
    assert clf.predict(X).shape == Y.shape
    per_row = NoisyLabelRescaledClassifier(
        max_epochs=1, weight_granularity="sample", random_state=0
    ).fit(X, Y_noisy)
    assert per_row.sample_weights_.shape == (len(X),)


def test_binary_target_and_user_module_without_dropout():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = NoisyLabelRescaledClassifier(
        module=torch.nn.Linear(5, 1), max_epochs=10, lr=1e-2, random_state=0
    ).fit(X, y)
    assert clf.net_.input_dropout_ == pytest.approx(0.1)  # passes must differ
    assert np.isfinite(clf.sample_weights_).all()
    assert clf.score(X, y) > 0.85
    assert set(clf.predict(X)) <= {"yes", "no"}


@pytest.mark.parametrize("meta_gradient", ["double_backward", "jvp"])
def test_user_module_with_batch_norm_trains_and_updates_statistics_once_per_step(
        meta_gradient):
    """Batch norm saves its running statistics for backward: the extra and
    look-ahead passes must leave them alone without writing them in place
    (autograd refused that), and only pass 1 updates them, once a step."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)  # 3 classes, majority 0.5
    torch.manual_seed(0)  # the module's initial weights
    module = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16),
                                 torch.nn.ReLU(), torch.nn.Linear(16, 3))
    epochs = 10 if meta_gradient == "double_backward" else 1
    clf = NoisyLabelRescaledClassifier(module=module, max_epochs=epochs, lr=1e-2,
                                       meta_gradient=meta_gradient, random_state=0)
    clf.fit(X[:200], y[:200])
    assert int(clf.net_.module_[1].num_batches_tracked) == epochs * 7  # 7 batches of 200
    if epochs > 1:
        assert clf.score(X[200:], y[200:]) > 0.7


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
def test_errors_are_clear():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NotFittedError):
        NoisyLabelRescaledClassifier().predict(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        NoisyLabelRescaledClassifier(max_epochs=1).fit(X, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="n_forward_passes"):
        NoisyLabelRescaledClassifier(n_forward_passes=1).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="weight_normalization"):
        NoisyLabelRescaledClassifier(weight_normalization="rows").fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="meta_gradient"):
        NoisyLabelRescaledClassifier(meta_gradient="forward").fit(X, np.arange(20) % 2)
    with pytest.raises(TypeError, match="sample_weight"):
        NoisyLabelRescaledClassifier().fit(X, np.arange(20) % 2, sample_weight=np.ones(20))
    # A lone row normalises to weight 0.5: STORM would silently be off.
    with pytest.raises(ValueError, match="batch_size"):
        NoisyLabelRescaledClassifier(batch_size=1).fit(X, np.arange(20) % 2)
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        NoisyLabelRescaledClassifier(optimizer=torch.optim.LBFGS, max_epochs=1).fit(
            X, np.arange(20) % 2)
    assert not hasattr(NoisyLabelRescaledClassifier(), "label_issues_")


def test_metadata_routing_does_not_offer_sample_weight_to_fit():
    """fit takes no sample_weight, so routing must neither offer nor pass one."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    with sklearn.config_context(enable_metadata_routing=True):
        clf = NoisyLabelRescaledClassifier(max_epochs=1, random_state=0)
        assert "sample_weight" not in clf.get_metadata_routing().fit.requests
        with pytest.raises(TypeError, match="sample_weight"):
            clf.set_fit_request(sample_weight=True)
        # A router given sample weights finds no consumer for them in fit...
        with pytest.raises(ValueError, match="sample_weight"):
            cross_validate(clf, X, y, cv=2, params={"sample_weight": np.ones(40)})
        # ...and fits without them when none are given.
        assert cross_validate(clf, X, y, cv=2)["test_score"].shape == (2,)


def test_a_warm_refit_takes_the_current_learning_rates():
    X, y = load_digits(return_X_y=True)
    clf = NoisyLabelRescaledClassifier(max_epochs=1, warm_start=True, random_state=0)
    clf.fit(X[:200], y[:200])
    state = clf.net_.rescaler_optimizer_.state[next(clf.rescaler_.parameters())]
    steps = int(state["step"])
    clf.set_params(lr=5e-3, rescaler_lr=0.05).fit(X[:200], y[:200])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == 5e-3
    assert clf.net_.rescaler_optimizer_.param_groups[0]["lr"] == 0.05
    # The rescaler's optimizer continued rather than restarted.
    assert int(state["step"]) == 2 * steps


# --------------------------------------------------------------------------- #
# settings around the step
# --------------------------------------------------------------------------- #
class _FirstLayerAtStart(Callback):
    def on_train_begin(self, net, **kwargs):
        self.weight = net.module_.body[0].weight.detach().clone()


@pytest.mark.parametrize("meta_gradient", ["auto", "double_backward", "jvp"])
def test_frozen_parameters_stay_where_they_are(meta_gradient):
    """skorch's Freezer: no gradient, no look-ahead move, no update."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:300])
    start = _FirstLayerAtStart()
    clf = NoisyLabelRescaledClassifier(
        max_epochs=2, meta_gradient=meta_gradient, random_state=0,
        callbacks=[("freeze", Freezer("body.0.*")), ("start", start)],
    ).fit(X, y[:300])
    module = clf.net_.module_
    assert torch.equal(module.body[0].weight, start.weight)
    assert module.body[0].weight.grad is None and module.out.weight.grad is not None
    assert np.isfinite(clf.sample_weights_).all()


def test_fit_inside_no_grad():
    """skorch's own step enables gradients in its closure; STORM's does too."""
    X, y = load_digits(return_X_y=True)
    with torch.no_grad():
        clf = NoisyLabelRescaledClassifier(max_epochs=1, random_state=0).fit(X[:100], y[:100])
    assert np.isfinite(clf.sample_weights_).all()


def test_meta_batches_come_from_the_training_rows(monkeypatch):
    """Rows held out for early stopping never enter a meta batch."""
    X = np.random.default_rng(0).normal(size=(120, 5)).astype(np.float32)
    y = np.arange(120) % 3
    drawn = []
    meta_batch = StormNet._meta_batch

    def recording(net):
        Xv, Yv = meta_batch(net)
        drawn.append(Xv.numpy().copy())
        return Xv, Yv

    monkeypatch.setattr(StormNet, "_meta_batch", recording)
    clf = NoisyLabelRescaledClassifier(max_epochs=2, early_stopping=True,
                                       validation_fraction=0.25, random_state=0).fit(X, y)
    held_out = np.isnan(clf.sample_weights_)
    assert held_out.sum() == 30
    drawn_rows = {row.tobytes() for batch in drawn for row in batch}
    assert not drawn_rows & {row.tobytes() for row in X[held_out]}
    assert len(drawn_rows) > 60


def test_without_dropout_the_extra_passes_still_differ(monkeypatch):
    """dropout=0: the extra passes take input dropout (the spec's 0.1)."""
    spreads = []
    featurize = FeatureMemory.featurize

    def recording(memory, loss, *args):
        spreads.append(float(loss.std(0).max()))
        return featurize(memory, loss, *args)

    monkeypatch.setattr(FeatureMemory, "featurize", recording)
    X, y = load_digits(return_X_y=True)
    NoisyLabelRescaledClassifier(dropout=0.0, max_epochs=1, random_state=0).fit(X[:100],
                                                                               y[:100])
    assert min(spreads) > 0
