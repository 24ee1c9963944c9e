"""The skorch net every batch estimator trains through, and its stopping rule.

skorch owns the loop, the callbacks and the history. Two of its hooks are
narrowed here: ``get_loss`` passes per-sample weights to the criterion and
accumulates the loss terms on the device, and ``run_single_epoch`` reads those
sums once per epoch instead of calling ``.item()`` on every batch, which would
stall a GPU at each step.
"""

import contextlib
import copy
import math

import skorch
import torch

__all__ = ["EarlyStopping", "TorchNet"]


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


class TorchNet(skorch.NeuralNet):
    """skorch net whose targets carry per-sample weights.

    The criterion is called as ``criterion(y_pred, y, weight=w)``. When it
    exposes ``last_components_`` (a dict of scalar tensors), each component
    is averaged over the epoch and recorded in ``history`` next to
    ``train_loss`` (and ``valid_loss`` when there is a validation split).
    """

    def get_default_callbacks(self):
        # The epoch losses are recorded by run_single_epoch, so skorch's
        # per-batch PassthroughScoring callbacks are not needed. The estimator
        # adds the print log last, after the callbacks that write history.
        return [("epoch_timer", skorch.callbacks.EpochTimer())]

    def notify(self, method_name, **cb_kwargs):
        if method_name not in _PER_BATCH_EVENTS:
            return super().notify(method_name, **cb_kwargs)
        if _overrides(self, method_name, skorch.NeuralNet):
            getattr(self, method_name)(self, **cb_kwargs)
        for _, cb in self.callbacks_:
            if _overrides(cb, method_name, skorch.callbacks.Callback):
                getattr(cb, method_name)(self, **cb_kwargs)

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
        rows = 0
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                batch_rows = batch[1]["y"].shape[0]
                self.accumulate({"loss": step["loss"]}, batch_rows)
                rows += batch_rows
                self.notify("on_batch_end", batch=batch, training=training, **step)
            sums = self._epoch_sums
        finally:
            self._epoch_sums = None
        if not sums:
            return
        keys = list(sums)
        # The one host synchronisation of the epoch.
        values = (torch.stack([sums[k].float() for k in keys]) / rows).tolist()
        for key, value in zip(keys, values):
            self.history.record(f"{prefix}_loss" if key == "loss" else key, value)
        loss = values[keys.index("loss")]
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
        weights and optimizer states and the history as they were on entry.

        A continued (warm-start) fit trains the net in place, so an
        interrupted one would otherwise keep the steps it had taken.
        """
        saved = {
            name: copy.deepcopy(value.state_dict())
            for name, value in vars(self).items()
            if isinstance(value, (torch.nn.Module, torch.optim.Optimizer))
        }
        n_epochs = len(self.history)
        try:
            yield
        except BaseException:
            for name, state in saved.items():
                getattr(self, name).load_state_dict(state)
            del self.history[n_epochs:]
            raise


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
