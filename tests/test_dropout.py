"""The engine's CPU dropout layer (``sklearn_losses._engine._network.Dropout``)."""

import copy
import io
import pickle

import pytest
import torch
from torch import nn

from sklearn_losses._engine._network import Dropout, hidden_stack
from sklearn_losses.networks import MLPNetwork


def _kept_fraction(p):
    """The keep probability after rounding ``p`` to a multiple of 1/65536."""
    return round((1 - p) * 65536) / 65536


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1 / 3])
def test_keep_rate_within_binomial_band_and_kept_values_rescaled_exactly(p):
    torch.manual_seed(0)
    x = torch.rand(301, 997) + 0.5  # odd size: not a multiple of four draws
    y = Dropout(p)(x)
    kept = y != 0
    q = _kept_fraction(p)
    n = x.numel()
    assert abs(kept.sum().item() - n * q) < 5 * (n * q * (1 - q)) ** 0.5
    torch.testing.assert_close(y[kept], x[kept] * (1 / q), rtol=1e-6, atol=0)


def test_expected_output_equals_input():
    torch.manual_seed(0)
    x = torch.linspace(-2, 3, 64, dtype=torch.float64)
    layer = Dropout(0.3)
    mean = torch.stack([layer(x) for _ in range(20000)]).mean(0)
    # Each entry: mean of 20000 draws of x * Bernoulli(q) / q; 5 sigma band.
    q = _kept_fraction(0.3)
    band = 5 * x.abs() * ((1 - q) / q / 20000) ** 0.5
    assert ((mean - x).abs() <= band + 1e-12).all()


def test_masks_follow_torch_manual_seed_and_differ_between_calls():
    layer, x = Dropout(0.5), torch.ones(8, 64)
    torch.manual_seed(3)
    first, second = layer(x), layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first)
    assert torch.equal(layer(x), second)
    assert not torch.equal(first, second)


def test_masks_of_rows_and_pieces_are_independent():
    """Neighbouring elements share one 64-bit draw; their masks must not agree
    more often than independent ones would."""
    torch.manual_seed(0)
    kept = (Dropout(0.5)(torch.ones(4000, 4)) != 0).double()
    corr = torch.corrcoef(kept.T)
    assert (corr - torch.eye(4)).abs().max() < 0.08


def test_identity_in_eval_mode_and_at_p_zero_zeros_at_p_one():
    x = torch.randn(5, 7)
    assert torch.equal(Dropout(0.4).eval()(x), x)
    assert torch.equal(Dropout(0.0)(x), x)
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_falls_back_to_torch_dropout(dtype):
    x = torch.ones(50, 50, dtype=dtype)
    torch.manual_seed(1)
    ours = Dropout(0.2)(x)
    torch.manual_seed(1)
    assert ours.dtype == dtype
    assert torch.equal(ours, nn.functional.dropout(x, 0.2))


def test_other_devices_fall_back_to_torch_dropout():
    # The meta device stands in for an accelerator: the CPU mask would not mix.
    y = Dropout(0.2)(torch.ones(4, 6, device="meta"))
    assert y.device.type == "meta" and y.shape == (4, 6)


def test_inplace_multiplies_the_input():
    x = torch.ones(20, 30)
    y = Dropout(0.5, inplace=True)(x)
    assert y is x and (x == 0).any()


def test_twice_differentiable():
    layer = Dropout(0.4)
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)

    def seeded(x):
        torch.manual_seed(5)
        return layer(x) ** 2  # nonlinear, so the second derivative is not 0

    assert torch.autograd.gradcheck(seeded, (x,))
    assert torch.autograd.gradgradcheck(seeded, (x,))


def test_hidden_stack_uses_it_and_isinstance_checks_hold():
    body, _ = hidden_stack(3, (4, 5), 0.1)
    drops = [m for m in body if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(type(m) is Dropout for m in drops)
    assert drops[0].p == 0.1
    assert not any(isinstance(m, Dropout) for m in hidden_stack(3, (4,), 0.0)[0])


def test_pickle_and_deepcopy_keep_the_layer_and_its_masks():
    net = MLPNetwork(6, 2, (16,), dropout=0.5)
    x = torch.ones(4, 6)
    torch.manual_seed(2)
    expected = net(x)
    for copied in [pickle.loads(pickle.dumps(net)), copy.deepcopy(net)]:
        assert type(copied.body[2]) is Dropout
        torch.manual_seed(2)
        assert torch.equal(copied(x), expected)


def test_state_dict_of_a_network_with_torch_dropout_loads():
    old = nn.Module()
    old.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.1))
    old.out = nn.Linear(8, 2)
    buffer = io.BytesIO()
    torch.save(old.state_dict(), buffer)
    buffer.seek(0)
    net = MLPNetwork(6, 2, (8,), dropout=0.1)
    net.load_state_dict(torch.load(buffer))
    x = torch.randn(3, 6)
    torch.testing.assert_close(net.eval()(x), old.out(old.body.eval()(x)))
