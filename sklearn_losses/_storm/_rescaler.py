"""STORM's loss rescaler: per-class networks mapping sample features to weights."""

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ._features import N_FEATURES, one_hot

__all__ = ["LossRescalerNetwork"]

_BN_EPS = 1e-5


class _GroupNorm(torch.autograd.Function):
    """Batch norm without affine parameters, statistics per group of rows.

    ``members`` is the 0/1 membership matrix of the rows (one group each) and
    ``average`` is ``members.T`` with each group's row divided by its size.
    Autograd's own backward of the same expression takes three times as many
    operations; this one uses the batch-norm gradient
    ``dH = (dY - mean(dY) - Y * mean(dY * Y)) / sqrt(var + eps)``, with the
    means taken per group. The rescaler is differentiated once, so the
    backward need not be differentiable itself.
    """

    @staticmethod
    def forward(ctx, H, members, average):
        centred = H - members @ (average @ H)
        # Per group, then spread to the rows: the rsqrt runs on one row per group.
        scale = members @ torch.rsqrt(average @ centred.square() + _BN_EPS)
        out = centred * scale
        ctx.save_for_backward(out, scale, members, average)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        out, scale, members, average = ctx.saved_tensors
        # Group means of dY and dY * Y in one pair of products.
        means = members @ (average @ torch.cat([grad, grad * out], 1))
        mean_grad, mean_dot = means.split(grad.shape[1], 1)
        return torch.addcmul(grad - mean_grad, out, mean_dot, value=-1) * scale, None, None


def _group_norm(H, members, average):
    """:class:`_GroupNorm` with keywords (``Function.apply`` takes none)."""
    return _GroupNorm.apply(H, members, average)


def _column_norm(H, n_rows):
    """Batch norm without affine parameters over ``n_rows`` rows of units.

    ``H`` holds ``n_rows`` consecutive blocks of units (a unit per label, for
    instance); each unit's position in its block is a group of its own.
    """
    return F.batch_norm(H.view(n_rows, -1), None, None, training=True,
                        eps=_BN_EPS).view_as(H)


class LossRescalerNetwork(nn.Module):
    """STORM's loss rescaler: per-class networks mapping sample features to weights.

    Each net is ``Linear(19, 19) -> BN -> ReLU -> Linear(19, 2) -> BN -> softmax``
    with batch norm without affine parameters, always using the statistics of
    the current batch. The weight is the first softmax output. The output batch
    norm keeps the weights from collapsing to zero. All nets run as one
    batched matrix product; each unit takes its own net's output.

    Parameters
    ----------
    n_nets : int, default=1
        Number of networks (one per noisy class with class separation).
    n_features : int, default=19
        Width of the feature vectors.

    Examples
    --------
    >>> import torch
    >>> from sklearn_losses.networks import LossRescalerNetwork
    >>> rescaler = LossRescalerNetwork(n_nets=2)
    >>> features = torch.randn(6, 19)
    >>> nets = torch.tensor([0, 0, 0, 1, 1, 1])
    >>> w = rescaler(features, nets, bn_ids=nets)
    >>> w.shape, bool(((w > 0) & (w < 1)).all())
    (torch.Size([6]), True)
    """

    def __init__(self, n_nets=1, n_features=N_FEATURES):
        super().__init__()
        # The hidden layers of all nets side by side: one matrix product.
        # (Drawn net by net, so that a seed gives the nets it always gave.)
        hidden = torch.randn(n_nets, n_features, n_features) * 0.02
        self.hidden_weight = nn.Parameter(hidden.transpose(0, 1).contiguous())
        self.hidden_bias = nn.Parameter(torch.zeros(n_nets, n_features))
        self.out_weight = nn.Parameter(torch.randn(n_nets, n_features, 2) * 0.02)
        self.out_bias = nn.Parameter(torch.zeros(n_nets, 2))

    def forward(self, features, net_ids, bn_ids=None, n_bn=None):
        """Weights in (0, 1) for each unit.

        Parameters
        ----------
        features : Tensor of shape (n_units, n_features) or (n_rows, n_columns, n_features)
            The per-unit features built from the loss and confidence passes.
            In the 3-D form without ``bn_ids``, each column of units (each
            label, say) is normalised on its own.
        net_ids : LongTensor of shape (n_units,) or (n_rows, n_columns)
            Which network scores each unit.
        bn_ids : LongTensor of shape (n_units,), default=None
            Batch-norm groups; ``None`` normalises over all units (over all
            rows, per column, in the 3-D form). Units in a group of fewer
            than two get weight 0.5.
        n_bn : int, default=None
            Number of batch-norm groups; ``None`` reads it from ``bn_ids``
            (which synchronises with the device).

        Returns
        -------
        weights : Tensor of shape (n_units,) or (n_rows, n_columns)
            The loss weight of each unit.
        """
        shape = features.shape[:-1]
        features = features.reshape(-1, features.shape[-1])
        if bn_ids is None and shape[0] < 2:
            bn_ids, n_bn = torch.arange(features.shape[0], device=features.device), len(features)
        if bn_ids is None:
            normalize = functools.partial(_column_norm, n_rows=shape[0])
        else:
            bn_ids = bn_ids.reshape(-1)
            if n_bn is None:
                n_bn = int(bn_ids.max()) + 1 if bn_ids.numel() else 1
            members = one_hot(bn_ids, n_bn, features.dtype)
            counts = members.sum(0)
            normalize = functools.partial(
                _group_norm, members=members, average=members.T / counts.clamp(min=1)[:, None]
            )
        # Columns of H: (net, hidden unit); every net sees every row, and
        # batch norm treats each column on its own, as separate nets would.
        n_nets, width = self.hidden_bias.shape
        H = torch.addmm(self.hidden_bias.view(-1), features,
                        self.hidden_weight.view(features.shape[1], -1))
        H = F.relu(normalize(H)).view(-1, n_nets, width, 1)
        H = (H * self.out_weight).sum(2) + self.out_bias
        H = normalize(H.view(len(features), -1)).view(-1, n_nets, 2)
        # The first of a two-way softmax is a sigmoid of the difference.
        weights = torch.sigmoid(H[..., 0] - H[..., 1]).gather(1, net_ids.reshape(-1, 1))[:, 0]
        if bn_ids is not None:
            weights = torch.where(counts[bn_ids] < 2, 0.5, weights)
        return weights.view(shape)
