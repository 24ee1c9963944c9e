"""The skorch net every batch estimator trains through, and its stopping rule.

skorch owns the loop, the callbacks and the history. Two of its hooks are
narrowed here: ``get_loss`` passes per-sample weights to the criterion and
accumulates the loss terms on the device, and ``run_single_epoch`` reads the
batch losses once per epoch instead of calling ``.item()`` on every batch,
which would stall a GPU at each step. It still writes skorch's per-batch
history rows, so skorch's callbacks (scoring, checkpoints, progress bar) find
what they read; only a callback that runs after every batch makes it read each
batch's loss as it comes, as skorch does.
"""

import contextlib
import copy
import math

import numpy as np
import skorch
import torch

__all__ = ["EarlyStopping", "LossScore", "PlainPrintLog", "TorchNet"]


class _StopTraining(KeyboardInterrupt):
    """Raised by :class:`EarlyStopping`; skorch ends the fit loop on it."""


# Events raised for every batch; a callback that does not override them is
# skipped, so an empty hook costs nothing per step.
_PER_BATCH_EVENTS = ("on_batch_begin", "on_batch_end", "on_grad_computed")


# A mean loss this large (NaN and infinity included) means logits of about
# this size: the network has saturated, e.g. on a feature of magnitude 1e30,
# and learns nothing more. The losses here stay far below it otherwise
# (per-label weights are capped at 100).
_DIVERGED_LOSS = 1e12


def _overrides(obj, method_name, base):
    return getattr(type(obj), method_name) is not getattr(base, method_name)


def _reads_batches(cb):
    """Whether ``cb`` acts after every batch, where it may read the batch's
    loss. A learning rate schedule stepped per epoch (the estimators' own)
    only returns there."""
    if isinstance(cb, skorch.callbacks.LRScheduler) and cb.step_every == "epoch":
        return False
    return _overrides(cb, "on_batch_end", skorch.callbacks.Callback)


def _callback_batch(batch):
    """A batch as callbacks see it: ``(X, Y)``, the training targets as one
    tensor (what skorch's scoring callbacks concatenate), without the sample
    weights and row indices that only the loss and the step read."""
    X, targets = batch
    return X, targets["y"]


class TorchNet(skorch.NeuralNet):
    """skorch net whose targets carry per-sample weights.

    The criterion is called as ``criterion(y_pred, y, weight=w)``. When it
    exposes ``last_components_`` (a dict of scalar tensors), each component
    is averaged over the epoch and recorded in ``history`` next to
    ``train_loss`` (and ``valid_loss`` when there is a validation split).

    Callbacks see a batch as ``(X, Y)``, and ``predict``/``predict_proba``
    answer in the space of ``Y`` by the rule ``predictions`` (an object with
    ``proba(logits)`` and ``labels(proba)``), so skorch's scoring callbacks
    compare like with like.
    """

    def __init__(self, *args, predictions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.predictions = predictions

    def get_default_callbacks(self):
        # skorch's own, with loss scores that write the ``*_best`` flags
        # Checkpoint monitors. The estimator adds the print log last, after
        # the callbacks that write history.
        return [
            ("epoch_timer", skorch.callbacks.EpochTimer()),
            ("train_loss", LossScore("train_loss", on_train=True)),
            ("valid_loss", LossScore("valid_loss")),
        ]

    def notify(self, method_name, **cb_kwargs):
        if method_name not in _PER_BATCH_EVENTS:
            return super().notify(method_name, **cb_kwargs)
        getattr(self, method_name)(self, **cb_kwargs)
        listeners = [cb for _, cb in self.callbacks_
                     if _overrides(cb, method_name, skorch.callbacks.Callback)]
        if listeners and "batch" in cb_kwargs:
            cb_kwargs = {**cb_kwargs, "batch": _callback_batch(cb_kwargs["batch"])}
        for cb in listeners:
            getattr(cb, method_name)(self, **cb_kwargs)

    def _batch_listeners(self):
        """Whether a callback runs after every batch (and may read its loss)."""
        return any(_reads_batches(cb) for _, cb in self.callbacks_)

    def predict_proba(self, X, **kwargs):
        """Probabilities in the training targets' space, for skorch's scoring callbacks.

        Parameters
        ----------
        X : DeviceDataset or array-like
            Input data.
        **kwargs : dict
            Passed to ``skorch.NeuralNet.predict_proba``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_outputs)
            One column per output of the network.
        """
        logits = super().predict_proba(X, **kwargs)
        return logits if self.predictions is None else self.predictions.proba(logits)

    def predict(self, X, **kwargs):
        """0/1 predictions in the training targets' space (an indicator matrix,
        one column per class for class labels), for skorch's scoring callbacks.

        Parameters
        ----------
        X : DeviceDataset or array-like
            Input data.
        **kwargs : dict
            Passed to ``skorch.NeuralNet.predict_proba``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_outputs)
            Logits when no ``predictions`` rule was given.
        """
        proba = self.predict_proba(X, **kwargs)
        return proba if self.predictions is None else self.predictions.labels(proba)

    def _set_training(self, training=True):
        # skorch sets the mode at every step; walking the module tree twice
        # per batch cost about 6 % of a small network's step.
        if self.module_.training != training:
            super()._set_training(training)

    def loss_terms(self, y_pred, y_true, X=None, training=False):
        """The loss and its logged components (a dict of scalar tensors).

        A method with a term that needs the module or the inputs (e.g. a
        MixUp penalty) extends this, not skorch's training step.
        """
        loss = self.criterion_(y_pred, y_true["y"], weight=y_true["w"])
        return loss, dict(getattr(self.criterion_, "last_components_", {}))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss, terms = self.loss_terms(y_pred, y_true, X=X, training=training)
        if training:
            self.accumulate(terms, rows=y_true["y"].shape[0])
        return loss

    _epoch_sums = None

    def accumulate(self, terms, rows):
        """Add scalar tensors, weighted by the batch's rows, to the epoch sums.

        The sums stay on the device until the epoch ends.
        """
        sums = self._epoch_sums
        if sums is None:
            return
        for key, value in terms.items():
            value = value.detach() * rows
            sums[key] = value if key not in sums else sums[key] + value

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        self._epoch_sums = {}
        live = self._batch_listeners()
        losses, sizes = [], []
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                sizes.append(batch[1]["y"].shape[0])
                self.history.record_batch(f"{prefix}_batch_size", sizes[-1])
                if live:
                    # What skorch does for every batch; here only when a callback reads it.
                    self.history.record_batch(f"{prefix}_loss", step["loss"].item())
                losses.append(step["loss"].detach())
                self.notify("on_batch_end", batch=batch, training=training, **step)
            sums = self._epoch_sums
        finally:
            self._epoch_sums = None
        self.history.record(f"{prefix}_batch_count", len(sizes))
        if not losses:
            return
        keys = list(sums)
        # The one host synchronisation of the epoch.
        parts = [torch.stack(losses).float()] + [sums[k].float()[None] / sum(sizes) for k in keys]
        values = torch.cat(parts).tolist()
        batch_losses, terms = values[:len(losses)], values[len(losses):]
        # skorch's loss scores average these rows into the epoch's loss.
        for row, loss in zip(self.history[-1]["batches"][-len(losses):], batch_losses):
            row[f"{prefix}_loss"] = loss
        for key, value in zip(keys, terms):
            self.history.record(key, value)
        loss = float(np.average(batch_losses, weights=sizes))
        if not abs(loss) < _DIVERGED_LOSS:
            raise ValueError(
                f"Training diverged in epoch {len(self.history)}: the {prefix} loss became "
                f"{loss:.3g}. Scale the features (e.g. StandardScaler), clip extreme "
                "values, or lower lr (or weight_decay, if it is large)."
            )

    def get_split_datasets(self, X, y=None, **fit_params):
        train, valid = super().get_split_datasets(X, y, **fit_params)
        # Rows held out, as indices into the data given to fit (for tuning).
        self.valid_rows_ = None if valid is None else valid.row_ids.cpu().numpy()
        return train, valid

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except _StopTraining:
            raise
        except KeyboardInterrupt as exc:
            # skorch's partial_fit swallows KeyboardInterrupt; wrap it so the
            # estimator can re-raise it instead of keeping a half-trained net.
            self.interrupted_ = exc
            raise

    def raise_interrupt(self):
        """Re-raise a ``KeyboardInterrupt`` that skorch caught during training."""
        interrupt = getattr(self, "interrupted_", None)
        self.interrupted_ = None
        if interrupt is not None:
            raise interrupt

    @contextlib.contextmanager
    def rollback_on_error(self):
        """Context manager: on any exception (Ctrl-C included), put back the
        net's settings, weights, optimizer states and history as they were on
        entry.

        A continued (warm-start) fit trains the net in place, so an
        interrupted one would otherwise keep the steps it had taken.
        """
        settings = dict(vars(self))
        saved = {
            name: copy.deepcopy(value.state_dict())
            for name, value in settings.items()
            if isinstance(value, (torch.nn.Module, torch.optim.Optimizer))
        }
        n_epochs = len(self.history)
        try:
            yield
        except BaseException:
            vars(self).clear()
            vars(self).update(settings)
            for name, state in saved.items():
                getattr(self, name).load_state_dict(state)
            del self.history[n_epochs:]
            raise


class LossScore(skorch.callbacks.PassthroughScoring):
    """skorch's epoch loss from its batch rows, which also finds the best loss
    of the epochs a continued (warm-start) fit already has, as skorch's
    ``EpochScoring`` does, so ``*_best`` compares with those too.

    Parameters
    ----------
    name : str
        History key, ``"train_loss"`` or ``"valid_loss"``.
    on_train : bool, default=False
        Whether the loss is the training loss.
    """

    def __init__(self, name, on_train=False):
        super().__init__(name, lower_is_better=True, on_train=on_train)

    def on_train_begin(self, net, **kwargs):
        with contextlib.suppress(KeyError):
            self.best_score_ = min(net.history[:, self.name], default=math.inf)

    def get_avg_score(self, history):
        # A float, not NumPy's: the history stays plain data (persistence
        # reads it back with torch's weights-only loader).
        return float(super().get_avg_score(history))


class PlainPrintLog(skorch.callbacks.PrintLog):
    """skorch's table of epochs without terminal colour codes (it marks each
    best loss in colour), which a log file or a notebook would show as
    escape characters. The ``*_best`` flags stay in ``history``."""

    def format_row(self, row, key, color):
        return super().format_row({key: row[key]}, key, color)


class EarlyStopping(skorch.callbacks.Callback):
    """Stop when ``monitor`` has not improved by ``tol`` for ``patience`` epochs.

    As in ``MLPClassifier``, an epoch improves when the monitored loss falls
    below the best so far minus ``tol``. With ``restore_best`` the module's
    weights of the best epoch are copied (on the device, no synchronisation)
    and loaded back when training ends.

    Parameters
    ----------
    monitor : str
        History key, ``"valid_loss"`` or ``"train_loss"``.
    patience : int
        Epochs without improvement before stopping.
    tol : float
        Minimum decrease that counts as an improvement.
    restore_best : bool
        Load the best epoch's weights at the end.
    """

    def __init__(self, monitor, patience, tol, restore_best):
        self.monitor = monitor
        self.patience = patience
        self.tol = tol
        self.restore_best = restore_best

    def on_train_begin(self, net, **kwargs):
        self.best_loss_ = math.inf
        self.best_epoch_ = 0
        self.misses_ = 0
        self.best_state_ = None

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, self.monitor]
        improved = loss < self.best_loss_ - self.tol
        if loss < self.best_loss_:
            self.best_loss_ = loss
            self.best_epoch_ = len(net.history)
            if self.restore_best:
                self.best_state_ = copy.deepcopy(net.module_.state_dict())
        self.misses_ = 0 if improved else self.misses_ + 1
        net.history.record("improved", bool(improved))
        if self.misses_ >= self.patience:
            raise _StopTraining

    def on_train_end(self, net, **kwargs):
        if self.restore_best and self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        self.best_state_ = None
