"""Hybrid multi-label loss: class-weighted BCE + label-correlation alignment +
Jaccard-weighted supervised contrastive term (after Aslam et al., 2024)."""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from .._engine import positive_counts, sparse_corrcoef

__all__ = [
    "HybridMultiLabelLoss",
    "correlation_alignment_loss",
    "jaccard_supcon_loss",
    "weighted_bce",
]

# Below this batch size a batch correlation matrix is mostly noise.
_MIN_CORRELATION_BATCH = 4


def weighted_bce(logits, y, *, pos_weight=None, weight=None):
    """Binary cross-entropy on logits with per-label positive weights.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_labels)
        Raw scores.
    y : Tensor of shape (batch, n_labels)
        0/1 targets.
    pos_weight : Tensor of shape (n_labels,), default=None
        Weight of the positive term of each label.
    weight : Tensor of shape (batch,), default=None
        Per-sample weights; the result is ``sum(w * l) / sum(w)``, and 0 when
        every weight is 0.

    Returns
    -------
    loss : Tensor
        Scalar; equals ``F.binary_cross_entropy_with_logits`` when both weights
        are None.

    Examples
    --------
    >>> import torch
    >>> logits, y = torch.zeros(2, 3), torch.ones(2, 3)
    >>> round(float(weighted_bce(logits, y)), 4)
    0.6931
    """
    per_entry = F.binary_cross_entropy_with_logits(
        logits, y, pos_weight=pos_weight, reduction="none"
    )
    per_sample = per_entry.mean(dim=1)
    if weight is None:
        return per_sample.mean()
    return (weight * per_sample).sum() / _nonzero_total(weight)


def _nonzero_total(weight):
    """Sum of the weights, or 1 where they are all 0: a weighted sum over
    zero-weight rows is then 0, not NaN, and so is its gradient."""
    total = weight.sum()
    return torch.where(total > 0, total, 1.0)


def _batch_correlation(proba, eps, weight):
    """Pearson correlation of the columns of ``proba`` over the batch, with
    ``eps`` added to each variance; a weight-``w`` row counts as ``w`` rows."""
    total = _nonzero_total(weight)
    w = weight[:, None]
    centred = proba - (w * proba).sum(dim=0, keepdim=True) / total
    variance = (w * centred * centred).sum(dim=0) / total
    # Standardising the (batch, labels) columns first leaves a single
    # (labels, labels) operation, the product: with hundreds of labels the
    # square matrices, not the batch, are the cost.
    standard = centred * torch.sqrt(w) / torch.sqrt((variance + eps) * total)
    return standard.T @ standard


def correlation_alignment_loss(proba, label_correlation, *, mode="align", eps=1e-2,
                               weight=None):
    """Penalty for predictions whose label correlations differ from the data's.

    Parameters
    ----------
    proba : Tensor of shape (batch, n_labels)
        Predicted probabilities.
    label_correlation : Tensor of shape (n_labels, n_labels)
        Phi (Pearson) correlation of the training label columns.
    mode : {"align", "smooth"}, default="align"
        ``"align"``: mean squared gap, over label pairs, between the batch
        correlation of ``proba`` and ``label_correlation`` (0 for batches under
        4 rows). ``"smooth"``: ``mean_b sum_jk A_jk (p_bj - p_bk)**2`` with ``A``
        the positive correlations normalised to sum to one (kept for comparison;
        it hurt in our prototype).
    eps : float, default=1e-2
        Added to the predicted variances. It keeps constant columns finite and,
        more importantly, damps the gradient when predictions barely vary
        within a batch, as early in training: with 1e-4 that gradient swamped
        the BCE term on one-hot targets (3 Gaussian blobs: training accuracy
        0.67 with 1e-4, 1.0 with 1e-2).
    weight : Tensor of shape (batch,), default=None
        Per-sample weights: a weight-``w`` row counts as ``w`` rows in the
        batch correlation ("align") or the mean over rows ("smooth"); a batch
        with fewer than 4 rows of positive weight gives 0 in "align".

    Returns
    -------
    loss : Tensor
        Scalar on the device of ``proba``.

    Examples
    --------
    >>> import torch
    >>> proba = torch.tensor([[0.9, 0.8], [0.1, 0.2], [0.8, 0.9], [0.2, 0.1]])
    >>> float(correlation_alignment_loss(proba, torch.eye(2))) > 0.5
    True
    """
    n_labels = proba.shape[1]
    if n_labels < 2 or (mode == "align" and proba.shape[0] < _MIN_CORRELATION_BATCH):
        return proba.new_zeros(())
    if weight is None:
        weight = proba.new_ones(proba.shape[0])
    if mode == "smooth":
        return _smoothness(proba, label_correlation, weight)
    correlation = _batch_correlation(proba, eps, weight)
    # All squared gaps, less the diagonal's: no (labels, labels) mask.
    squared_gaps = F.mse_loss(correlation, label_correlation, reduction="sum")
    diagonal_gaps = torch.diagonal(correlation) - torch.diagonal(label_correlation)
    loss = (squared_gaps - diagonal_gaps.square().sum()) / (n_labels * (n_labels - 1))
    # Counted on the device: no host synchronisation.
    return loss * ((weight > 0).sum() >= _MIN_CORRELATION_BATCH)


def _smoothness(proba, label_correlation, weight):
    """``mean_b sum_jk A_jk (p_bj - p_bk)**2``, ``A`` the off-diagonal positive
    correlations normalised to sum to one, the mean weighted by ``weight``."""
    # The diagonal is zeroed, not left to cancel below: its rounding residue,
    # divided by a near-zero total, would swamp a penalty that should be 0
    # (labels without positive correlations, e.g. mutually exclusive ones).
    affinity = torch.relu(label_correlation)
    affinity = torch.diagonal_scatter(affinity, affinity.new_zeros(affinity.shape[0]))
    total = affinity.sum().clamp_min(1e-12)
    # sum_jk A_jk (p_j - p_k)**2 = sum_j p_j**2 (rowsum_j + colsum_j) - 2 p^T A p:
    # no (batch, labels, labels) tensor of gaps.
    squares = (proba * proba) @ (affinity.sum(1) + affinity.sum(0))
    cross = ((proba @ affinity) * proba).sum(1)
    per_row = squares - 2 * cross
    return (weight * per_row).sum() / _nonzero_total(weight) / total


def jaccard_supcon_loss(embedding, y, *, temperature=0.1, weight=None):
    """Supervised contrastive loss with pairs weighted by label-set Jaccard.

    Each anchor ``i`` pulls every other sample ``j`` in proportion to
    ``J_ij = |y_i & y_j| / |y_i | y_j|``; on one-hot labels this is SupCon.

    Parameters
    ----------
    embedding : Tensor of shape (batch, dim)
        Projection-head output; it is L2-normalised here.
    y : Tensor of shape (batch, n_labels)
        0/1 targets.
    temperature : float, default=0.1
        Softmax temperature.
    weight : Tensor of shape (batch,), default=None
        Per-sample weights: a weight-``w`` row counts as ``w`` rows, as a
        partner (in the softmax and the Jaccard weights) and as an anchor; a
        zero-weight row has no influence.

    Returns
    -------
    loss : Tensor
        Mean over anchors that share a label with some other sample; 0 if none.

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> float(jaccard_supcon_loss(z, y)) < float(jaccard_supcon_loss(z, y.flip(0)))
    True
    """
    batch = embedding.shape[0]
    if batch < 2:
        return embedding.new_zeros(())
    z = F.normalize(embedding, dim=1)
    similarity = z @ z.T / temperature
    others = ~torch.eye(batch, dtype=torch.bool, device=embedding.device)
    # Subtracting the (detached) row maximum keeps exp() finite; it cancels out.
    similarity = similarity - similarity.masked_fill(~others, -torch.inf).amax(
        dim=1, keepdim=True
    ).detach()
    y = y.to(embedding.dtype)
    intersection = y @ y.T
    union = y.sum(dim=1, keepdim=True) + y.sum(dim=1) - intersection
    jaccard = torch.where(union > 0, intersection / union.clamp_min(1), 0.0) * others
    if weight is None:
        weight = embedding.new_ones(batch)
    # A weight-w partner counts as w partners, an anchor weighs its weight.
    partners = others & (weight > 0)
    # Non-partners take the lowest finite value, not -inf: an anchor without
    # any partner then has a finite normaliser, so no NaN gradient.
    lowest = torch.finfo(similarity.dtype).min
    log_norm = torch.logsumexp(
        (similarity + torch.log(weight)).masked_fill(~partners, lowest), dim=1, keepdim=True
    )
    log_q = (similarity - log_norm).masked_fill(~partners, 0.0)
    jaccard = jaccard * weight
    mass = jaccard.sum(dim=1)
    anchors = (mass > 0) & (weight > 0)
    per_anchor = -(jaccard * log_q).sum(dim=1) / mass.clamp_min(1e-12)
    anchor_weight = weight * anchors
    return (anchor_weight * torch.where(anchors, per_anchor, 0.0)).sum() / _nonzero_total(
        anchor_weight)


def _positive_weights(Y, sample_weight, class_weight, max_pos_weight):
    """``((N - n_c) / n_c) ** g`` per label, a weight-``w`` row counting as ``w``
    rows in ``N`` and ``n_c``."""
    if class_weight is None:
        return np.ones(Y.shape[1])
    positives = positive_counts(Y, sample_weight)
    # Clipped at 0: for a label positive in every row the two sums, added in
    # different orders, can differ in the last bit (sqrt of -1e-16 warned).
    negatives = np.maximum(sample_weight.sum(dtype=np.float64) - positives, 0.0)
    exponent = 0.5 if class_weight == "sqrt" else 1.0
    # A label positive only in zero-weight rows has no positive mass: its
    # ratio is unbounded, so it takes the cap.
    ratio = np.divide(negatives, positives, out=np.full(Y.shape[1], np.inf),
                      where=positives > 0)
    weights = np.clip(ratio**exponent, 1.0 / max_pos_weight, max_pos_weight)
    # A label positive in every row has no negatives to balance against; the
    # formula would give it the floor weight, so little would be learnt for it
    # (measured on CUDA: mean probability .33 for an always-positive label).
    # Counted exactly over the rows that weigh, not from the rounded sums.
    counted = sample_weight > 0
    always = positive_counts(Y, counted) == np.count_nonzero(counted)
    return np.where(always, 1.0, weights)


def _phi_correlation(Y, sample_weight):
    # A constant label's correlations are NaN: it correlates with nothing.
    correlation = np.nan_to_num(sparse_corrcoef(Y, sample_weight), nan=0.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation


class HybridMultiLabelLoss(nn.Module):
    """Class-weighted BCE + label-correlation term + contrastive term.

    ``loss = bce + corr_weight * corr + contrastive_weight * con`` (see
    :func:`weighted_bce`, :func:`correlation_alignment_loss`,
    :func:`jaccard_supcon_loss`). The network may return logits or
    ``(logits, embedding)``; the contrastive term needs the embedding.

    Parameters
    ----------
    pos_weight : array-like of shape (n_labels,), default=None
        Positive weight per label; None for plain BCE.
    label_correlation : array-like of shape (n_labels, n_labels), default=None
        Target label correlation; required when ``corr_weight > 0``.
    corr_weight : float, default=1.0
        Weight of the correlation term.
    corr_mode : {"align", "smooth"}, default="align"
        Form of the correlation term.
    contrastive_weight : float, default=0.1
        Weight of the contrastive term.
    temperature : float, default=0.1
        Temperature of the contrastive term.
    max_contrastive_rows : int, default=2048
        The contrastive term compares every pair of rows, about ``36 * B**2``
        bytes for a batch of ``B`` (9 GB at 16,000 rows). Larger batches use
        their first ``max_contrastive_rows`` rows for it, a random subset since
        batches are shuffled.

    Attributes
    ----------
    last_components_ : dict of str to Tensor
        Detached values of ``loss_bce``, ``loss_corr`` and ``loss_con`` from the
        last call (a term with weight 0 logs exactly 0).

    Examples
    --------
    >>> import numpy as np, torch
    >>> Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> loss = HybridMultiLabelLoss.from_labels(Y)
    >>> value = loss((torch.zeros(4, 2), torch.randn(4, 8)), torch.tensor(Y, dtype=torch.float32))
    >>> sorted(loss.last_components_)
    ['loss_bce', 'loss_con', 'loss_corr']
    """

    def __init__(
        self,
        pos_weight=None,
        label_correlation=None,
        *,
        corr_weight=1.0,
        corr_mode="align",
        contrastive_weight=0.1,
        temperature=0.1,
        max_contrastive_rows=2048,
    ):
        super().__init__()
        if corr_weight > 0 and label_correlation is None:
            raise ValueError("corr_weight > 0 needs label_correlation; use from_labels(Y).")
        # Buffers, so that skorch moving the criterion to a device moves them too.
        self.register_buffer("pos_weight", _as_tensor(pos_weight))
        self.register_buffer("label_correlation", _as_tensor(label_correlation))
        self.corr_weight = corr_weight
        self.corr_mode = corr_mode
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.max_contrastive_rows = max_contrastive_rows
        self.last_components_ = {}
        self._warned_without_embedding = False

    @classmethod
    def from_labels(cls, Y, *, sample_weight=None, class_weight="sqrt", max_pos_weight=100.0,
                    **kwargs):
        """Build the loss from training labels.

        Parameters
        ----------
        Y : {array-like, sparse matrix} of shape (n_samples, n_labels)
            0/1 training labels; a sparse matrix is not densified.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the statistics: a weight-``w`` row counts as ``w``
            rows in the positive weights and in the correlation, a zero-weight
            row not at all. None weighs every row 1.
        class_weight : {"sqrt", "balanced"} or None, default="sqrt"
            ``pos_weight = min(((N - n_c) / n_c) ** g, max_pos_weight)`` with
            ``g = 1/2`` ("sqrt") or 1 ("balanced"); None for no weighting.
        max_pos_weight : float, default=100.0
            Cap on the positive weights.
        **kwargs : dict
            Other arguments of :class:`HybridMultiLabelLoss`.

        Returns
        -------
        loss : HybridMultiLabelLoss
            The loss with ``pos_weight`` and ``label_correlation`` set.
        """
        # The statistics come from the sparse form either way: a dense float64
        # copy and np.corrcoef's centred copy would cost 16 bytes per entry.
        Y = sp.csr_matrix(Y, dtype=np.float64)
        if sample_weight is None:
            sample_weight = np.ones(Y.shape[0])
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if (sample_weight.shape != (Y.shape[0],) or not np.isfinite(sample_weight).all()
                or (sample_weight < 0).any() or not sample_weight.any()):
            raise ValueError(
                f"sample_weight must hold one finite, non-negative weight per row of Y "
                f"({Y.shape[0]}), at least one of them positive; got shape "
                f"{sample_weight.shape}, values from {sample_weight.min(initial=np.inf)} "
                f"to {sample_weight.max(initial=-np.inf)}."
            )
        return cls(
            _positive_weights(Y, sample_weight, class_weight, max_pos_weight),
            _phi_correlation(Y, sample_weight),
            **kwargs,
        )

    def forward(self, output, y, weight=None):
        """Hybrid loss of one batch.

        Parameters
        ----------
        output : Tensor or tuple of (Tensor, Tensor)
            Logits of shape (batch, n_labels), or ``(logits, embedding)``.
        y : Tensor of shape (batch, n_labels)
            0/1 targets.
        weight : Tensor of shape (batch,), default=None
            Per-sample weights of every term: a weight-``w`` row counts as
            ``w`` rows in the BCE mean, the batch correlation and the
            contrastive pairs, and a zero-weight row has no influence.

        Returns
        -------
        loss : Tensor
            Scalar loss.
        """
        logits, embedding = output if isinstance(output, (tuple, list)) else (output, None)
        bce = weighted_bce(logits, y, pos_weight=self.pos_weight, weight=weight)
        zero = logits.new_zeros(())
        corr = zero
        if self.corr_weight > 0:
            corr = correlation_alignment_loss(
                torch.sigmoid(logits), self.label_correlation.to(logits.dtype),
                mode=self.corr_mode, weight=weight,
            )
        con = zero
        if self.contrastive_weight > 0 and embedding is not None:
            rows = self.max_contrastive_rows
            con = jaccard_supcon_loss(embedding[:rows], y[:rows], temperature=self.temperature,
                                      weight=None if weight is None else weight[:rows])
        elif self.contrastive_weight > 0 and not self._warned_without_embedding:
            self._warned_without_embedding = True  # once per loss, not per batch
            warnings.warn(
                f"contrastive_weight={self.contrastive_weight} has no effect: the network "
                "returns logits only. Return (logits, embedding) from its forward for the "
                "contrastive term, or set contrastive_weight=0.",
                UserWarning,
                stacklevel=2,
            )
        self.last_components_ = {
            "loss_bce": bce.detach(),
            "loss_corr": corr.detach(),
            "loss_con": con.detach(),
        }
        return bce + self.corr_weight * corr + self.contrastive_weight * con


def _as_tensor(values):
    if values is None:
        return None
    return torch.as_tensor(np.asarray(values), dtype=torch.float32)
