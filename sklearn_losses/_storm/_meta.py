"""STORM internals: per-unit losses and the meta-learning step.

STORM (Heck et al., AAAI-25) learns one weight per training sample (or per
sample and label) on the fly. A small rescaler network maps features of a
sample's loss and confidence over several dropout passes to a weight in (0, 1);
it is trained by a one-step look-ahead meta objective on batches drawn from
the same noisy training set, so no clean validation data is needed.

A STORM step runs many small tensor operations, so on a small network its cost
is the number of operations, not arithmetic. Everything below is written to
keep that number low: the extra dropout passes run as one batch, the look-ahead
swaps tensors into the module's parameter slots, and nothing in a step reads a
value back to the host. For the built-in network the whole step is written
out without autograd (``_mlp``). The features are in ``_features``, the
rescaler in ``_rescaler``.
"""

import contextlib
import inspect
import warnings

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn

from .._engine import MLPNetwork, TorchNet, as_logits
from ._features import FeatureMemory
from ._mlp import MLPPasses
from ._rescaler import LossRescalerNetwork

__all__ = ["StormCriterion", "StormNet"]


# --------------------------------------------------------------------------- #
# per-unit losses
# --------------------------------------------------------------------------- #
class StormCriterion(nn.Module):
    """Per-unit losses, confidences and groupings for STORM.

    A "unit" is what gets one weight: a sample (multi-class or binary target,
    or ``granularity="sample"``) or a (sample, label) entry.

    Parameters
    ----------
    kind : {"multiclass", "binary", "multilabel"}
        Target type; multi-class uses softmax cross-entropy, the others BCE.
    n_outputs : int
        Number of logits.
    granularity : {"sample", "label"}, default="sample"
        For multi-label targets, one weight per row or per (row, label).
    normalization : {"batch", "class"}, default="class"
        Scope of the rescaler's batch norm.
    class_separation : bool, default=True
        One rescaler net per noisy class (per label value for multi-label).
    """

    def __init__(self, kind, n_outputs, granularity="sample", normalization="class",
                 class_separation=True):
        super().__init__()
        self.kind = kind
        self.n_outputs = n_outputs
        self.granularity = granularity
        self.normalization = normalization
        self.class_separation = class_separation

    @property
    def per_label(self):
        return self.kind == "multilabel" and self.granularity == "label"

    @property
    def n_units(self):
        """Weights per sample."""
        return self.n_outputs if self.per_label else 1

    @property
    def n_groups(self):
        if self.per_label:
            return 2 * self.n_outputs
        return {"multiclass": self.n_outputs, "binary": 2, "multilabel": 1}[self.kind]

    @property
    def n_nets(self):
        if not self.class_separation:
            return 1
        return 2 if self.per_label else self.n_groups

    def target(self, Y):
        """What the loss compares logits with: class indices or the 0/1 matrix."""
        return Y.argmax(1) if self.kind == "multiclass" else Y

    def unit_ids(self, Y, target=None):
        """Memory groups, rescaler nets and batch-norm groups of the units.

        ``target`` (``self.target(Y)``, when the caller has it) saves finding
        the classes again.

        Returns
        -------
        groups, nets : LongTensor of shape (n * n_units,)
        bn : LongTensor of shape (n * n_units,) or None
            None for batch normalisation over the batch (per label with one
            weight per label).
        """
        if self.kind == "multiclass":
            cls = (Y.argmax(1) if target is None else target)[:, None]
        elif self.kind == "binary" or self.per_label:
            cls = Y.long()
        else:
            cls = Y.new_zeros(Y.shape[0], 1, dtype=torch.long)
        groups = cls
        if self.per_label:
            labels = torch.arange(Y.shape[1], device=Y.device)[None, :]
            groups = 2 * labels + cls
        nets = cls if self.class_separation else torch.zeros_like(cls)
        bn = groups.reshape(-1) if self.normalization == "class" else None
        return groups.reshape(-1), nets.reshape(-1), bn

    def unit_losses(self, logits, target):
        """Loss of each unit, shape (n, n_units)."""
        if self.kind == "multiclass":
            return F.cross_entropy(logits, target, reduction="none")[:, None]
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return loss if self.n_units > 1 else loss.mean(1, keepdim=True)

    def unit_agreement(self, logits, target):
        """Confidence and whether the prediction matches ``target``, each (n, n_units)."""
        if self.kind == "multiclass":
            confidence, predicted = torch.softmax(logits, 1).max(1)
            return confidence[:, None], (predicted == target)[:, None]
        proba = torch.sigmoid(logits)
        confidence = torch.maximum(proba, 1 - proba)
        correct = (proba > 0.5) == (target > 0.5)
        if self.kind == "multilabel" and not self.per_label:
            # One unit per row: mean confidence; "agrees" = exact match.
            return confidence.mean(1, keepdim=True), correct.all(1, keepdim=True)
        return confidence, correct

    def logit_gradients(self, logits, Y):
        """Gradient of each unit's loss in the logits, shape (n, n_outputs).

        For one unit per sample, row ``i`` is the gradient of sample ``i``'s
        loss; for one unit per label, entry ``(i, k)`` is the only non-zero
        of unit ``(i, k)``'s gradient.
        """
        if self.kind == "multiclass":
            return torch.softmax(logits, 1) - Y
        gradient = torch.sigmoid(logits) - Y
        return gradient if self.n_units > 1 else gradient / self.n_outputs

    def unit_slopes(self, logit_gradients, tangent):
        """Derivative of each unit's loss, shape (n, n_units), along a direction
        in which the logits change by ``tangent``."""
        product = logit_gradients * tangent
        return product if self.n_units > 1 else product.sum(1, keepdim=True)

    def forward(self, y_pred, y, weight=None):
        loss = self.unit_losses(as_logits(y_pred), self.target(y)).sum(1)
        if weight is None:
            return loss.mean()
        return (weight * loss).sum() / weight.sum()


# --------------------------------------------------------------------------- #
# data and net
# --------------------------------------------------------------------------- #
def _has_dropout(module):
    return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in module.modules())


def _tile(tensor, k):
    """``k`` copies of ``tensor`` stacked along the first dimension."""
    # One concatenation costs a fifth of ``repeat`` on these small tensors.
    return torch.cat([tensor] * k)


class StormNet(TorchNet):
    """skorch net whose training step is STORM's meta-learning step.

    Each step weights the batch's per-unit losses with the rescaler, takes a
    look-ahead SGD step of the model, scores a meta batch drawn uniformly from
    the training data at the look-ahead parameters, updates the rescaler from
    that meta loss, and updates the model with the weighted gradient of the
    current (not re-evaluated) weights.

    Parameters
    ----------
    module, criterion
        As for ``skorch.NeuralNet``; ``criterion`` is a :class:`StormCriterion`.
    rescaler_lr : float, default=1e-2
        Adam learning rate of the rescaler.
    lookahead_lr : float, default=1e-3
        Step size ``alpha`` of the look-ahead step.
    n_forward_passes : int, default=3
        Dropout passes per batch (``G``).
    memory_size : int, default=32
        Feature memory rows per group (``m``).
    extra_pass_dropout : float, default=0.1
        Input dropout of passes 2..G, used only when the module has no dropout
        layer (otherwise all passes would agree and the spreads would be 0).
    meta_loss_rescaling : bool, default=True
        Weight the meta loss with the rescaler's weights of the meta batch.
    meta_gradient : {"auto", "double_backward", "jvp"}, default="auto"
        How the rescaler's gradient through the look-ahead step is computed;
        see :meth:`meta_gradients`.
    meta_interval : int, default=1
        Take the meta step on every ``meta_interval``-th training step; the
        steps between weight their batch with the current rescaler.
    **kwargs
        Passed to ``skorch.NeuralNet``.
    """

    def __init__(self, module, criterion, *, rescaler_lr=1e-2, lookahead_lr=1e-3,
                 n_forward_passes=3, memory_size=32, extra_pass_dropout=0.1,
                 meta_loss_rescaling=True, meta_gradient="auto", meta_interval=1,
                 **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.rescaler_lr = rescaler_lr
        self.lookahead_lr = lookahead_lr
        self.n_forward_passes = n_forward_passes
        self.memory_size = memory_size
        self.extra_pass_dropout = extra_pass_dropout
        self.meta_loss_rescaling = meta_loss_rescaling
        self.meta_gradient = meta_gradient
        self.meta_interval = meta_interval

    # ---- set-up --------------------------------------------------------- #
    def initialize_module(self):
        super().initialize_module()
        self.rescaler_ = LossRescalerNetwork(n_nets=self.criterion.n_nets)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        if _needs_closure(self.optimizer_):
            raise ValueError(
                f"optimizer={type(self.optimizer_).__name__} needs a closure that evaluates "
                "the loss again, but a STORM step computes one gradient (the meta step's). "
                "Use an optimizer that steps from given gradients, such as torch.optim.Adam "
                "or torch.optim.SGD."
            )
        # The fused kernel updates all four tensors at once instead of running
        # a dozen small operations per tensor.
        self.rescaler_optimizer_ = torch.optim.Adam(
            self.rescaler_.parameters(), lr=self.rescaler_lr, fused=True
        )
        return self

    def get_all_learnable_params(self):
        # The rescaler has its own optimizer; the model's must not see it.
        yield from self.module_.named_parameters()

    def prepare_step(self):
        """Read once per fit what every step needs of the module and the rescaler.

        Walking a module's tree for its parameters or buffers costs about as
        much as the rescaler's optimizer step, so the step reads them from here.
        """
        self.buffer_slots_ = _TensorSlots(self.module_, "buffers")
        self.parameter_slots_ = _TensorSlots(self.module_)
        self.rescaler_params_ = tuple(self.rescaler_.parameters())
        self.input_dropout_ = 0.0 if _has_dropout(self.module_) else self.extra_pass_dropout
        # The default network's layers before its first dropout give the same
        # output in every pass: the passes share it (exact type: a subclass
        # may change ``forward``).
        default_network = type(self.module_) is MLPNetwork
        self.trunk_head_ = self.module_.split_at_dropout() if default_network else None
        self.closed_form_ = (MLPPasses(self.module_)
                             if default_network and self.meta_gradient == "auto" else None)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        # A warm refit keeps the rescaler's optimizer state but takes the
        # current learning rate, as the model's optimizer does.
        for group in self.rescaler_optimizer_.param_groups:
            group["lr"] = self.rescaler_lr
        self.train_data_ = X
        self.prepare_step()
        # Drawn from the (seeded) global torch RNG, so refits are identical.
        seed = int(torch.randint(np.iinfo(np.int32).max, (1,)))
        self.meta_generator_ = torch.Generator(device=self.device).manual_seed(seed)
        criterion = self.criterion_
        self.weight_sum_ = torch.zeros(len(X), criterion.n_units, device=self.device)
        self.n_weight_epochs_ = 0
        self.n_train_steps_ = 0
        if not criterion.per_label:
            # Targets kept sparse are multi-label, whose rows share one class.
            Y = X.Y if X.Y is not None else torch.zeros(len(X), 1, device=self.device)
            self.class_ids_ = criterion.unit_ids(Y)[0]

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        # The one copy of the weights to the host; the estimator takes them.
        self.last_weights_ = self.epoch_weights_.cpu().numpy()
        self.mean_weights_ = (self.weight_sum_ / max(self.n_weight_epochs_, 1)).cpu().numpy()
        del self.train_data_, self.meta_data_, self.meta_generator_, self.epoch_weights_
        del self.weight_sum_
        self.train_memory_ = self.meta_memory_ = self.class_ids_ = None
        self.parameter_slots_ = self.buffer_slots_ = None
        self.trunk_head_ = self.closed_form_ = self.rescaler_params_ = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        # Meta batches come from the training rows only: rows held out for
        # early stopping or threshold tuning must not train the rescaler.
        self.meta_data_ = dataset_train
        self.reset_memories()
        self.epoch_weights_ = torch.full(
            (len(self.train_data_), self.criterion_.n_units), float("nan"), device=self.device
        )

    def reset_memories(self):
        """Empty the feature memories of the training and the meta batches."""
        n_groups = self.criterion_.n_groups
        self.train_memory_ = FeatureMemory(n_groups, self.memory_size)
        self.meta_memory_ = FeatureMemory(n_groups, self.memory_size)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        weights = self.epoch_weights_
        # Held-out rows never get a weight (NaN) and stay NaN in the sum.
        self.weight_sum_ += weights
        self.n_weight_epochs_ += 1
        seen = ~torch.isnan(weights)
        filled = torch.where(seen, weights, 0.0)
        # Per noisy class (per label for multi-label): a class whose weights
        # all collapse is being silenced (spec pitfall), visible here.
        if self.criterion_.per_label:
            sums, counts = filled.sum(0), seen.sum(0)
        else:
            n_groups = self.criterion_.n_groups
            sums = filled.new_zeros(n_groups).index_add_(0, self.class_ids_, filled[:, 0])
            counts = filled.new_zeros(n_groups).index_add_(0, self.class_ids_,
                                                           seen[:, 0].to(filled.dtype))
        summary = torch.cat([(filled.sum() / seen.sum())[None], sums / counts]).tolist()
        self.history.record("mean_weight", summary[0])
        self.history.record("class_mean_weight", summary[1:])
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    # ---- training step -------------------------------------------------- #
    def train_step(self, batch, **fit_params):
        # skorch would call the step closure once per optimizer; the model and
        # the rescaler both get their gradients from one meta step. Every
        # gradient is assigned, not accumulated, so none is zeroed first.
        # skorch's own step enables gradients inside the optimizer's closure;
        # this one runs without a closure, so a fit inside torch.no_grad()
        # needs them switched on here.
        with torch.enable_grad():
            step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
        )
        self._step_optimizer(None)
        return step

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        X, yi = unpack_data(batch)
        if self.n_train_steps_ % self.meta_interval:
            # Between meta steps the current rescaler weights the batch; its
            # optimizer skips parameters without a gradient.
            step = self.weighted_gradients(X, yi["y"])
            for p in self.rescaler_params_:
                p.grad = None
        else:
            Xv, Yv = self._meta_batch()
            step = self.meta_gradients(X, yi["y"], Xv, Yv)
            for p, g in zip(self.rescaler_params_, step["rescaler_grads"]):
                p.grad = g
        self.n_train_steps_ += 1
        # The real update uses the weights of the current rescaler (not
        # re-evaluated after its update) and the persistent optimizer.
        for p, g in zip(self.parameter_slots_.tensors, step["grads"]):
            # A user module's gradient may come in any layout; torch 2.13's
            # fused Adam on the CPU reads a gradient as if it were contiguous.
            p.grad = g.contiguous() if p.requires_grad else None
        # index_copy_ skips the parsing of an indexing assignment.
        self.epoch_weights_.index_copy_(0, yi["idx"], step["weights"])
        return {"loss": step["inner"], "y_pred": step["logits"]}

    def weighted_gradients(self, X, Y):
        """The model's gradients of the batch's loss weighted by the current
        rescaler, without a meta step (see ``meta_interval``).

        Parameters
        ----------
        X, Y : Tensor
            Training batch (features, 0/1 targets).

        Returns
        -------
        step : dict
            ``grads`` for the module's parameters and the batch's ``logits``,
            ``weights`` and inner loss ``inner``, all detached.
        """
        if self.closed_form_ is not None:
            logits, _, loss, weights, _, grads = self._closed_form_inner(X, Y)
            weights = weights.detach()
            return {"grads": grads, "logits": logits, "weights": weights,
                    "inner": (weights * loss).sum(1).mean()}
        logits, loss, weights = self.weighted_passes(X, Y, None, self.train_memory_)
        weights = weights.detach()
        inner = (weights * loss).sum(1).mean()
        grads = _gradients(inner, self.parameter_slots_.tensors)
        return {"grads": grads, "logits": logits.detach(), "weights": weights,
                "inner": inner.detach()}

    def meta_gradients(self, X, Y, Xv, Yv):
        """One STORM step's gradients for the model and the rescaler.

        The rescaler's weights ``w`` of the training batch reach the meta loss
        ``L`` through the look-ahead parameters
        ``theta' = theta - alpha * grad mean_i(w_i l_i)``, so
        ``dL/dw_i = -alpha / n * <grad_theta' L, grad_theta l_i>``.
        ``"double_backward"`` differentiates through the look-ahead gradient
        (reverse over reverse); ``"jvp"`` takes ``grad_theta' L`` by an
        ordinary backward pass, then all the inner products at once as the
        directional derivative of the batch's losses (one forward-mode pass,
        replaying pass 1's dropout masks). Both give the same gradient.
        ``"auto"`` computes the ``"jvp"`` products in closed form for the
        built-in :class:`MLPNetwork` (no autograd graph of the module, see
        ``_mlp``) and is ``"double_backward"`` for any other module.

        Parameters
        ----------
        X, Y : Tensor
            Training batch (features, 0/1 targets).
        Xv, Yv : Tensor
            Meta batch.

        Returns
        -------
        step : dict
            ``grads`` (detached) for the module's parameters,
            ``rescaler_grads`` for the rescaler's, the training batch's
            ``logits``, ``weights`` and inner loss ``inner`` (detached), and the
            meta loss ``meta``.
        """
        if self.closed_form_ is not None:
            return self._closed_form_meta_gradients(X, Y, Xv, Yv)
        if self.meta_gradient == "jvp":
            return self._jvp_meta_gradients(X, Y, Xv, Yv)
        step = self.meta_objective(X, Y, Xv, Yv)
        found = torch.autograd.grad(step["meta"], self.rescaler_params_, allow_unused=True,
                                    materialize_grads=True)
        return {
            "grads": [g.detach() for g in step["grads"]],
            "rescaler_grads": found,
            "logits": step["logits"].detach(),
            "weights": step["weights"].detach(),
            "inner": step["inner"].detach(),
            "meta": step["meta"].detach(),
        }

    def meta_objective(self, X, Y, Xv, Yv):
        """One STORM look-ahead: weighted inner loss, fast weights, meta loss.

        Parameters
        ----------
        X, Y : Tensor
            Training batch (features, 0/1 targets).
        Xv, Yv : Tensor
            Meta batch.

        Returns
        -------
        step : dict
            ``logits`` and ``weights`` of the training batch, the inner loss
            ``inner``, its gradients ``grads`` (with graph) for the module's
            parameters, the look-ahead parameters ``fast`` and the meta loss
            ``meta``, differentiable in the rescaler's parameters.
        """
        names, params = self.parameter_slots_.names, self.parameter_slots_.tensors
        logits, loss, weights = self.weighted_passes(X, Y, None, self.train_memory_)
        inner = (weights * loss).sum(1).mean()
        grads = _gradients(inner, params, create_graph=True)
        fast = dict(zip(names, torch._foreach_add(params, grads, alpha=-self.lookahead_lr)))
        _, loss_v, weights_v = self.weighted_passes(Xv, Yv, fast, self.meta_memory_)
        return {"logits": logits, "weights": weights, "inner": inner, "grads": grads,
                "fast": fast, "meta": self._meta_loss(loss_v, weights_v)}

    def _jvp_meta_gradients(self, X, Y, Xv, Yv):
        names, params = self.parameter_slots_.names, self.parameter_slots_.tensors
        rescaler = self.rescaler_params_
        rng = _rng_state(X.device)
        logits, loss, weights = self.weighted_passes(X, Y, None, self.train_memory_)
        inner = (weights.detach() * loss).sum(1).mean()
        grads = _gradients(inner, params)
        fast = torch._foreach_add(tuple(p.detach() for p in params), grads,
                                  alpha=-self.lookahead_lr)
        for p in fast:
            p.requires_grad_()
        _, loss_v, weights_v = self.weighted_passes(Xv, Yv, dict(zip(names, fast)),
                                                    self.meta_memory_)
        meta = self._meta_loss(loss_v, weights_v)
        found = torch.autograd.grad(meta, fast + rescaler, allow_unused=True,
                                    materialize_grads=True)
        direction, outer = _zero_frozen(found[:len(fast)], params), found[len(fast):]
        slopes = self._directional_losses(X, Y, dict(zip(names, direction)), rng)
        through = torch.autograd.grad(
            weights, rescaler, grad_outputs=slopes * (-self.lookahead_lr / loss.shape[0])
        )
        return {
            "grads": grads, "rescaler_grads": torch._foreach_add(outer, through),
            "logits": logits.detach(), "weights": weights.detach(),
            "inner": inner.detach(), "meta": meta.detach(),
        }

    def _closed_form_meta_gradients(self, X, Y, Xv, Yv):
        """:meth:`meta_gradients` of the built-in network in closed form."""
        params, criterion, alpha = self.parameter_slots_.tensors, self.criterion_, self.lookahead_lr
        mlp, n, n_meta = self.closed_form_, len(X), len(Xv)
        logits, record, loss, weights, grad_logits, grads = self._closed_form_inner(X, Y)
        with torch.no_grad():
            fast = torch._foreach_add(params, grads, alpha=-alpha)
        logits_v, record_v, loss_v, weights_v = self._closed_form_passes(Xv, Yv, fast,
                                                                         self.meta_memory_)
        rescaling = self.meta_loss_rescaling
        with torch.no_grad():
            # The meta loss's gradient at the look-ahead parameters, and the
            # derivative of each unit's loss along it at the current ones.
            scale = weights_v / n_meta if rescaling else 1.0 / n_meta
            direction = _zero_frozen(
                mlp.gradients(fast, record_v, criterion.logit_gradients(logits_v, Yv) * scale),
                params)
            slopes = criterion.unit_slopes(grad_logits, mlp.slopes(params, record, direction))
        # dL/dw = -alpha / n * slopes through the look-ahead; dL/dw' = l' / n
        # through the meta batch's own weights.
        outputs, grad_outputs = [weights], [slopes * (-alpha / n)]
        if rescaling:
            outputs.append(weights_v)
            grad_outputs.append(loss_v / n_meta)
        found = torch.autograd.grad(outputs, self.rescaler_params_, grad_outputs,
                                    allow_unused=True, materialize_grads=True)
        weights = weights.detach()
        return {
            "grads": grads, "rescaler_grads": found, "logits": logits, "weights": weights,
            "inner": (weights * loss).sum(1).mean(),
            "meta": self._meta_loss(loss_v, weights_v.detach()),
        }

    def _closed_form_inner(self, X, Y):
        """The training batch's passes, weights and weighted gradient in closed form.

        Returns
        -------
        logits, record, loss, weights
            As :meth:`_closed_form_passes` returns them.
        grad_logits : Tensor
            Each unit's loss gradient in the logits (unweighted).
        grads : list of Tensor
            The weighted inner loss's gradients, zero for frozen parameters.
        """
        params = self.parameter_slots_.tensors
        logits, record, loss, weights = self._closed_form_passes(X, Y, params, self.train_memory_)
        with torch.no_grad():
            grad_logits = self.criterion_.logit_gradients(logits, Y)
            grads = _zero_frozen(
                self.closed_form_.gradients(params, record, grad_logits * (weights / len(X))),
                params)
        return logits, record, loss, weights, grad_logits, grads

    def _closed_form_passes(self, X, Y, params, memory):
        """:meth:`weighted_passes` for the built-in network, at ``params`` (a
        sequence), with pass 1's record for the closed-form derivatives.

        Returns
        -------
        logits, record, loss, weights
            Pass 1's logits, its record and unit losses (all without a
            graph), and the weights (with the rescaler's graph).
        """
        target = self.criterion_.target(Y)
        with torch.no_grad():
            all_logits, record = self.closed_form_.run(params, X, self.n_forward_passes,
                                                       self.input_dropout_)
            passes = self._pass_statistics(all_logits, target)
        loss = passes[0][0].view(len(X), -1)
        return (all_logits[:len(X)], record, loss,
                self._weigh(passes, Y, target, memory, loss.shape))

    def _directional_losses(self, X, Y, direction, rng):
        """Derivative of the batch's unit losses at the module's parameters
        along ``direction``, with pass 1's dropout masks (RNG state ``rng``)."""
        after = _rng_state(X.device)
        _set_rng_state(X.device, rng)
        with warnings.catch_warnings(), fwAD.dual_level(), self.buffer_slots_.copied():
            # torch registers its forward-mode rules on first use through
            # torch.jit.script, which warns that TorchScript is deprecated
            # (torch 2.13): nothing a user can act on.
            warnings.filterwarnings("ignore", message=".*torch.jit.script",
                                    category=DeprecationWarning)
            duals = {name: fwAD.make_dual(p.detach(), direction[name])
                     for name, p in self.module_.named_parameters()}
            with self.parameter_slots_.replaced(duals):
                logits = as_logits(self.module_(X))
            loss = self.criterion_.unit_losses(logits, self.criterion_.target(Y))
            slopes = fwAD.unpack_dual(loss).tangent
        _set_rng_state(X.device, after)
        return torch.zeros_like(loss) if slopes is None else slopes

    def _meta_loss(self, loss_v, weights_v):
        return (weights_v * loss_v if self.meta_loss_rescaling else loss_v).sum(1).mean()

    def weighted_passes(self, X, Y, params, memory):
        """Forward passes at ``params``, features and rescaler weights.

        ``params=None`` runs the module as it is: pass 1 updates batch-norm
        statistics as a normal training pass would. Otherwise the module runs
        at ``params`` (a look-ahead) and its buffers are left as they were;
        the extra passes always leave them as they were.

        Returns
        -------
        logits : Tensor
            Pass 1's logits.
        loss : Tensor of shape (n, n_units)
            Pass 1's unit losses, differentiable.
        weights : Tensor of shape (n, n_units)
        """
        target = self.criterion_.target(Y)
        logits, passes = self._forward_passes(X, target, params)
        # Only pass 1's losses need a graph; the statistics of all passes don't.
        loss = self.criterion_.unit_losses(logits, target)
        return logits, loss, self._weigh(passes, Y, target, memory, loss.shape)

    def _weigh(self, passes, Y, target, memory, shape):
        """The rescaler's weights, of ``shape`` (n, n_units), from the passes'
        statistics (which ``memory`` then remembers)."""
        criterion = self.criterion_
        groups, nets, bn = criterion.unit_ids(Y, target)
        features = memory.featurize(*passes, groups)
        return self.rescaler_(features.view(*shape, -1), nets.view(shape), bn,
                              n_bn=criterion.n_groups)

    def _forward_passes(self, X, target, params):
        """Pass 1 with its graph, passes 2..G as one batch without gradients.

        Returns pass 1's logits and the unit losses, confidences and agreement
        of all passes, each of shape (n_passes, n * n_units) and detached.
        """
        if params is None:
            logits, extra = self._run_passes(X, look_ahead=False)
        else:
            with self.parameter_slots_.replaced(params):
                logits, extra = self._run_passes(X, look_ahead=True)
        with torch.no_grad():
            # No graph is recorded here, so nothing needs detaching.
            return logits, self._pass_statistics(torch.cat([logits, extra]), target)

    def _pass_statistics(self, all_logits, target):
        """Unit losses, confidences and agreement of all passes (logits of
        pass 1 first), each of shape (n_passes, n * n_units); call without a
        graph."""
        all_target = _tile(target, self.n_forward_passes)
        losses = self.criterion_.unit_losses(all_logits, all_target)
        confidence, correct = self.criterion_.unit_agreement(all_logits, all_target)
        return [t.view(self.n_forward_passes, -1) for t in (losses, confidence, correct)]

    def _run_passes(self, X, look_ahead):
        """Pass 1 with its graph, then the extra dropout passes as one batch.

        Each row of the extra batch draws its own dropout mask, so it equals
        ``n_forward_passes - 1`` separate passes (with batch norm, up to the
        batch statistics). Only pass 1 outside a look-ahead updates the
        module's buffers (batch-norm statistics), as a training pass does;
        the other passes update copies.
        """
        if self.trunk_head_ is not None:
            return self._run_heads(X)
        buffers = self.buffer_slots_
        with buffers.copied() if look_ahead else contextlib.nullcontext():
            logits = as_logits(self.module_(X))
        with torch.no_grad(), buffers.copied():
            Xe = _tile(X, self.n_forward_passes - 1)
            if self.input_dropout_:
                Xe = F.dropout(Xe, self.input_dropout_)
            extra = as_logits(self.module_(Xe))
        return logits, extra

    def _run_heads(self, X):
        """:meth:`_run_passes` for an :class:`MLPNetwork` with dropout: its
        deterministic trunk runs once, the passes differ only in the head.

        The masks are drawn in the same order as by separate passes, so the
        logits are the same. The network has no buffers to restore.
        """
        trunk, head = self.trunk_head_
        hidden = trunk(X)
        logits = head(hidden)
        with torch.no_grad():
            # The head's first dropout reads the copies through a broadcast
            # view (no copy) and draws a mask of the tiled shape.
            copies = hidden.expand(self.n_forward_passes - 1, *hidden.shape)
            extra = head(copies).flatten(0, 1)
        return logits, extra

    def _meta_batch(self):
        # Never more rows than the data holds: a huge batch_size on a small
        # set would otherwise allocate batch_size rows for nothing.
        n = len(self.meta_data_)
        idx = torch.randint(n, (min(self.batch_size, n),), generator=self.meta_generator_,
                            device=self.meta_generator_.device)
        Xv, yv = self.meta_data_.take(idx.to(self.device))
        return Xv, yv["y"]


class _TensorSlots:
    """Where a module keeps each of its parameters (or buffers), to run it at
    other values.

    Swapping tensors into these slots costs a few dictionary writes, while
    ``torch.func.functional_call`` sets up a reparametrisation on every call,
    which costs more than a small network's forward pass. Tied tensors (one
    tensor under several names) are swapped together.

    Parameters
    ----------
    module : torch.nn.Module
    kind : {"parameters", "buffers"}, default="parameters"
        Which of the module's tensors.

    Attributes
    ----------
    names, tensors : tuple
        The tensors' names and the tensors, in ``named_parameters`` (or
        ``named_buffers``) order.
    """

    def __init__(self, module, kind="parameters"):
        named_tensors = getattr(module, f"named_{kind}")
        named = dict(named_tensors())
        # Kept to save walking the module's tree at every step.
        self.names, self.tensors = tuple(named), tuple(named.values())
        names = {id(t): name for name, t in named.items()}
        self.slots = []
        for name, t in named_tensors(remove_duplicate=False):
            owner, _, attr = name.rpartition(".")
            registry = getattr(module.get_submodule(owner), f"_{kind}")
            self.slots.append((registry, attr, names[id(t)]))

    @contextlib.contextmanager
    def replaced(self, tensors):
        """Within the block the module uses ``tensors`` (a dict by name)."""
        saved = [registry[attr] for registry, attr, _ in self.slots]
        for registry, attr, name in self.slots:
            registry[attr] = tensors[name]
        try:
            yield
        finally:
            for (registry, attr, _), t in zip(self.slots, saved):
                registry[attr] = t

    def copied(self):
        """Within the block the module reads and updates copies of the tensors.

        For buffers: writing saved values back after a pass would change
        tensors that an earlier pass's graph saved for backward (batch norm
        saves its running statistics), and autograd refuses a tensor modified
        in place; the copies leave the originals untouched.
        """
        return self.replaced({name: t.clone() for name, t in zip(self.names, self.tensors)})


def _needs_closure(optimizer):
    """Whether ``optimizer.step`` requires its ``closure`` (as L-BFGS does)."""
    closure = inspect.signature(optimizer.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def _gradients(loss, params, **kwargs):
    """``torch.autograd.grad`` of ``loss`` in ``params``, zeros for frozen
    parameters (``requires_grad=False``, e.g. by skorch's ``Freezer``): the
    look-ahead leaves them where they are."""
    trainable = [p for p in params if p.requires_grad]
    found = iter(torch.autograd.grad(loss, trainable, **kwargs) if trainable else ())
    return [next(found) if p.requires_grad else torch.zeros_like(p) for p in params]


def _zero_frozen(grads, params):
    """``grads`` with the entries of frozen parameters zeroed (in place)."""
    for g, p in zip(grads, params):
        if not p.requires_grad:
            g.zero_()
    return grads


def _rng_state(device):
    """State of the generator that dropout on ``device`` draws from."""
    if device.type == "cpu":
        return torch.get_rng_state()
    return getattr(torch, device.type).get_rng_state(device)


def _set_rng_state(device, state):
    if device.type == "cpu":
        torch.set_rng_state(state)
    else:
        getattr(torch, device.type).set_rng_state(state, device)
