"""Networks of the hybrid-loss classifier: an MLP and a Bi-LSTM over stacked
embedding views, both returning ``(logits, projection)``."""

import torch
from torch import nn

__all__ = ["MultiLabelMLP", "StackedViewBiLSTM"]


def _projection_head(hidden_size, projection_size):
    return nn.Sequential(
        nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, projection_size)
    )


class MultiLabelMLP(nn.Module):
    """Two-layer MLP with a label head and a projection head.

    Parameters
    ----------
    n_features : int
        Input width.
    n_outputs : int
        Number of labels.
    hidden_size : int, default=128
        Width of both hidden layers.
    dropout : float, default=0.2
        Dropout after the first hidden layer.
    projection_size : int, default=64
        Width of the projection used by the contrastive term.

    Examples
    --------
    >>> import torch
    >>> logits, z = MultiLabelMLP(5, 3)(torch.randn(4, 5))
    >>> tuple(logits.shape), tuple(z.shape)
    ((4, 3), (4, 64))
    """

    def __init__(self, n_features, n_outputs, hidden_size=128, dropout=0.2, projection_size=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
        )
        self.head = nn.Linear(hidden_size, n_outputs)
        self.projection = _projection_head(hidden_size, projection_size)

    def forward(self, X):
        """Return ``(logits, projection)`` for a batch ``X``."""
        hidden = self.body(X)
        return self.head(hidden), self.projection(hidden)


class StackedViewBiLSTM(nn.Module):
    """Bi-LSTM reading stacked embedding views as a sequence.

    The columns of ``X`` are split into views (e.g. the sentence embeddings of
    several encoders, concatenated); each view is projected to ``hidden_size``
    by its own linear layer and is one time step of a one-layer bidirectional
    LSTM. The last forward and backward states feed a fully connected layer,
    then the label and projection heads.

    Parameters
    ----------
    view_sizes : sequence of int
        Width of each view, in column order; they must add up to the input width.
    n_outputs : int
        Number of labels.
    hidden_size : int, default=128
        LSTM state size (per direction) and view projection width.
    dropout : float, default=0.2
        Dropout after the fully connected layer.
    projection_size : int, default=64
        Width of the projection used by the contrastive term.

    Examples
    --------
    >>> import torch
    >>> net = StackedViewBiLSTM([4, 6], n_outputs=3, hidden_size=8)
    >>> logits, z = net(torch.randn(5, 10))
    >>> tuple(logits.shape)
    (5, 3)
    """

    def __init__(self, view_sizes, n_outputs, hidden_size=128, dropout=0.2, projection_size=64):
        super().__init__()
        self.view_sizes = [int(v) for v in view_sizes]
        self.view_projections = nn.ModuleList(
            nn.Linear(size, hidden_size) for size in self.view_sizes
        )
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.fc = nn.Sequential(
            nn.Linear(2 * hidden_size, hidden_size), nn.ReLU(), nn.Dropout(dropout)
        )
        self.head = nn.Linear(hidden_size, n_outputs)
        self.projection = _projection_head(hidden_size, projection_size)

    def forward(self, X):
        """Return ``(logits, projection)`` for a batch ``X``."""
        views = torch.split(X, self.view_sizes, dim=1)
        steps = torch.stack(
            [project(view) for project, view in zip(self.view_projections, views)], dim=1
        )
        _, (last_state, _) = self.lstm(steps)
        hidden = self.fc(torch.cat([last_state[0], last_state[1]], dim=1))
        return self.head(hidden), self.projection(hidden)
