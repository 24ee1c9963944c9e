"""STORM's per-sample features: loss and confidence statistics against recent samples.

Each unit (a sample, or a (sample, label) entry) is described by the mean and
spread of its loss and of its confidence over several dropout passes, compared
with recent units of the same noisy class and agreement: their group means and
spreads, and how far the unit's loss distribution lies from the group's
(Gaussian KL divergence and overlap). All of it is a handful of matrix
products over a fixed-size ring buffer, so nothing reads a value back to the
host.
"""

import torch

__all__ = ["FeatureMemory", "N_FEATURES", "gaussian_kl_overlap"]

N_FEATURES = 19
# Below this a standard deviation counts as zero (spec: KL is 0 when a std is 0).
_TINY_STD = 1e-8
_SQRT_HALF = 0.5 ** 0.5
# Up to this many units torch.std_mean is the faster (see _std_mean_over_passes).
_MAX_UNITS_STD_MEAN = 64


def gaussian_kl_overlap(mean_p, std_p, mean_q, std_q):
    """KL divergence and overlap coefficient of two normal densities, elementwise.

    ``KL(N(mean_p, std_p) || N(mean_q, std_q))`` is 0 and the overlap 1 when a
    std is 0 (no evidence of a difference). The overlap is the area under
    ``min(pdf_p, pdf_q)``.

    Parameters
    ----------
    mean_p, std_p, mean_q, std_q : Tensor
        Parameters of the same shape.

    Returns
    -------
    kl, overlap : Tensor
    """
    kl, overlap = torch.empty_like(mean_p), torch.empty_like(mean_p)
    _kl_overlap(mean_q - mean_p, std_q - std_p, std_p, std_q, kl, overlap)
    return kl, overlap


def _kl_overlap(mean_gap, std_gap, std_p, std_q, kl, overlap):
    """Write KL divergence and overlap of ``N(p)`` and ``N(q)`` into ``kl`` and ``overlap``.

    Takes the differences ``q - p`` of the means and of the stds, so that they
    need not be formed twice in :class:`FeatureMemory`. Both quantities are
    computed with ``q`` standardised under ``p``: mean ``d`` and spread
    ``rho = 1 + e``. Where a std is 0 (below 1e-8), ``d = e = 0`` describes
    identical densities, which gives KL 0 and overlap 1 with no masking at the
    end. The densities cross at the roots of ``a t^2 + 2 d t - c``
    (``a = rho^2 - 1 = e (e + 2)``, accurate as the spreads become equal),
    taken in the form that stays accurate as ``a -> 0``: one root goes to
    infinity and drops out, the other tends to the midpoint. The overlap is
    one minus the total variation distance, which is the sum of ``|CDF_p -
    CDF_q|`` at the two crossings; as that difference has opposite signs
    there, the sum is the absolute difference of its two values.
    """
    valid = torch.minimum(std_p, std_q) > _TINY_STD
    scale = valid / std_p.clamp(min=_TINY_STD)
    d, e = mean_gap * scale, std_gap * scale
    log_rho = torch.log1p(e)
    rho = e + 1
    a = torch.addcmul(e, e, rho)
    d2 = d * d
    rho2 = a + 1
    torch.addcdiv(log_rho, d2 - a, rho2, value=0.5, out=kl)
    disc = torch.addcmul(d2, a, log_rho, value=2)
    pivot = d + torch.copysign(torch.sqrt(rho2 * disc), d)
    # The two crossings in p's standard units; then in p's (row 0) and in
    # q's (row 1), over sqrt 2.
    t = torch.stack([pivot / -a, torch.add(disc, log_rho, alpha=2) / pivot])
    z = torch.stack([t, (t - d) / rho]) * _SQRT_HALF
    # erf = 2 CDF - 1, so half the difference of erfs is the CDFs' difference.
    cdf_gaps = torch.sub(*torch.special.erf(z).unbind())
    # NaN only for identical densities (pivot = 0): they overlap fully.
    total_variation = torch.sub(*cdf_gaps.unbind()).abs()
    torch.nan_to_num(torch.rsub(total_variation, 1, alpha=0.5).clamp(min=0.0), 1.0, out=overlap)


def _std_mean_over_passes(statistics):
    """Unbiased std and mean over the first dimension (the passes).

    torch's CPU ``std_mean`` over a short leading dimension costs about half a
    microsecond per output element: beyond a few dozen units (one weight per
    label, large batches) these few operations are several times faster;
    below, the single call is.
    """
    if statistics.shape[1] <= _MAX_UNITS_STD_MEAN:
        return torch.std_mean(statistics, dim=0)
    # Shifted by pass 1, so that identical passes give a std of exactly 0
    # (their mean, rounded, need not equal them), as std_mean does.
    first = statistics[0]
    shifted = statistics - first
    shift = shifted.mean(0)
    deviation = shifted - shift
    return (deviation * deviation).sum(0).div_(len(statistics) - 1).sqrt_(), shift.add_(first)


def _group_sums(X, members):
    """Column sums of ``X`` (rows, k) per group, shape (groups, k), with
    ``members`` the (rows, groups) 0/1 membership.

    Written as ``(X.T @ members).T`` and made contiguous for the gathers that
    follow: on the CPU this takes about half the time of ``members.T @ X``
    with a few thousand rows (one weight per label) and a tenth less with a
    few hundred.
    """
    return (X.T @ members).T.contiguous()


# --------------------------------------------------------------------------- #
# feature memory
# --------------------------------------------------------------------------- #
# Columns of the working table, one row per unit: the six scores (mean, std of
# the loss; of the confidence; KL; overlap), their group means, their group
# stds, then agreement. Memory slots use the same layout; of a remembered row
# only the four statistics are ever read. Keeping each kind together lets the
# group sums read the table in place; one column gather at the end gives the
# features' order, each score followed by its group mean and std.
_N_SCORES = 6
_KL, _OVERLAP, _AGREES = 4, 5, 18
_FEATURE_ORDER = [column for k in range(_N_SCORES) for column in (k, k + 6, k + 12)] + [_AGREES]


class FeatureMemory:
    """Recent per-sample statistics per noisy class, turned into 19 features.

    A ring buffer of ``size`` slots per group, allocated on the first call on
    the data's device (in inference mode, like all the work here). Its shape
    never changes, so remembering and forgetting need no data-dependent
    indexing (which would synchronise with a GPU).
    Each slot holds a unit's four statistics, and a parallel buffer its
    statistics group ``2 * group + agrees``; an unused slot belongs to an
    extra group that no unit has. Group sums over the batch and the memory at
    once are then a product with the 0/1 membership matrix, and a row's
    group statistics an ``index_select``.

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

    def _allocate(self, like, n):
        """Allocate (or enlarge for ``n`` units) the table of batch and memory rows.

        Rows ``[capacity - n, capacity)`` take the batch and are followed by
        the memory's ``n_groups * size`` slots and one spare slot, which takes
        the units that do not fit and is never read. So the batch and the
        memory form one table without copying, and remembering copies between
        disjoint row ranges of one buffer.
        """
        n_slots, device, first = self.n_groups * self.size, like.device, self.rows is None
        table = like.new_zeros(n + n_slots + 1, N_FEATURES)
        table_groups = torch.full((n + n_slots + 1,), 2 * self.n_groups, device=device)
        if not first:
            table[n:], table_groups[n:] = self.rows, self.row_groups
        self.capacity, self.table, self.table_groups = n, table, table_groups
        self.rows, self.row_groups = table[n:], table_groups[n:]
        if not first:
            return
        self.stat_groups = torch.arange(2 * self.n_groups + 1, device=device)
        # A statistics group's agreement, the last feature of its units.
        self.agreement = (self.stat_groups % 2).to(like.dtype)[:, None]
        self.groups = torch.arange(self.n_groups, device=device)
        self.feature_order = torch.tensor(_FEATURE_ORDER, device=device)
        # Slot of each group's newest row (modulo ``size``), so the next one
        # goes one further.
        self.newest = torch.full((self.n_groups,), self.size - 1, device=device)

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
        # Inference mode skips autograd's bookkeeping, about 15% of the cost
        # of these small operations. The memory only ever lives in it; the
        # features leave it as a copy (in their order), which autograd may
        # save for backward.
        with torch.inference_mode():
            features = self._featurize(loss, confidence, correct, groups)
        return features.index_select(1, self.feature_order)

    def _featurize(self, loss, confidence, correct, groups):
        n = loss.shape[1]
        if self.rows is None or n > self.capacity:
            self._allocate(loss, n)
        units = slice(self.capacity - n, -1)
        table, stat_groups = self.table[units], self.table_groups[units]
        batch, batch_groups = table[:n], stat_groups[:n]
        self._fill_batch(batch, batch_groups, loss, confidence, correct, groups)
        self._fill_scores(table, stat_groups, batch, batch_groups)
        self._remember(batch, batch_groups, groups)
        return batch

    @staticmethod
    def _fill_batch(rows, stat_groups, loss, confidence, correct, groups):
        """Write the batch's statistics and statistics groups (agreement in the parity)."""
        n_passes, n = loss.shape
        std, mean = _std_mean_over_passes(torch.stack([loss, confidence], 2))
        torch.stack([mean, std], 2, out=rows[:, :4].view(n, 2, 2))
        # The majority of passes predict the label. An exact tie, possible
        # only with an even number of passes, defers to pass 1: counting each
        # vote twice and pass 1's once more breaks it.
        if n_passes % 2:
            agrees = correct.sum(0) > n_passes // 2
        else:
            agrees = torch.add(correct[0], correct.sum(0), alpha=2) > n_passes
        torch.add(agrees, groups, alpha=2, out=stat_groups)

    def _fill_scores(self, table, stat_groups, batch, batch_groups):
        """Write every row's KL and overlap, and the batch's group means, stds, agreement."""
        members = torch.eq(stat_groups[:, None], self.stat_groups,
                           out=table.new_empty(len(table), len(self.stat_groups)))
        counts = members.sum(0)[:, None]
        inverse_counts = counts.clamp(min=1).reciprocal()
        # Each row's group mean of the mean and of the std of the loss: the
        # reference normal its KL divergence and overlap are measured against.
        loss_statistics = table[:, :2]
        centre = _group_sums(loss_statistics, members) * inverse_counts
        centre = centre.index_select(0, stat_groups)
        mean_gap, std_gap = (centre - loss_statistics).unbind(1)
        _kl_overlap(mean_gap, std_gap, table.select(1, 1), centre.select(1, 1),
                    table.select(1, _KL), table.select(1, _OVERLAP))
        scores = table[:, :_N_SCORES]
        mean = _group_sums(scores, members) * inverse_counts
        deviation = scores - mean.index_select(0, stat_groups)
        # Unbiased std; a group of one row has spread 0 and gets 1e-8.
        spread = _group_sums(deviation * deviation, members)
        std = (spread / (counts - 1).clamp(min=1)).sqrt().clamp(min=_TINY_STD)
        torch.index_select(torch.cat([mean, std, self.agreement], 1), 0, batch_groups,
                           out=batch[:, _N_SCORES:])

    def _remember(self, rows, stat_groups, groups):
        # A unit's rank among this batch's units of its group picks its slot
        # after the group's newest; units beyond ``size`` go to the spare slot.
        column = groups[:, None]
        seen = (column == self.groups).cumsum(0)
        rank = seen.gather(1, column).view(-1)
        slot = torch.add((self.newest.index_select(0, groups) + rank) % self.size,
                         groups, alpha=self.size)
        if len(groups) > self.size:  # else no group can overflow
            slot.masked_fill_(rank > self.size, len(self.rows) - 1)
        self.rows.index_copy_(0, slot, rows)
        self.row_groups.index_copy_(0, slot, stat_groups)
        # Counted without wrapping: the slot above takes it modulo ``size``.
        self.newest += seen[-1]
