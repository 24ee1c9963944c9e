"""A plain feed-forward network shared by several estimators."""

import copy
from numbers import Integral

import numpy as np
import torch
from torch import nn

__all__ = ["Dropout", "MLPNetwork", "check_hidden_layer_sizes", "hidden_stack",
           "instantiate_module"]

# Keep decisions compare uniform 16-bit integers with a threshold, so the
# keep probability is a multiple of 1 / 2**16.
_LEVELS = 2 ** 16


def instantiate_module(module, n_features, n_outputs):
    """A user's network for one fit, as the ``module`` parameters accept it.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        A class is called as ``module(n_features, n_outputs)``; an instance is
        deep-copied, so refits start from the same weights and the user's
        object is never trained in place.
    n_features, n_outputs : int
        Input and output widths.

    Returns
    -------
    network : torch.nn.Module
    """
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    return module(n_features, n_outputs)


def check_hidden_layer_sizes(hidden_layer_sizes, *, allow_empty=True):
    """Validate ``hidden_layer_sizes`` and return it as a tuple of int.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int
        Widths of the hidden layers, each a positive integer.
    allow_empty : bool, default=True
        Whether ``()`` (no hidden layer) is allowed.

    Returns
    -------
    sizes : tuple of int
    """
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes, dtype=object)).ravel()
    if not allow_empty and sizes.size == 0:
        raise ValueError("hidden_layer_sizes needs at least one layer for this network.")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
            raise ValueError(
                f"hidden_layer_sizes={tuple(sizes.tolist())!r} must hold positive integers "
                f"(layer widths); got {size!r}."
            )
    return tuple(int(size) for size in sizes)


class Dropout(nn.Dropout):
    """Dropout that draws its masks from 16 random bits per element on the CPU.

    On this package's small networks dropout's mask costs more than the
    layers it follows: torch's CPU ``bernoulli_`` draws a full random number
    per element. This layer draws 64-bit integers from torch's default CPU
    generator and splits each into four 16-bit ones, so ``torch.manual_seed``
    fixes the masks as usual. An element is kept when its integer falls below
    a threshold: the drop probability is ``p`` rounded to a multiple of
    ``1 / 65536`` (``p_rounded``, at most ``7.7e-6`` away) and kept elements
    are scaled by ``1 / (1 - p_rounded)``, so the expected output equals the
    input exactly. The output is ``input * mask``, differentiable any number
    of times.

    Float16/bfloat16 tensors, other devices, evaluation mode and a ``p``
    that rounds to 0 or 1 use :func:`torch.nn.functional.dropout` unchanged.

    Parameters
    ----------
    p : float, default=0.5
        Probability of an element to be zeroed.
    inplace : bool, default=False
        Multiply the input in place.

    Examples
    --------
    >>> import torch
    >>> from sklearn_losses.networks import Dropout
    >>> _ = torch.manual_seed(0)
    >>> out = Dropout(0.25)(torch.ones(10_000))
    >>> sorted(torch.unique(out).tolist())  # dropped, or kept and scaled by 1 / 0.75
    [0.0, 1.3333333730697632]
    >>> round(float((out == 0).float().mean()), 2)
    0.25
    """

    def forward(self, input):  # noqa: A002 - torch's name for the argument
        """Apply dropout to ``input``.

        Parameters
        ----------
        input : Tensor
            Activations.

        Returns
        -------
        output : Tensor
            ``input`` with elements zeroed and the rest rescaled (training
            mode), else ``input``.
        """
        mask = fast_keep_mask(input, self.p) if self.training else None
        if mask is None:
            return super().forward(input)
        return input.mul_(mask) if self.inplace else input * mask


def fast_keep_mask(input, p):  # noqa: A002 - torch's name for the argument
    """:class:`Dropout`'s CPU mask for ``input`` at drop probability ``p``, or
    None where the layer uses torch's dropout instead (other devices,
    float16/bfloat16, a ``p`` that rounds to 0 or 1)."""
    n_kept = round((1.0 - p) * _LEVELS)
    if (input.device.type != "cpu" or n_kept in (0, _LEVELS)
            or input.dtype not in (torch.float32, torch.float64)):
        return None
    return _keep_mask(input, n_kept)


def _keep_mask(input, n_kept):  # noqa: A002
    """0 or ``65536 / n_kept`` per element of ``input``, kept with probability
    ``n_kept / 65536``.

    No operation here records a graph (the mask is created without one), and
    the mask takes few operations: at this package's sizes each one's fixed
    cost is a good part of the whole.
    """
    shape = input.shape
    # ``random_(-2**63, None)`` fills all 64 bits, so each of the four 16-bit
    # pieces is uniform on [-32768, 32767].
    if shape and shape[-1] % 4 == 0:
        bits = torch.empty(*shape[:-1], shape[-1] // 4, dtype=torch.int64)
        pieces = bits.random_(-2 ** 63, None).view(torch.int16)
    else:
        bits = torch.empty((input.numel() + 3) // 4, dtype=torch.int64)
        pieces = bits.random_(-2 ** 63, None).view(torch.int16)[:input.numel()].view(shape)
    # Integer-valued floats minus ``cut``: at least 1 for the n_kept largest
    # values, at most 0 for the others. Float arithmetic is much faster here
    # than comparisons to bool.
    cut = _LEVELS // 2 - 1 - n_kept
    return pieces.to(input.dtype).sub_(cut).clamp_(0, 1).mul_(_LEVELS / n_kept)


def hidden_stack(n_inputs, hidden_layer_sizes, dropout):
    """Linear + ReLU (+ dropout) layers of the given widths.

    Parameters
    ----------
    n_inputs : int
        Input width.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer.
    dropout : float
        Dropout probability after each hidden activation (0 for none); see
        :class:`Dropout`.

    Returns
    -------
    body : nn.Sequential
        The layers.
    width : int
        Output width of ``body``.
    """
    layers, width = [], n_inputs
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = int(size)
    return nn.Sequential(*layers), width


class MLPNetwork(nn.Module):
    """Feed-forward ReLU network returning raw logits.

    Parameters
    ----------
    n_features : int
        Input width.
    n_outputs : int
        Number of logits.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Widths of the hidden layers; ``()`` gives a linear model.
    dropout : float, default=0.0
        Dropout probability after each hidden activation. On the CPU it is
        rounded to a multiple of 1/65536, and kept activations are scaled by
        one over the rounded keep probability, so the expected output is
        unchanged.

    Examples
    --------
    >>> import torch
    >>> from sklearn_losses.networks import MLPNetwork
    >>> net = MLPNetwork(4, 3, hidden_layer_sizes=(8,))
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_outputs, hidden_layer_sizes=(128, 128), dropout=0.0):
        super().__init__()
        self.body, width = hidden_stack(n_features, hidden_layer_sizes, dropout)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(self.body(X))

    def split_at_dropout(self):
        """The network as ``head(trunk(X))`` with ``trunk`` free of randomness.

        Several dropout passes on one input (as in STORM) share ``trunk``'s
        output, so it is computed once. ``trunk`` holds the layers before the
        first dropout, ``head`` the rest; ``head(trunk(X))`` runs the same
        operations as ``self(X)``.

        Returns
        -------
        trunk, head : nn.Sequential or None
            None when the network has no dropout.

        Examples
        --------
        >>> import torch
        >>> from sklearn_losses.networks import MLPNetwork
        >>> net = MLPNetwork(4, 3, hidden_layer_sizes=(8,), dropout=0.1).eval()
        >>> trunk, head = net.split_at_dropout()
        >>> X = torch.randn(2, 4)
        >>> torch.equal(head(trunk(X)), net(X))
        True
        """
        for i, layer in enumerate(self.body):
            if isinstance(layer, nn.Dropout):
                return self.body[:i], nn.Sequential(*self.body[i:], self.out)
        return None
