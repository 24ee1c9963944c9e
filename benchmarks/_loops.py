"""Hand-written torch training loops, the reference the estimators are timed against.

Each loop trains the estimator's own network (``_build_module``) with its own
loss (``_build_criterion``), optimiser, learning rate, epochs and batch size, on
float32 tensors already on ``device``, batched by a shuffled index, with none of
the estimator's validation, skorch callbacks or history: the fastest plain
PyTorch a user could write for the same model.
"""

import numpy as np
import torch

from sklearn_losses._engine import as_logits
from sklearn_losses.losses import pumlc_mixup_penalty


def _train(module, criterion, optimizer, X, Y, epochs, batch_size, device, penalty=None):
    """The loop itself: shuffled index batches of tensors already on ``device``."""
    weight = np.ones(len(X), dtype=np.float32)
    X_t, Y_t, w_t = (torch.from_numpy(a).to(device) for a in (X, Y, weight))
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_t)).to(device)
        for start in range(0, len(X_t), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            output = module(X_t[batch])
            loss = criterion(output, Y_t[batch], weight=w_t[batch])
            if penalty is not None:
                loss = loss + penalty(module, X_t[batch], as_logits(output), Y_t[batch])
            loss.backward()
            optimizer.step()
    return module


def bare_loop(estimator, X, Y, epochs, batch_size, seed, device="cpu", penalty=None):
    """Train ``estimator``'s network and loss with a minimal loop.

    ``penalty(module, X_batch, logits, Y_batch)`` adds a per-batch term that needs
    the module (PU-MLC's MixUp). Returns the trained module.
    """
    torch.manual_seed(seed)
    module = estimator._build_module(X.shape[1], Y.shape[1]).to(device)
    criterion = estimator._build_criterion(Y, np.ones(len(X), dtype=np.float32)).to(device)
    optimizer_class, optimizer_kwargs = estimator._optimizer()
    if str(device).startswith("cuda"):
        optimizer_kwargs = {"fused": True, **optimizer_kwargs}
    optimizer = optimizer_class(module.parameters(), lr=estimator.lr, **optimizer_kwargs)
    return _train(module, criterion, optimizer, X, Y, epochs, batch_size, device, penalty)


def pu_loop(estimator, X, Y, epochs, batch_size, seed, device="cpu"):
    """:func:`bare_loop` with PU-MLC's MixUp penalty, as the estimator trains."""

    def mixup(module, X_batch, logits, Y_batch):
        penalty = pumlc_mixup_penalty(module, X_batch, logits, Y_batch, estimator.mixup_alpha)
        return estimator.mixup_weight * penalty

    return bare_loop(estimator, X, Y, epochs, batch_size, seed, device, penalty=mixup)


class PlainBCE(torch.nn.Module):
    """BCE on the logits of a module that may also return an embedding."""

    def forward(self, output, y, weight=None):
        return torch.nn.functional.binary_cross_entropy_with_logits(as_logits(output), y)


def plain_bce_loop(estimator, X, Y, epochs, batch_size, seed, device="cpu"):
    """Plain BCE training of the estimator's network (the reference for STORM)."""
    torch.manual_seed(seed)
    module = estimator._build_module(X.shape[1], Y.shape[1]).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr)
    return _train(module, PlainBCE(), optimizer, X, Y, epochs, batch_size, device)


def fixed_epochs(epochs):
    """Estimator parameters that train exactly ``epochs`` epochs, as the loop does."""
    return dict(max_epochs=epochs, early_stopping=False, n_iter_no_change=epochs + 1, tol=0.0)
