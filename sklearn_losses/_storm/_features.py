"""STORM's per-sample features: loss and confidence statistics against recent samples.

Each unit (a sample, or a (sample, label) entry) is described by the mean and
spread of its loss and of its confidence over several dropout passes, compared
with recent units of the same noisy class and agreement: their group means and
spreads, and how far the unit's loss distribution lies from the group's
(Gaussian KL divergence and overlap). All of it is a handful of matrix
products over a fixed-size ring buffer, so nothing reads a value back to the
host.
"""

import numpy as np
import torch

__all__ = ["FeatureMemory", "N_FEATURES", "gaussian_kl_overlap", "one_hot"]

N_FEATURES = 19
# Below this a standard deviation counts as zero (spec: KL is 0 when a std is 0).
_TINY_STD = 1e-8


def one_hot(ids, n, dtype):
    """Membership matrix of shape (len(ids), n); an id outside [0, n) gives a zero row."""
    return (ids[:, None] == torch.arange(n, device=ids.device)).to(dtype)


def gaussian_kl_overlap(mean_p, std_p, mean_q, std_q):
    """KL divergence and overlap coefficient of two normal densities, elementwise.

    ``KL(N(mean_p, std_p) || N(mean_q, std_q))`` is 0 and the overlap 1 when a
    std is 0 (no evidence of a difference). The overlap is the area under
    ``min(pdf_p, pdf_q)``. The densities cross at the roots of
    ``a x^2 - 2 C x + c``; between the roots one density lies below the other,
    which gives the area from the normal CDF. The roots are taken in the form
    that stays accurate as the spreads become equal (``a -> 0``): one root
    goes to infinity and drops out, the other tends to the midpoint.

    Parameters
    ----------
    mean_p, std_p, mean_q, std_q : Tensor
        Parameters of the same shape.

    Returns
    -------
    kl, overlap : Tensor
    """
    valid = (std_p > _TINY_STD) & (std_q > _TINY_STD)
    # Invalid entries are overwritten below; the clamp only keeps them finite.
    s1, s2 = std_p.clamp(min=_TINY_STD), std_q.clamp(min=_TINY_STD)
    v1, v2 = s1.square(), s2.square()
    log_ratio = torch.log(s2 / s1)
    gap2 = (mean_q - mean_p).square()
    kl = torch.addcdiv(log_ratio - 0.5, v1 + gap2, v2, value=0.5)
    a = v2 - v1
    p_term, q_term = mean_p * v2, mean_q * v1
    C = p_term - q_term
    c = torch.addcmul(mean_p * p_term - mean_q * q_term, v1 * v2, log_ratio, value=-2)
    root = s1 * s2 * torch.sqrt(torch.addcmul(gap2, a, log_ratio, value=2))
    pivot = C + torch.copysign(root, C)
    crossings = torch.stack([pivot / a, c / pivot])
    # z[r, k]: crossing r standardised under density k (p, q), over sqrt 2,
    # so that a difference of normal CDFs is a difference of erf over 2.
    z = (crossings[:, None] - torch.stack([mean_p, mean_q])) / (np.sqrt(2) * torch.stack([s1, s2]))
    erf = torch.special.erf(z)
    # NaN only for identical densities (pivot = 0): they overlap fully.
    gaps = (erf[:, 1] - erf[:, 0]).abs().sum(0)
    overlap = torch.sub(1, gaps, alpha=0.5).nan_to_num(1.0).clamp(0.0, 1.0)
    return torch.where(valid, kl, 0.0), torch.where(valid, overlap, 1.0)


# --------------------------------------------------------------------------- #
# feature memory
# --------------------------------------------------------------------------- #
class FeatureMemory:
    """Recent per-sample statistics per noisy class, turned into 19 features.

    A ring buffer of ``size`` slots per group, allocated on the first call on
    the data's device. Its shape never changes, so remembering and forgetting
    need no data-dependent indexing (which would synchronise with a GPU).
    Each slot holds a unit's four statistics followed by its 0/1 membership
    of the ``2 * n_groups`` statistics groups (noisy group, agreement); an
    unused slot belongs to none. Group sums are then one matrix product with
    the membership columns, for the batch and the memory at once.

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

    def _allocate(self, like):
        # One spare slot at the end takes the rows that do not fit; it is
        # never read.
        self.rows = like.new_zeros(self.n_groups * self.size + 1, 4 + 2 * self.n_groups)
        self.group_ids = torch.arange(2 * self.n_groups, device=like.device)
        # Slot of each group's newest row, so the next one goes one further.
        self.tail = torch.full((self.n_groups,), self.size - 1, device=like.device)

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
        n_passes, n = loss.shape
        if self.rows is None:
            self._allocate(loss)
        std, mean = torch.std_mean(torch.stack([loss, confidence], 2), dim=0)
        # The majority of passes predict the label; an exact tie defers to pass 1.
        agrees = 2 * correct.sum(0) + correct[0] > n_passes
        # Columns: mean, std of the loss; of the confidence; group membership.
        batch = torch.cat([torch.stack([mean, std], 2).view(n, 4),
                           (2 * groups + agrees)[:, None] == self.group_ids], 1)
        rows = torch.cat([batch, self.rows[:-1]])
        values, members = rows[:, :4], rows[:, 4:]
        counts = members.sum(0)
        average = members.T / counts.clamp(min=1)[:, None]
        # Each row's group mean of the mean and of the std of the loss: the
        # reference normal its KL divergence and overlap are measured against.
        centre = members @ (average @ values[:, :2])
        kl, overlap = gaussian_kl_overlap(values[:, 0], values[:, 1], centre[:, 0], centre[:, 1])
        scores = torch.cat([values, torch.stack([kl, overlap], 1)], 1)
        group_mean = average @ scores
        # Unbiased std; a group of one row has spread 0 and gets 1e-8.
        spread = average @ (scores - members @ group_mean).square()
        unbiased = counts / (counts - 1).clamp(min=1)
        group_std = (spread * unbiased[:, None]).sqrt().clamp(min=_TINY_STD)
        moments = members[:n] @ torch.cat([group_mean, group_std], 1)
        features = torch.stack([scores[:n], moments[:, :6], moments[:, 6:]], 2).view(n, 18)
        self._remember(batch, groups)
        return torch.cat([features, agrees[:, None]], 1)

    def _remember(self, batch, groups):
        # A unit's rank among this batch's units of its group picks its slot
        # after the group's newest; units beyond ``size`` go to the spare slot.
        in_group = batch[:, 4:].view(len(batch), self.n_groups, 2).sum(2)
        seen = in_group.cumsum(0)
        rank = (seen * in_group).sum(1).long()
        slot = torch.add((self.tail[groups] + rank) % self.size, groups, alpha=self.size)
        self.rows[torch.where(rank <= self.size, slot, len(self.rows) - 1)] = batch
        self.tail = (self.tail + seen[-1].long()) % self.size
