"""STORM internals: sample features, the loss rescaler and the meta-learning step.

STORM (Heck et al., AAAI-25) learns one weight per training sample (or per
sample and label) on the fly. A small rescaler network maps features of a
sample's loss and confidence over several dropout passes to a weight in (0, 1);
it is trained by a one-step look-ahead meta objective on batches drawn from
the same noisy training set, so no clean validation data is needed.
"""

import numpy as np
import torch
import torch.nn.functional as F
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn
from torch.func import functional_call

from .._engine import TorchNet, as_logits

__all__ = ["LossRescalerNetwork", "StormCriterion", "StormNet"]

N_FEATURES = 19
_BN_EPS = 1e-5
# Below this a standard deviation counts as zero (spec: KL is 0 when a std is 0).
_TINY_STD = 1e-8


# --------------------------------------------------------------------------- #
# grouped statistics and Gaussian comparisons
# --------------------------------------------------------------------------- #
def group_mean_std(values, group_ids, n_groups):
    """Mean and unbiased std of ``values`` rows per group.

    Parameters
    ----------
    values : Tensor of shape (n, d)
    group_ids : LongTensor of shape (n,)
    n_groups : int

    Returns
    -------
    mean, std : Tensor of shape (n_groups, d)
        ``std`` is ``1e-8`` for groups with fewer than two rows.
    """
    counts = torch.bincount(group_ids, minlength=n_groups).to(values.dtype)[:, None]
    sums = values.new_zeros(n_groups, values.shape[1]).index_add_(0, group_ids, values)
    mean = sums / counts.clamp(min=1)
    squares = values.new_zeros(n_groups, values.shape[1]).index_add_(
        0, group_ids, (values - mean[group_ids]) ** 2
    )
    std = (squares / (counts - 1).clamp(min=1)).sqrt()
    return mean, torch.where(counts >= 2, std, torch.full_like(std, _TINY_STD))


def gaussian_kl(mean_p, std_p, mean_q, std_q):
    """``KL(N(mean_p, std_p) || N(mean_q, std_q))`` elementwise, 0 if a std is 0."""
    valid = (std_p > _TINY_STD) & (std_q > _TINY_STD)
    sp_ = torch.where(valid, std_p, torch.ones_like(std_p))
    sq = torch.where(valid, std_q, torch.ones_like(std_q))
    kl = torch.log(sq / sp_) + (sp_**2 + (mean_p - mean_q) ** 2) / (2 * sq**2) - 0.5
    return torch.where(valid, kl, torch.zeros_like(kl))


def gaussian_overlap(mean_p, std_p, mean_q, std_q):
    """Overlap coefficient of two normal densities, elementwise.

    The overlap is the area under ``min(pdf_p, pdf_q)``. The densities cross
    where a quadratic in ``x`` vanishes; between its roots one density lies
    below the other, which gives the area from the normal CDF. When a std is
    0 the overlap is set to 1 (no evidence of a difference, like KL = 0).
    """
    valid = (std_p > _TINY_STD) & (std_q > _TINY_STD)
    s1 = torch.where(valid, std_p, torch.ones_like(std_p))
    s2 = torch.where(valid, std_q, torch.ones_like(std_q))
    v1, v2 = s1**2, s2**2
    dv = v2 - v1
    dm = (mean_q - mean_p).abs()
    equal = dv.abs() <= 1e-6 * torch.maximum(v1, v2)
    # Equal spreads: the densities cross once, half-way between the means.
    same_spread = 2 * torch.special.ndtr(-dm / (2 * s1))
    dv_safe = torch.where(equal, torch.ones_like(dv), dv)
    root = s1 * s2 * torch.sqrt(dm**2 + dv * torch.log(v2 / v1)).nan_to_num(0.0)
    centre = mean_p * v2 - mean_q * v1
    overlap = torch.ones_like(dv)
    for x in ((centre + root) / dv_safe, (centre - root) / dv_safe):
        cdf_p = torch.special.ndtr((x - mean_p) / s1)
        cdf_q = torch.special.ndtr((x - mean_q) / s2)
        overlap = overlap - (cdf_q - cdf_p).abs()
    overlap = torch.where(equal, same_spread, overlap).clamp(0.0, 1.0)
    return torch.where(valid, overlap, torch.ones_like(overlap))


# --------------------------------------------------------------------------- #
# feature memory
# --------------------------------------------------------------------------- #
class FeatureMemory:
    """Recent per-sample statistics per noisy class, turned into 19 features.

    Parameters
    ----------
    n_groups : int
        Number of memory groups (noisy classes, or (label, value) pairs).
    size : int
        Rows kept per group (``m``).
    """

    def __init__(self, n_groups, size):
        self.n_groups = n_groups
        self.size = size
        self.rows = None
        self.groups = None

    def featurize(self, loss, confidence, correct, groups):
        """Features of the current units; the units are then remembered.

        Parameters
        ----------
        loss, confidence : Tensor of shape (n_passes, n_units)
        correct : BoolTensor of shape (n_passes, n_units)
            Whether each pass predicts the given (noisy) label.
        groups : LongTensor of shape (n_units,)

        Returns
        -------
        features : Tensor of shape (n_units, 19)
        """
        n_passes = loss.shape[0]
        hits = correct.sum(0)
        # Majority of passes agree with the label; an exact tie defers to pass 1.
        cat = (2 * hits > n_passes) | ((2 * hits == n_passes) & correct[0])
        stats = torch.stack(
            [loss.mean(0), loss.std(0), confidence.mean(0), confidence.std(0), cat.to(loss.dtype)],
            dim=1,
        )
        pool, pool_groups = stats, groups
        if self.rows is not None:
            pool = torch.cat([stats, self.rows])
            pool_groups = torch.cat([groups, self.groups])
        stat_ids = 2 * pool_groups + pool[:, 4].long()
        n_stat = 2 * self.n_groups
        mean, std = group_mean_std(pool[:, :4], stat_ids, n_stat)
        ref_mean, ref_std = mean[stat_ids, 0], mean[stat_ids, 1]
        kl = gaussian_kl(pool[:, 0], pool[:, 1], ref_mean, ref_std)
        ovl = gaussian_overlap(pool[:, 0], pool[:, 1], ref_mean, ref_std)
        div_mean, div_std = group_mean_std(torch.stack([kl, ovl], 1), stat_ids, n_stat)
        n = stats.shape[0]
        s = stat_ids[:n]
        columns = []
        for j in range(4):
            columns += [stats[:, j], mean[s, j], std[s, j]]
        columns += [kl[:n], div_mean[s, 0], div_std[s, 0]]
        columns += [ovl[:n], div_mean[s, 1], div_std[s, 1], stats[:, 4]]
        self._remember(pool, pool_groups)
        return torch.stack(columns, dim=1)

    def _remember(self, pool, pool_groups):
        # ``pool`` lists the newest rows first; keep the first ``size`` per group.
        order = torch.argsort(pool_groups, stable=True)
        sorted_groups = pool_groups[order]
        counts = torch.bincount(pool_groups, minlength=self.n_groups)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(order), device=order.device) - starts[sorted_groups]
        keep = order[rank < self.size]
        self.rows, self.groups = pool[keep], pool_groups[keep]


# --------------------------------------------------------------------------- #
# rescaler
# --------------------------------------------------------------------------- #
def _masked_batch_norm(H, bn_ids, n_bn):
    """Batch norm without affine parameters, with statistics per ``bn_ids`` group.

    ``H`` has shape (n_nets, n_units, d); statistics are per net and group.
    """
    counts = torch.bincount(bn_ids, minlength=n_bn).to(H.dtype)[None, :, None]
    sums = H.new_zeros(H.shape[0], n_bn, H.shape[2]).index_add_(1, bn_ids, H)
    mean = (sums / counts.clamp(min=1))[:, bn_ids]
    var = H.new_zeros(H.shape[0], n_bn, H.shape[2]).index_add_(1, bn_ids, (H - mean) ** 2)
    var = (var / counts.clamp(min=1))[:, bn_ids]
    return (H - mean) / torch.sqrt(var + _BN_EPS)


class LossRescalerNetwork(nn.Module):
    """STORM's loss rescaler: per-class networks mapping sample features to weights.

    Each net is ``Linear(19, 19) -> BN -> ReLU -> Linear(19, 2) -> BN -> softmax``
    with batch norm without affine parameters, always using the statistics of
    the current batch. The weight is the first softmax output. The output batch
    norm keeps the weights from collapsing to zero. All nets run as one
    batched ``einsum``; each unit takes its own net's output.

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
        self.hidden_weight = nn.Parameter(torch.randn(n_nets, n_features, n_features) * 0.02)
        self.hidden_bias = nn.Parameter(torch.zeros(n_nets, n_features))
        self.out_weight = nn.Parameter(torch.randn(n_nets, n_features, 2) * 0.02)
        self.out_bias = nn.Parameter(torch.zeros(n_nets, 2))

    def forward(self, features, net_ids, bn_ids=None, n_bn=None):
        """Weights in (0, 1) for each feature row.

        Parameters
        ----------
        features : Tensor of shape (n_units, n_features)
        net_ids : LongTensor of shape (n_units,)
            Which network scores each unit.
        bn_ids : LongTensor of shape (n_units,), default=None
            Batch-norm groups; ``None`` normalises over all units. Units in a
            group of fewer than two get weight 0.5.
        n_bn : int, default=None
            Number of batch-norm groups; ``None`` reads it from ``bn_ids``
            (which synchronises with the device).

        Returns
        -------
        weights : Tensor of shape (n_units,)
        """
        if bn_ids is None:
            bn_ids = torch.zeros_like(net_ids)
        if n_bn is None:
            n_bn = int(bn_ids.max()) + 1 if bn_ids.numel() else 1
        H = torch.einsum("cij,ni->cnj", self.hidden_weight, features)
        H = F.relu(_masked_batch_norm(H + self.hidden_bias[:, None], bn_ids, n_bn))
        H = torch.einsum("cij,cni->cnj", self.out_weight, H) + self.out_bias[:, None]
        H = _masked_batch_norm(H, bn_ids, n_bn)
        weights = torch.softmax(H, dim=-1)[..., 0]
        weights = weights[net_ids, torch.arange(len(net_ids), device=net_ids.device)]
        small = torch.bincount(bn_ids, minlength=n_bn)[bn_ids] < 2
        return torch.where(small, torch.full_like(weights, 0.5), weights)


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
    def n_groups(self):
        if self.per_label:
            return 2 * self.n_outputs
        return {"multiclass": self.n_outputs, "binary": 2, "multilabel": 1}[self.kind]

    @property
    def n_nets(self):
        if not self.class_separation:
            return 1
        return 2 if self.per_label else self.n_groups

    def unit_ids(self, Y):
        """Memory groups, rescaler nets and batch-norm groups, shape (n, n_units)."""
        if self.kind == "multiclass":
            cls = Y.argmax(1, keepdim=True)
        elif self.kind == "binary":
            cls = Y.long()
        elif self.per_label:
            cls = Y.long()
        else:
            cls = Y.new_zeros(Y.shape[0], 1, dtype=torch.long)
        groups = cls
        if self.per_label:
            labels = torch.arange(Y.shape[1], device=Y.device)[None, :]
            groups = 2 * labels + cls
        nets = cls if self.class_separation else torch.zeros_like(cls)
        if self.normalization == "class":
            bn = groups
        else:
            bn = labels.expand_as(cls) if self.per_label else torch.zeros_like(cls)
        return groups, nets, bn

    def unit_losses(self, logits, Y):
        """Loss, confidence and correctness of each unit, shape (n, n_units)."""
        if self.kind == "multiclass":
            target = Y.argmax(1)
            loss = F.cross_entropy(logits, target, reduction="none")[:, None]
            conf, pred = torch.softmax(logits.detach(), 1).max(1)
            return loss, conf[:, None], (pred == target)[:, None]
        loss = F.binary_cross_entropy_with_logits(logits, Y, reduction="none")
        proba = torch.sigmoid(logits.detach())
        conf = torch.maximum(proba, 1 - proba)
        correct = (proba > 0.5) == (Y > 0.5)
        if self.kind == "multilabel" and not self.per_label:
            # One unit per row: mean BCE and confidence; "agrees" = exact match.
            return (loss.mean(1, keepdim=True), conf.mean(1, keepdim=True),
                    correct.all(1, keepdim=True))
        return loss, conf, correct

    def forward(self, y_pred, y, weight=None):
        loss = self.unit_losses(as_logits(y_pred), y)[0].sum(1)
        if weight is None:
            return loss.mean()
        return (weight * loss).sum() / weight.sum()


# --------------------------------------------------------------------------- #
# data and net
# --------------------------------------------------------------------------- #
def _has_dropout(module):
    return any(isinstance(m, nn.modules.dropout._DropoutNd) for m in module.modules())


class StormNet(TorchNet):
    """skorch net whose training step is STORM's meta-learning step.

    Each step weights the batch's per-unit losses with the rescaler, takes a
    differentiable look-ahead SGD step of the model, scores a meta batch drawn
    uniformly from the training data at the look-ahead parameters, updates the
    rescaler from that meta loss, and updates the model with the weighted
    gradient of the current (not re-evaluated) weights.

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
    **kwargs
        Passed to ``skorch.NeuralNet``.
    """

    def __init__(self, module, criterion, *, rescaler_lr=1e-2, lookahead_lr=1e-3,
                 n_forward_passes=3, memory_size=32, extra_pass_dropout=0.1,
                 meta_loss_rescaling=True, **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.rescaler_lr = rescaler_lr
        self.lookahead_lr = lookahead_lr
        self.n_forward_passes = n_forward_passes
        self.memory_size = memory_size
        self.extra_pass_dropout = extra_pass_dropout
        self.meta_loss_rescaling = meta_loss_rescaling

    # ---- set-up --------------------------------------------------------- #
    def initialize_module(self):
        super().initialize_module()
        self.rescaler_ = LossRescalerNetwork(n_nets=self.criterion.n_nets)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        self.rescaler_optimizer_ = torch.optim.Adam(
            self.rescaler_.parameters(), lr=self.rescaler_lr
        )
        return self

    def get_all_learnable_params(self):
        # The rescaler has its own optimizer; the model's must not see it.
        yield from self.module_.named_parameters()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.train_data_ = X
        self.weight_history_ = []
        self.input_dropout_ = 0.0 if _has_dropout(self.module_) else self.extra_pass_dropout
        # Drawn from the (seeded) global torch RNG, so refits are identical.
        seed = int(torch.randint(np.iinfo(np.int32).max, (1,)))
        self.meta_generator_ = torch.Generator().manual_seed(seed)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        del self.train_data_, self.meta_generator_, self.epoch_weights_
        self.train_memory_ = self.meta_memory_ = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        self.reset_memories()
        n_units = self.criterion_.n_outputs if self.criterion_.per_label else 1
        self.epoch_weights_ = torch.full(
            (len(self.train_data_), n_units), float("nan"), device=self.device
        )

    def reset_memories(self):
        """Empty the feature memories of the training and the meta batches."""
        n_groups = self.criterion_.n_groups
        self.train_memory_ = FeatureMemory(n_groups, self.memory_size)
        self.meta_memory_ = FeatureMemory(n_groups, self.memory_size)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        weights = self.epoch_weights_.cpu().numpy()
        self.weight_history_.append(weights)
        self.history.record("mean_weight", float(np.nanmean(weights)))
        # Per noisy class (per label for multi-label): a class whose weights
        # all collapse is being silenced (spec pitfall), visible here.
        criterion, Y = self.criterion_, self.train_data_.Y_host
        if criterion.per_label:
            per_class = np.nanmean(weights, axis=0)
        elif criterion.kind == "multilabel":
            per_class = [np.nanmean(weights)]
        else:
            cls = Y.argmax(1) if criterion.kind == "multiclass" else Y[:, 0].astype(int)
            per_class = [np.nanmean(weights[cls == c]) if (cls == c).any() else np.nan
                         for c in range(criterion.n_groups)]
        self.history.record("class_mean_weight", [float(v) for v in per_class])
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    # ---- training step -------------------------------------------------- #
    def train_step(self, batch, **fit_params):
        # skorch would call the step closure once per optimizer; the model and
        # the rescaler both get their gradients from one meta step.
        self._zero_grad_optimizer()
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
        Y = yi["y"]
        Xv, Yv = self._meta_batch()
        step = self.meta_objective(X, Y, Xv, Yv)
        rescaler_params = list(self.rescaler_.parameters())
        meta_grads = torch.autograd.grad(step["meta"], rescaler_params, allow_unused=True)
        for p, g in zip(rescaler_params, meta_grads):
            p.grad = torch.zeros_like(p) if g is None else g
        # The real update uses the weights of the current rescaler (not
        # re-evaluated after its update) and the persistent optimizer.
        for p, g in zip(self.module_.parameters(), step["grads"]):
            p.grad = g.detach()
        self.epoch_weights_[yi["idx"]] = step["weights"].detach()
        return {"loss": step["inner"].detach(), "y_pred": step["logits"].detach()}

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
        params = dict(self.module_.named_parameters())
        logits, loss, weights = self.weighted_passes(X, Y, params, self.train_memory_)
        inner = (weights * loss).sum(1).mean()
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        fast = {
            name: p - self.lookahead_lr * g for (name, p), g in zip(params.items(), grads)
        }
        _, loss_v, weights_v = self.weighted_passes(
            Xv, Yv, fast, self.meta_memory_, lookahead=True
        )
        meta = (weights_v * loss_v if self.meta_loss_rescaling else loss_v).sum(1).mean()
        return {"logits": logits, "weights": weights, "inner": inner, "grads": grads,
                "fast": fast, "meta": meta}

    def weighted_passes(self, X, Y, params, memory, lookahead=False):
        """Forward passes at ``params``, features and rescaler weights.

        Pass 1 keeps the graph and, unless ``lookahead``, updates batch-norm
        statistics as a normal training pass would; the other passes run
        without gradients and leave the module's buffers as they found them.

        Returns
        -------
        logits : Tensor of pass 1
        loss : Tensor of shape (n, n_units), pass 1, differentiable
        weights : Tensor of shape (n, n_units)
        """
        criterion = self.criterion_
        saved = {k: b.clone() for k, b in self.module_.named_buffers()} if lookahead else None
        logits = as_logits(functional_call(self.module_, params, (X,)))
        loss, conf, correct = criterion.unit_losses(logits, Y)
        passes = [(loss.detach(), conf, correct)]
        if saved is None:
            saved = {k: b.clone() for k, b in self.module_.named_buffers()}
        with torch.no_grad():
            for _ in range(self.n_forward_passes - 1):
                Xg = F.dropout(X, self.input_dropout_) if self.input_dropout_ else X
                extra = as_logits(functional_call(self.module_, params, (Xg,)))
                passes.append(criterion.unit_losses(extra, Y))
        for k, b in self.module_.named_buffers():
            b.copy_(saved[k])
        losses, confs, corrects = (
            torch.stack([p[j].reshape(-1) for p in passes]) for j in range(3)
        )
        groups, nets, bn = criterion.unit_ids(Y)
        features = memory.featurize(losses, confs, corrects, groups.reshape(-1))
        weights = self.rescaler_(
            features, nets.reshape(-1), bn.reshape(-1), n_bn=criterion.n_groups
        )
        return logits, loss, weights.view_as(loss)

    def _meta_batch(self):
        # Never more rows than the data holds: a huge batch_size on a small
        # set would otherwise allocate batch_size rows for nothing.
        n = len(self.train_data_)
        idx = torch.randint(n, (min(self.batch_size, n),), generator=self.meta_generator_)
        Xv, yv = self.train_data_.take(idx.to(self.device))
        return Xv, yv["y"]

