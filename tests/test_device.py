"""Device hygiene without a GPU: every torch loss and network runs on torch's
"meta" device, which fails on any tensor created on the CPU by default and on
any host round trip (``.item()``, ``.numpy()``). Code that passes here creates
its tensors on the input's device, as CUDA needs."""

import numpy as np
import pytest
import torch

from sklearn_losses.losses import (
    HybridMultiLabelLoss,
    PUMLCLoss,
    correlation_alignment_loss,
    jaccard_supcon_loss,
    weighted_bce,
)
from sklearn_losses.networks import MLPNetwork, MultiLabelMLP, StackedViewBiLSTM

META = torch.device("meta")


def _meta(*shape):
    return torch.empty(*shape, device=META)


def test_hybrid_loss_terms_stay_on_the_input_device():
    logits, y, z = _meta(8, 3), _meta(8, 3), _meta(8, 5)
    assert weighted_bce(logits, y, weight=_meta(8)).device == META
    assert correlation_alignment_loss(logits, _meta(3, 3)).device == META
    assert jaccard_supcon_loss(z, y).device == META
    loss = HybridMultiLabelLoss.from_labels(np.eye(3, dtype=int)).to(META)
    assert loss((logits, z), y, weight=_meta(8)).device == META


def test_pu_loss_stays_on_the_input_device():
    out = PUMLCLoss()(_meta(8, 3), _meta(8, 3), weight=_meta(8))
    assert out.device == META


@pytest.mark.parametrize(
    "network",
    [
        MLPNetwork(6, 3),
        MultiLabelMLP(6, 3, hidden_layer_sizes=(8,)),
        StackedViewBiLSTM([2, 4], 3, hidden_layer_sizes=(8,)),
    ],
    ids=type,
)
def test_networks_run_on_the_meta_device(network):
    output = network.to(META)(_meta(5, 6))
    logits = output[0] if isinstance(output, tuple) else output
    assert logits.device == META and logits.shape == (5, 3)
