"""A plain feed-forward network shared by several estimators."""

from torch import nn


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
        layers, width = [], n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.out(self.body(X))
