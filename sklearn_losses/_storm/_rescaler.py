"""STORM's loss rescaler: per-class networks mapping sample features to weights.

The rescaler runs twice per STORM step on a few dozen units, so on a CPU its
cost is the fixed overhead of each tensor operation, not arithmetic. The whole
network is therefore one :class:`torch.autograd.Function` with a hand-derived
backward: about 35 operations forward and 26 backward, where the same network
written with autograd took 55 and 49.
"""

import torch
from torch import nn

from ._features import N_FEATURES

__all__ = ["LossRescalerNetwork"]

_BN_EPS = 1e-5
# Up to this many units a group mean is one product with a (units, units)
# averaging matrix; beyond, two thin products through the groups are cheaper.
_MAX_UNITS_DENSE_AVERAGE = 64


def one_hot(ids, n, dtype):
    """Membership matrix of shape (len(ids), n); an id outside [0, n) gives a zero row."""
    return (ids[:, None] == torch.arange(n, device=ids.device)).to(dtype)


class _Groups:
    """Batch-norm groups of the rows of a (rows, columns) matrix of units.

    Batch norm takes each column's statistics over the rows of a group:
    ``spread(average(H))`` gives every row its group's column means. The
    forward and the backward both use the pair. ``view`` lays the units out
    as those rows: the identity for groups given by ids, or a grid row per
    row when each column of a grid of units is normalised on its own.
    """

    def __init__(self, average, members=None, n_rows=None):
        # average: (groups, rows) with rows summing to one; members: (rows,
        # groups) 0/1, or None when ``average`` is a (rows, rows) matrix or a
        # single row that broadcasts over the rows.
        self.average_matrix, self.members, self.n_rows = average, members, n_rows
        self.dense = members is None and n_rows is None
        # A tensor, so that ``var + eps`` folds into the averaging product.
        self.eps = average.new_full((1,), _BN_EPS)

    @classmethod
    def from_ids(cls, bn_ids, n_bn, dtype):
        """Groups from the group id of each unit."""
        if bn_ids.shape[0] <= _MAX_UNITS_DENSE_AVERAGE:
            # Row i of ``same`` averages over the rows of i's group; no group
            # count needed, so no host sync even without ``n_bn``.
            same = (bn_ids.view(-1, 1) == bn_ids).to(dtype)
            return cls(same / same.sum(1, keepdim=True))
        if n_bn is None:
            n_bn = int(bn_ids.max()) + 1 if bn_ids.numel() else 1
        members = one_hot(bn_ids, n_bn, dtype)
        return cls(members.T / members.sum(0).clamp(min=1)[:, None], members)

    @classmethod
    def columns(cls, n_rows, dtype, device):
        """Each column of an (n_rows, n_columns) grid of units on its own."""
        return cls(torch.full((1, n_rows), 1 / n_rows, dtype=dtype, device=device), n_rows=n_rows)

    def view(self, H):
        """Units (one per row) laid out as the rows that batch norm reduces over."""
        return H if self.n_rows is None else H.view(self.n_rows, -1)

    def units(self, H, n_units):
        """The inverse of :meth:`view`."""
        return H if self.n_rows is None else H.view(n_units, -1)

    def average(self, H):
        return self.average_matrix @ H

    def spread(self, stats):
        return stats if self.members is None else self.members @ stats

    def centre(self, H):
        """``H`` minus its group means, in as few operations as the layout allows."""
        if self.members is not None:
            return torch.addmm(H, self.members, self.average(H), alpha=-1)
        if self.dense:  # a (rows, rows) averaging matrix
            return torch.addmm(H, self.average_matrix, H, alpha=-1)
        return H - self.average(H)  # one row of column means, broadcast

    def inverse_std(self, centred):
        """``1 / sqrt(var + eps)`` of each group's columns, for every row."""
        variance = torch.addmm(self.eps, self.average_matrix, centred * centred)
        return self.spread(torch.rsqrt(variance))


def _normalize_backward(grad, out, scale, groups):
    """Gradient of batch norm without affine parameters (output ``out``):
    ``dH = (dY - mean(dY) - Y * mean(dY * Y)) / sqrt(var + eps)``, the means
    taken per group."""
    mean_dot = groups.spread(groups.average(grad * out))
    return torch.addcmul(groups.centre(grad), out, mean_dot, value=-1) * scale


def _block_diagonal(out_weight):
    """The nets' (width, 2) output layers as one (nets * width, 2 * nets)
    block-diagonal matrix, so that all nets' outputs are one product: column
    ``k * nets + c`` is output ``k`` of net ``c``."""
    n_nets, width, _ = out_weight.shape
    eye = torch.eye(n_nets, dtype=out_weight.dtype, device=out_weight.device)
    return (out_weight.view(n_nets, width, 2, 1) * eye.view(n_nets, 1, 1, n_nets)).view(
        n_nets * width, 2 * n_nets)


def _first_minus_second(net_ids, n_nets, dtype):
    """(units, 2 * nets) matrix picking ``h0 - h1`` of each unit's own net
    from the columns of :func:`_block_diagonal`."""
    picked = one_hot(net_ids, n_nets, dtype)
    return torch.cat([picked, -picked], 1)


class _Rescale(torch.autograd.Function):
    """All nets on all units, batch norm per group, each unit's own weight.

    Every net sees every row, and batch norm treats each (net, unit) column on
    its own, as separate nets would: a net's statistics come from all rows of
    a group, whichever net each row uses.

    Batch norm removes any constant per column and group, so the biases drop
    out (their gradients are exactly zero), and the hidden layer is centred
    through the features, ``H - mean(H) = (X - mean(X)) W``: the group means
    are taken of 19 feature columns instead of ``19 * n_nets`` hidden ones.
    A group of one row
    normalises to exactly zero at both layers, so its weight is exactly
    ``sigmoid(0) = 0.5`` and its gradients exactly zero. The rescaler is
    differentiated once (the meta-gradient is first-order in its
    parameters), so the backward need not be differentiable itself.
    """

    @staticmethod
    def forward(ctx, features, hidden_weight, hidden_bias, out_weight, out_bias, groups, select):
        n_units, n_features = features.shape
        centred_features = groups.units(groups.centre(groups.view(features)), n_units)
        centred = groups.view(centred_features @ hidden_weight.view(n_features, -1))
        scale_hidden = groups.inverse_std(centred)
        hidden = centred * scale_hidden
        relu = groups.units(hidden.relu(), n_units)
        blocks = _block_diagonal(out_weight)
        centred = groups.centre(groups.view(relu @ blocks))
        scale_out = groups.inverse_std(centred)
        out = centred * scale_out
        # The first of a two-way softmax is a sigmoid of the difference.
        weights = torch.sigmoid((groups.units(out, n_units) * select).sum(1))
        # Intermediates, made here without a graph, can live on ctx (saving
        # them as tensors only adds version checks); the input and the output
        # are saved as such (an output on ctx would be a reference cycle).
        ctx.groups = groups
        ctx.intermediates = (centred_features, hidden, scale_hidden, relu, blocks, out,
                             scale_out, select)
        ctx.save_for_backward(hidden_weight, weights)
        return weights

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (centred_features, hidden, scale_hidden, relu, blocks, out, scale_out,
         select) = ctx.intermediates
        groups, (hidden_weight, weights) = ctx.groups, ctx.saved_tensors
        n_units, n_features = centred_features.shape
        n_nets, width = hidden_weight.shape[1:]
        # sigmoid' = w (1 - w); each unit's gradient goes to its own net's h0 - h1.
        grad_diff = grad * torch.addcmul(weights, weights, weights, value=-1)
        grad_out = groups.view(select * grad_diff[:, None])
        grad_out = groups.units(_normalize_backward(grad_out, out, scale_out, groups), n_units)
        # Each net's output layer sees only its own block of the hidden units.
        grad_blocks = (relu.T @ grad_out).view(n_nets, width, 2, n_nets)
        # Contiguous, as parameter gradients are (torch 2.13's fused Adam on
        # the CPU reads a gradient as if it were).
        grad_out_weight = grad_blocks.diagonal(0, 0, 3).permute(2, 0, 1).contiguous()
        # ReLU's gradient (autograd's own op: one operation, not a mask and a product).
        grad_hidden = torch.ops.aten.threshold_backward(
            groups.view(grad_out @ blocks.T), hidden, 0)
        # The weights' gradient is X^T dH with dH the batch norm's gradient.
        # Its columns sum to zero in each group, so X^T dH = (X - mean(X))^T dH,
        # and with centred features the ``- mean(dY)`` term of dH drops out.
        mean_dot = groups.spread(groups.average(grad_hidden * hidden))
        grad_centred = torch.addcmul(grad_hidden, hidden, mean_dot, value=-1) * scale_hidden
        grad_hidden_weight = centred_features.T @ groups.units(grad_centred, n_units)
        grad_features = None
        if ctx.needs_input_grad[0]:
            # The batch norm's full gradient: mean(dY) back in, mean(dY * Y) as above.
            grad_H = torch.addcmul(groups.centre(grad_hidden), hidden, mean_dot,
                                   value=-1) * scale_hidden
            grad_features = groups.units(grad_H, n_units) @ hidden_weight.view(n_features, -1).T
        return (grad_features, grad_hidden_weight.view_as(hidden_weight),
                hidden_weight.new_zeros(n_nets, width), grad_out_weight,
                hidden_weight.new_zeros(n_nets, 2), None, None)


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
            when there are more than 64 units (which synchronises with the
            device).

        Returns
        -------
        weights : Tensor of shape (n_units,) or (n_rows, n_columns)
            The loss weight of each unit.
        """
        shape = features.shape[:-1]
        if len(shape) > 1:  # (reshapes are operations too: only where needed)
            features, net_ids = features.reshape(-1, features.shape[-1]), net_ids.reshape(-1)
        if bn_ids is None:
            groups = _Groups.columns(shape[0], features.dtype, features.device)
        else:
            bn_ids = bn_ids if bn_ids.dim() == 1 else bn_ids.reshape(-1)
            groups = _Groups.from_ids(bn_ids, n_bn, features.dtype)
        select = _first_minus_second(net_ids, self.out_weight.shape[0], features.dtype)
        weights = _Rescale.apply(features, self.hidden_weight, self.hidden_bias,
                                 self.out_weight, self.out_bias, groups, select)
        return weights if len(shape) == 1 else weights.view(shape)
