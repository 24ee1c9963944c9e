"""STORM's loss rescaler against slow references, one net and group at a time."""

import pytest
import torch
import torch.nn.functional as F

from sklearn_losses._storm._rescaler import LossRescalerNetwork


def _unit_groups(shape, bn):
    """Batch-norm group of each unit, as the rescaler documents them."""
    if bn is not None:
        return bn.reshape(-1)
    if len(shape) == 2:  # a grid: each column of units on its own
        return torch.arange(shape[1]).repeat(shape[0])
    return torch.zeros(shape[0], dtype=torch.long)  # the whole batch


def _reference(rescaler, features, nets, bn=None):
    """Each unit's weight from its own net, run with plain linear layers and
    ``F.batch_norm`` on the rows of its group only."""
    shape = features.shape[:-1]
    groups, nets = _unit_groups(shape, bn), nets.reshape(-1)
    features = features.reshape(-1, features.shape[-1])
    weights = []
    for i in range(len(features)):
        rows, c = (groups == groups[i]).nonzero()[:, 0], nets[i]
        if len(rows) < 2:
            weights.append(features.new_tensor(0.5))
            continue
        H = F.linear(features[rows], rescaler.hidden_weight[:, c].T, rescaler.hidden_bias[c])
        H = F.batch_norm(H, None, None, training=True, eps=1e-5).relu()
        H = F.linear(H, rescaler.out_weight[c].T, rescaler.out_bias[c])
        H = F.batch_norm(H, None, None, training=True, eps=1e-5)
        weights.append(torch.softmax(H, 1)[rows == i, 0][0])
    return torch.stack(weights).view(shape)


def _rescaler(n_nets, dtype=torch.float64):
    """A seeded rescaler with parameters far from their initial values:
    non-zero biases, which batch norm must cancel."""
    torch.manual_seed(0)
    rescaler = LossRescalerNetwork(n_nets=n_nets).to(dtype)
    with torch.no_grad():
        for p in rescaler.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return rescaler


def _case(mode, dtype=torch.float64):
    """Features, net ids, batch-norm ids and group count of each mode."""
    g = torch.Generator().manual_seed(1)
    if mode == "groups":  # batch-norm groups cut across the nets; group 3 is one row
        features = torch.randn(9, 19, generator=g, dtype=dtype) * 2 + 1
        nets = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1, 0])
        return features, nets, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3]), 4
    if mode == "many groups":  # more units than the dense averaging matrix takes
        features = torch.randn(70, 19, generator=g, dtype=dtype)
        nets = torch.randint(3, (70,), generator=g)
        return features, nets, torch.randint(5, (70,), generator=g), 6  # group 5 empty
    if mode == "grid columns":
        features = torch.randn(6, 4, 19, generator=g, dtype=dtype)
        return features, torch.randint(3, (6, 4), generator=g), None, None
    if mode == "whole batch":
        features = torch.randn(7, 19, generator=g, dtype=dtype)
        return features, torch.randint(3, (7,), generator=g), None, None
    assert mode == "lone rows"  # a grid of one row: nothing to normalise over
    features = torch.randn(1, 4, 19, generator=g, dtype=dtype)
    return features, torch.randint(3, (1, 4), generator=g), None, None


MODES = ["groups", "many groups", "grid columns", "whole batch", "lone rows"]


@pytest.mark.parametrize("mode", MODES)
def test_rescaler_weights_and_gradients_match_separate_networks(mode):
    rescaler = _rescaler(3)
    features, nets, bn, n_bn = _case(mode)
    w = rescaler(features, nets, bn, n_bn=n_bn)
    expected = _reference(rescaler, features, nets, bn)
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=1e-12)
    slopes = torch.randn(w.shape, dtype=w.dtype)
    params = list(rescaler.parameters())
    found = torch.autograd.grad(w, params, slopes)
    if expected.requires_grad:
        wanted = torch.autograd.grad(expected, params, slopes, allow_unused=True,
                                     materialize_grads=True)
    else:  # every unit alone: constant weights
        wanted = [torch.zeros_like(p) for p in params]
    for a, b in zip(found, wanted):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    if mode == "lone rows":
        assert (w == 0.5).all() and all((g == 0).all() for g in found)


@pytest.mark.parametrize("mode", MODES)
def test_rescaler_backward_matches_finite_differences_in_each_mode(mode):
    """The hand-written backward, features included, in float64."""
    rescaler = _rescaler(3)
    features, nets, bn, n_bn = _case(mode)
    features.requires_grad_()
    names = [name for name, _ in rescaler.named_parameters()]

    def weights(features, *params):
        return torch.func.functional_call(rescaler, dict(zip(names, params)),
                                          (features, nets, bn), {"n_bn": n_bn})

    params = [p.detach().requires_grad_() for p in rescaler.parameters()]
    # With 70 units, a random projection of the Jacobian keeps the test fast.
    assert torch.autograd.gradcheck(weights, (features, *params), fast_mode=mode == "many groups")


@pytest.mark.parametrize("mode", ["groups", "many groups", "grid columns"])
def test_rescaler_float32_matches_float64_reference(mode):
    rescaler = _rescaler(3, torch.float32)
    features, nets, bn, n_bn = _case(mode, torch.float32)
    w = rescaler(features, nets, bn, n_bn=n_bn)
    expected = _reference(rescaler.double(), features.double(), nets, bn)
    torch.testing.assert_close(w, expected.float(), rtol=0, atol=2e-6)


def test_rescaler_reads_the_group_count_from_the_ids():
    rescaler = _rescaler(3)
    for mode in ["groups", "many groups"]:
        features, nets, bn, n_bn = _case(mode)
        torch.testing.assert_close(rescaler(features, nets, bn),
                                   rescaler(features, nets, bn, n_bn=n_bn))


def test_rescaler_bias_gradients_are_zero_and_weights_ignore_biases():
    """Batch norm removes any constant per column: the biases change nothing."""
    rescaler = _rescaler(2)
    features, nets, bn, n_bn = _case("groups")
    nets = nets % 2
    w = rescaler(features, nets, bn, n_bn=n_bn)
    grads = torch.autograd.grad(w.sum(), [rescaler.hidden_bias, rescaler.out_bias])
    assert all((g == 0).all() for g in grads)
    with torch.no_grad():
        rescaler.hidden_bias.zero_()
        rescaler.out_bias.zero_()
    torch.testing.assert_close(rescaler(features, nets, bn, n_bn=n_bn), w)


def test_rescaler_seed_gives_the_same_initial_nets_as_before():
    """Parameters recorded from the rescaler before its fused rewrite: a seed
    must give the same nets, drawn net by net."""
    torch.manual_seed(0)
    rescaler = LossRescalerNetwork(n_nets=3)
    shapes = {name: tuple(p.shape) for name, p in rescaler.named_parameters()}
    assert shapes == {"hidden_weight": (19, 3, 19), "hidden_bias": (3, 19),
                      "out_weight": (3, 19, 2), "out_bias": (3, 2)}
    recorded = {
        (0, 0, 0): -0.022516796365380287, (0, 0, 1): -0.023047203198075294,
        (0, 1, 2): -0.019402768462896347, (5, 2, 7): 0.007526938803493977,
    }
    for index, value in recorded.items():
        assert rescaler.hidden_weight[index].item() == value
    assert rescaler.out_weight[0, 0, 0].item() == 0.019514989107847214
    assert rescaler.out_weight[2, 18, 1].item() == -0.03952828422188759
    assert rescaler.hidden_weight.sum().item() == pytest.approx(0.6564080715179443, abs=1e-6)
    assert rescaler.out_weight.sum().item() == pytest.approx(0.010053977370262146, abs=1e-6)
    assert not rescaler.hidden_bias.any() and not rescaler.out_bias.any()
    # Loading a state dict gives the same weights.
    copy = LossRescalerNetwork(n_nets=3)
    copy.load_state_dict(rescaler.state_dict())
    features, nets = torch.randn(5, 19), torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(copy(features, nets), rescaler(features, nets))
