"""STORM's dropout passes on the default network: the shared trunk, and the
closed-form step against autograd."""

import numpy as np
import pytest
import torch

from sklearn_losses._storm._meta import StormCriterion, StormNet
from sklearn_losses._storm._mlp import MLPPasses
from sklearn_losses.networks import MLPNetwork


def _net(hidden_layer_sizes):
    torch.manual_seed(0)
    criterion = StormCriterion("multiclass", 3)
    net = StormNet(
        MLPNetwork(5, 3, hidden_layer_sizes, dropout=0.3), criterion, n_forward_passes=4,
        max_epochs=1, batch_size=8, train_split=None,
    ).initialize()
    net.prepare_step()
    X = torch.tensor(np.random.default_rng(0).normal(size=(8, 5)), dtype=torch.float32)
    return net, X


def _passes(net, X, shared, params=None):
    """Pass 1's logits, its gradients and the extra passes' logits, seeded."""
    net.trunk_head_ = net.module_.split_at_dropout() if shared else None
    torch.manual_seed(7)
    if params is None:
        logits, extra = net._run_passes(X, look_ahead=False)
        wrt = list(net.module_.parameters())
    else:
        with net.parameter_slots_.replaced(params):
            logits, extra = net._run_passes(X, look_ahead=True)
        wrt = list(params.values())
    grads = torch.autograd.grad(logits.square().sum(), wrt)
    return logits, grads, extra, torch.get_rng_state()


@pytest.mark.parametrize("hidden_layer_sizes", [(16,), (16, 12)])
@pytest.mark.parametrize("look_ahead", [False, True])
def test_shared_trunk_gives_the_separate_passes_exactly(hidden_layer_sizes, look_ahead):
    net, X = _net(hidden_layer_sizes)
    params = None
    if look_ahead:
        gen = torch.Generator().manual_seed(1)
        params = {name: (p + 0.1 * torch.randn(p.shape, generator=gen)).requires_grad_()
                  for name, p in net.module_.named_parameters()}
    logits, grads, extra, rng = _passes(net, X, shared=False, params=params)
    s_logits, s_grads, s_extra, s_rng = _passes(net, X, shared=True, params=params)
    assert extra.shape == (3 * 8, 3)
    assert torch.equal(s_logits, logits) and torch.equal(s_extra, extra)
    for a, b in zip(s_grads, grads):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert torch.equal(s_rng, rng)
    # The extra passes drew their own masks: they differ from pass 1.
    assert not torch.equal(extra[:8], logits)
    assert not s_extra.requires_grad


def test_split_only_for_the_default_network_with_dropout():
    assert MLPNetwork(5, 3, (4,)).split_at_dropout() is None
    net = MLPNetwork(5, 3, (4, 6), dropout=0.2)
    trunk, head = net.split_at_dropout()
    assert len(trunk) == 2 and len(head) == 5
    assert head[-1] is net.out and trunk[0] is net.body[0]


# --------------------------------------------------------------------------- #
# the closed-form step of the default network (meta_gradient="auto")
# --------------------------------------------------------------------------- #
KINDS = [("multiclass", "sample", 3), ("multilabel", "label", 3),
         ("multilabel", "sample", 3), ("binary", "sample", 1)]


def _meta_net(kind, granularity, n_outputs, hidden, dropout, meta_gradient, rescaling=True):
    """A float64 StormNet on 12 rows of 4 features and its data."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(12, 4)))
    if kind == "multiclass":
        Y = torch.eye(n_outputs, dtype=torch.float64)[np.arange(12) % n_outputs]
    else:
        Y = torch.tensor((rng.random((12, n_outputs)) < 0.5).astype(float))
    criterion = StormCriterion(kind, n_outputs, granularity=granularity,
                               normalization="batch")
    net = StormNet(
        MLPNetwork(4, n_outputs, hidden, dropout=dropout), criterion, lookahead_lr=0.5,
        extra_pass_dropout=0.2, memory_size=4, max_epochs=1, batch_size=6, train_split=None,
        optimizer=torch.optim.SGD, lr=0.1, meta_gradient=meta_gradient,
        meta_loss_rescaling=rescaling,
    ).initialize()
    net.module_.double()
    net.rescaler_.double()
    net.prepare_step()
    net.reset_memories()
    return net, X, Y


def _steps(net, X, Y, method="meta_gradients"):
    """Three seeded steps (the feature memories fill up), and the RNG state."""
    steps = []
    for seed in range(3):
        torch.manual_seed(10 + seed)
        if method == "meta_gradients":
            steps.append(net.meta_gradients(X[:6], Y[:6], X[6:], Y[6:]))
        else:
            steps.append(net.weighted_gradients(X[:6], Y[:6]))
    return steps, torch.get_rng_state()


# One hidden layer of a width divisible by 4 draws the same masks in both
# paths; a deeper network without dropout takes input dropout in its extra passes.
@pytest.mark.parametrize("hidden, dropout", [((), 0.0), ((8,), 0.5), ((8, 12), 0.0)])
@pytest.mark.parametrize("kind, granularity, n_outputs", KINDS)
@pytest.mark.parametrize("rescaling", [True, False])
def test_closed_form_step_equals_double_backward(kind, granularity, n_outputs, hidden,
                                                 dropout, rescaling):
    runs = []
    for meta_gradient in ["double_backward", "auto"]:
        net, X, Y = _meta_net(kind, granularity, n_outputs, hidden, dropout, meta_gradient,
                              rescaling)
        assert (net.closed_form_ is not None) == (meta_gradient == "auto")
        runs.append(_steps(net, X, Y))
    (exact, rng_exact), (closed, rng_closed) = runs
    for a, b in zip(exact, closed):
        for x, y in zip([*a["rescaler_grads"], *a["grads"]], [*b["rescaler_grads"], *b["grads"]]):
            torch.testing.assert_close(y, x.detach(), rtol=1e-10, atol=1e-12)
        for key in ["logits", "weights", "inner", "meta"]:
            torch.testing.assert_close(b[key], a[key].detach(), rtol=1e-10, atol=1e-12)
    assert sum(float(g.abs().sum()) for g in closed[-1]["rescaler_grads"]) > 0
    # Both drew the same random numbers: the masks were the same.
    assert torch.equal(rng_exact, rng_closed)


@pytest.mark.parametrize("kind, granularity, n_outputs", KINDS[:2])
def test_closed_form_weighted_step_equals_autograd(kind, granularity, n_outputs):
    """The steps between meta steps (``meta_interval``)."""
    runs = [_steps(_meta_net(kind, granularity, n_outputs, (8,), 0.5, meta_gradient)[0],
                   *_meta_net(kind, granularity, n_outputs, (8,), 0.5, meta_gradient)[1:],
                   method="weighted_gradients")
            for meta_gradient in ["double_backward", "auto"]]
    for a, b in zip(runs[0][0], runs[1][0]):
        for x, y in zip(a["grads"], b["grads"]):
            torch.testing.assert_close(y, x, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(b["weights"], a["weights"])


@pytest.mark.parametrize("hidden", [(5,), (5, 6), (8, 12, 4)])
def test_closed_form_gradients_and_slopes_match_autograd(hidden):
    """Any depth and width: the record's gates replayed in an autograd forward."""
    torch.manual_seed(0)
    module = MLPNetwork(4, 3, hidden, dropout=0.3).double()
    passes = MLPPasses(module)
    params = [p.detach() for p in module.parameters()]
    X = torch.randn(7, 4, dtype=torch.float64)
    logits, record = passes.run(params, X, 3)
    assert logits.shape == (21, 3)

    def forward(*ps):
        A = X
        for layer in range(len(ps) // 2):
            Z = A @ ps[2 * layer].T + ps[2 * layer + 1]
            if layer < len(ps) // 2 - 1:
                A = Z.relu() * record.gates[layer]
        return Z

    torch.testing.assert_close(forward(*params), logits[:7])
    grad_logits = torch.randn(7, 3, dtype=torch.float64)
    leaves = [p.clone().requires_grad_() for p in params]
    expected = torch.autograd.grad((forward(*leaves) * grad_logits).sum(), leaves)
    for got, want in zip(passes.gradients(params, record, grad_logits), expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # The tangent as the double-vjp: the derivative in u of <J^T u, direction>.
    direction = [torch.randn_like(p) for p in params]
    u = torch.zeros(7, 3, dtype=torch.float64, requires_grad=True)
    vjp = torch.autograd.grad((forward(*leaves) * u).sum(), leaves, create_graph=True)
    expected_tangent, = torch.autograd.grad(sum((g * d).sum() for g, d in zip(vjp, direction)),
                                            u)
    torch.testing.assert_close(passes.slopes(params, record, direction), expected_tangent,
                               rtol=1e-12, atol=1e-12)
    # Each pass drew its own masks.
    assert not torch.equal(logits[:7], logits[7:14])


def test_closed_form_passes_draw_the_networks_own_masks():
    torch.manual_seed(0)
    module = MLPNetwork(4, 3, (8,), dropout=0.5)
    X = torch.randn(6, 4)
    torch.manual_seed(3)
    logits, _ = MLPPasses(module).run([p.detach() for p in module.parameters()], X, 3)
    torch.manual_seed(3)
    with torch.no_grad():
        expected = [module(X), module(X), module(X)]
    torch.testing.assert_close(logits, torch.cat(expected))


def test_closed_form_only_for_the_default_network_under_auto():
    criterion = StormCriterion("multiclass", 3)
    for module, meta_gradient, closed in [
        (MLPNetwork(5, 3, (4,)), "auto", True),
        (MLPNetwork(5, 3, (4,)), "jvp", False),
        (torch.nn.Linear(5, 3), "auto", False),
    ]:
        net = StormNet(module, criterion, meta_gradient=meta_gradient, train_split=None,
                       max_epochs=1).initialize()
        net.prepare_step()
        assert (net.closed_form_ is not None) == closed


def test_closed_form_masks_off_the_fast_path_keep_the_dropout_rate():
    """Other devices and dtypes draw masks with ``bernoulli_`` (checked here on
    bfloat16): 0 or 1 / keep, each element kept with probability keep."""
    passes = MLPPasses(MLPNetwork(4, 3, (8,), dropout=0.25))
    torch.manual_seed(0)
    mask = passes._mask(torch.ones(200, 100, dtype=torch.bfloat16).expand(3, 200, 100))
    assert mask.shape == (3, 200, 100)
    values = torch.unique(mask.float())
    torch.testing.assert_close(values, torch.tensor([0.0, 1 / 0.75]), rtol=1e-2, atol=0)
    # 60,000 draws: the kept share is within 5 standard deviations of 0.75.
    assert abs(float((mask > 0).float().mean()) - 0.75) < 5 * (0.75 * 0.25 / 60_000) ** 0.5


def test_frozen_layer_closed_form_equals_double_backward():
    """Frozen parameters get zero gradients and stay put in the look-ahead."""
    runs = []
    for meta_gradient in ["double_backward", "auto"]:
        net, X, Y = _meta_net(*KINDS[0], (8,), 0.5, meta_gradient)
        net.module_.body[0].requires_grad_(False)
        runs.append(_steps(net, X, Y))
    (exact, _), (closed, _) = runs
    for a, b in zip(exact, closed):
        for x, y in zip([*a["rescaler_grads"], *a["grads"]], [*b["rescaler_grads"], *b["grads"]]):
            torch.testing.assert_close(y, x.detach(), rtol=1e-10, atol=1e-12)
    last = closed[-1]["grads"]
    assert not last[0].any() and not last[1].any() and last[2].any()
