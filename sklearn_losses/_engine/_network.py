"""A plain feed-forward network shared by several estimators."""

import copy
from numbers import Integral

import numpy as np
from torch import nn

__all__ = ["MLPNetwork", "check_hidden_layer_sizes", "hidden_stack", "instantiate_module"]


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


def hidden_stack(n_inputs, hidden_layer_sizes, dropout):
    """Linear + ReLU (+ dropout) layers of the given widths.

    Parameters
    ----------
    n_inputs : int
        Input width.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer.
    dropout : float
        Dropout probability after each hidden activation (0 for none).

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
            layers.append(nn.Dropout(dropout))
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
        Dropout probability after each hidden activation.

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
