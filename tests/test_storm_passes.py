"""STORM's dropout passes on the default network share its deterministic trunk."""

import numpy as np
import pytest
import torch

from sklearn_losses._storm._meta import StormCriterion, StormNet
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
