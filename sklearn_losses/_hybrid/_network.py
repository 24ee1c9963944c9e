"""Networks of the hybrid-loss classifier: an MLP and a Bi-LSTM over stacked
embedding views, both returning ``(logits, projection)``."""

import torch
from torch import nn

from .._engine import hidden_stack

__all__ = ["MultiLabelMLP", "StackedViewBiLSTM"]


def _projection_head(width, projection_size):
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, projection_size))


class MultiLabelMLP(nn.Module):
    """MLP with a label head and a projection head.

    Parameters
    ----------
    n_features : int
        Input width.
    n_outputs : int
        Number of labels.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Widths of the hidden layers (at least one).
    dropout : float, default=0.2
        Dropout after each hidden layer.
    projection_size : int, default=64
        Width of the projection used by the contrastive term.

    Examples
    --------
    >>> import torch
    >>> logits, z = MultiLabelMLP(5, 3)(torch.randn(4, 5))
    >>> tuple(logits.shape), tuple(z.shape)
    ((4, 3), (4, 64))
    """

    def __init__(self, n_features, n_outputs, hidden_layer_sizes=(128, 128), dropout=0.2,
                 projection_size=64):
        super().__init__()
        self.body, width = hidden_stack(n_features, hidden_layer_sizes, dropout)
        self.head = nn.Linear(width, n_outputs)
        self.projection = _projection_head(width, projection_size)

    def forward(self, X):
        """Logits and contrastive projection of a batch.

        Parameters
        ----------
        X : Tensor of shape (batch, n_features)
            Inputs.

        Returns
        -------
        logits : Tensor of shape (batch, n_outputs)
            Label scores.
        projection : Tensor of shape (batch, projection_size)
            Embedding for the contrastive term.
        """
        hidden = self.body(X)
        return self.head(hidden), self.projection(hidden)


class StackedViewBiLSTM(nn.Module):
    """Bi-LSTM reading stacked embedding views as a sequence.

    The columns of ``X`` are split into views (e.g. the sentence embeddings of
    several encoders, concatenated); each view is projected to the LSTM width
    by its own linear layer and is one time step of a one-layer bidirectional
    LSTM. The last forward and backward states feed fully connected layers,
    then the label and projection heads.

    Parameters
    ----------
    view_sizes : sequence of int
        Width of each view, in column order; they must add up to the input width.
    n_outputs : int
        Number of labels.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        The first entry is the LSTM state size (per direction) and the view
        projection width; the others are the widths of the fully connected
        layers after the LSTM (one layer of the first width when there are
        no others).
    dropout : float, default=0.2
        Dropout after each fully connected layer.
    projection_size : int, default=64
        Width of the projection used by the contrastive term.

    Examples
    --------
    >>> import torch
    >>> net = StackedViewBiLSTM([4, 6], n_outputs=3, hidden_layer_sizes=(8,))
    >>> logits, z = net(torch.randn(5, 10))
    >>> tuple(logits.shape)
    (5, 3)
    """

    def __init__(self, view_sizes, n_outputs, hidden_layer_sizes=(128, 128), dropout=0.2,
                 projection_size=64):
        super().__init__()
        sizes = [int(h) for h in hidden_layer_sizes]
        state = sizes[0]
        self.view_sizes = [int(v) for v in view_sizes]
        self.view_projections = nn.ModuleList(nn.Linear(size, state) for size in self.view_sizes)
        self.lstm = nn.LSTM(state, state, batch_first=True, bidirectional=True)
        self.fc, width = hidden_stack(2 * state, sizes[1:] or sizes, dropout)
        self.head = nn.Linear(width, n_outputs)
        self.projection = _projection_head(width, projection_size)

    def forward(self, X):
        """Logits and contrastive projection of a batch.

        Parameters
        ----------
        X : Tensor of shape (batch, n_features)
            Inputs.

        Returns
        -------
        logits : Tensor of shape (batch, n_outputs)
            Label scores.
        projection : Tensor of shape (batch, projection_size)
            Embedding for the contrastive term.
        """
        views = torch.split(X, self.view_sizes, dim=1)
        steps = torch.stack(
            [project(view) for project, view in zip(self.view_projections, views)], dim=1
        )
        _, (last_state, _) = self.lstm(steps)
        hidden = self.fc(torch.cat([last_state[0], last_state[1]], dim=1))
        return self.head(hidden), self.projection(hidden)
