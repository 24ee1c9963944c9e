"""Prediction sets, p-values and set summaries from probabilities and a threshold.

Everything here works on float64 probabilities and the sorted calibration
scores, so the estimator only has to supply those.
"""

import numpy as np
from sklearn.utils import Bunch

from ._enumeration import (
    budget_slack,
    enumerate_flip_sets,
    flip_budgets,
    flip_rows,
    member_order,
    nonconformity,
    rescore,
)

# Samples per enumeration chunk, and the most label bytes its members may take:
# a chunk is built level by level in NumPy, so bigger is faster up to the memory
# the members take (about 30 bytes of bookkeeping plus one row of labels each).
_CHUNK_SAMPLES = 256
_CHUNK_LABEL_BYTES = 1 << 26
_NAIVE_BLOCK = 1 << 16
# predict_p_values: scores this close to a calibration score are recomputed
# exactly, so the p-value never depends on the matrix product's rounding.
_TIE_TOLERANCE = 1e-9


def p_values(calibration_scores, alpha):
    """``(#{calibration scores >= alpha} + 1) / (n_calibration + 1)``.

    Parameters
    ----------
    calibration_scores : ndarray of shape (n_calibration,)
        Sorted calibration nonconformity scores.
    alpha : ndarray
        Nonconformity scores of candidates.

    Returns
    -------
    p : ndarray of the shape of ``alpha``
        Conformal p-values.

    Examples
    --------
    >>> import numpy as np
    >>> p_values(np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.5]))
    array([0.75, 0.25])
    """
    n = calibration_scores.size
    at_least = n - np.searchsorted(calibration_scores, alpha, side="left")
    return (at_least + 1.0) / (n + 1.0)


def _chunk_size(limit, n_labels):
    """Samples per chunk when each may hold ``limit`` members of ``n_labels``."""
    return max(1, min(_CHUNK_SAMPLES, _CHUNK_LABEL_BYTES // (limit * (n_labels + 32))))


def _free_labels(proba):
    """Labels at exactly 0.5, whose value leaves every score unchanged.

    Both values have the same gap to 0.5, so flipping such a label changes no
    score, not even in the last bit. A set is then its members over the other
    labels times every combination of these ``z`` labels, combined in closed
    form rather than enumerated as ``2**z`` subsets of equal cost.
    """
    return proba == 0.5


def _exceeds(n, n_free, limit):
    """Whether ``n * 2**n_free > limit``, without overflow."""
    return n > (limit >> np.minimum(n_free, 62))


def _efficient_members(proba, threshold, measure, limit):
    best, delta, budget = flip_budgets(proba, threshold, measure)
    free = _free_labels(proba)
    # Free labels stay 0 here; _spread_free_labels sets them.
    best[free], delta[free] = 0, np.inf
    levels, labels, budget, truncated = enumerate_flip_sets(
        delta, budget, limit, budget_slack(threshold, measure))
    sample, rows = flip_rows(levels, labels, best, budget)
    return sample, rows, truncated


def _naive_members(proba, threshold, measure, limit):
    """Score all ``2**n_labels`` label-sets of each sample, in blocks."""
    n_labels = proba.shape[1]
    samples, rows = [], []
    for s, o in enumerate(proba):
        for start in range(0, 2**n_labels, _NAIVE_BLOCK):
            codes = np.arange(start, min(start + _NAIVE_BLOCK, 2**n_labels))
            block = ((codes[:, None] >> np.arange(n_labels)) & 1).astype(np.uint8)
            block = block[nonconformity(o, block, measure) <= threshold]
            samples.append(np.full(block.shape[0], s))
            rows.append(block)
    return np.concatenate(samples), np.vstack(rows), np.zeros(proba.shape[0], dtype=bool)


_FINDERS = {"efficient": _efficient_members, "naive": _naive_members}


def _first_members(proba, sample, rows, threshold, measure, limit):
    """The ``limit`` first members among candidate rows, in brute-force order."""
    alpha = rescore(proba, sample, rows, measure)
    inside = np.flatnonzero(alpha <= threshold)
    order = inside[member_order(sample[inside], alpha[inside], rows, inside)]
    counts = np.bincount(sample[order], minlength=proba.shape[0])
    rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    # One gather of the rows, after sorting and cutting: rows are the big array.
    order = order[rank < limit]
    return rows[order], alpha[order], np.minimum(counts, limit), counts > limit


def _spread_free_labels(proba, free, members, threshold, measure, limit):
    """Combine the members over the other labels with the free labels' values.

    Within a run of equal scores, label-set ``(q, j)`` (the ``q``-th member of
    the run with free labels set to the bits of ``j``) comes after every
    ``(q' <= q, j' <= j)`` in binary order, and after ``2**z`` label-sets per
    member of an earlier run. So only ``(q + 1)(j + 1)`` within the room left
    by the earlier runs can be among the first ``limit``: about ``limit``
    candidates, or ``limit * ln(limit)`` when all scores tie.
    """
    rows, alpha, counts, cut = members
    n_free = free.sum(axis=1)
    sample = np.repeat(np.arange(counts.size), counts)
    index = np.arange(sample.size)
    new_run = np.r_[True, (sample[1:] != sample[:-1]) | (alpha[1:] != alpha[:-1])]
    run_start = np.maximum.accumulate(np.where(new_run, index, 0))
    before = run_start - np.repeat(np.cumsum(counts) - counts, counts)
    shift = np.minimum(n_free[sample], 62)
    room = np.where(_exceeds(before, n_free[sample], limit), 0, limit - (before << shift))
    n_codes = np.minimum(room // (index - run_start + 1), np.left_shift(1, shift))
    parent = np.repeat(index, n_codes)
    code = np.arange(parent.size) - np.repeat(np.cumsum(n_codes) - n_codes, n_codes)
    spread = rows[parent]
    # Free labels in label order: bit b of the code sets the b-th of them.
    positions = np.argsort(~free, axis=1, kind="stable")
    for bit in range(int(code.max(initial=0)).bit_length()):
        on = np.flatnonzero((code >> bit) & 1)
        spread[on, positions[sample[parent[on]], bit]] = 1
    rows, alpha, counts, _ = _first_members(proba, sample[parent], spread, threshold, measure,
                                            limit)
    return rows, alpha, counts, cut | _exceeds(members[2], n_free, limit)


def _chunk_members(proba, threshold, measure, limit, method):
    """Members of one chunk's sets: sorted rows, their scores and sample bounds."""
    sample, rows, truncated = _FINDERS[method](proba, threshold, measure, limit)
    members = _first_members(proba, sample, rows, threshold, measure, limit)
    free = _free_labels(proba)
    if method == "efficient" and free.any():
        members = _spread_free_labels(proba, free, members, threshold, measure, limit)
    rows, alpha, counts, cut = members
    return rows, alpha, counts, truncated | cut


def label_set_members(proba, threshold, measure, limit, method):
    """Members of every sample's set, cheapest first, at most ``limit`` each.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Per-label probabilities.
    threshold : float
        Largest nonconformity a member may have.
    measure : {"euclidean", "l1"}
        Nonconformity measure.
    limit : int
        Most members kept per sample.
    method : {"efficient", "naive"}
        Level-wise enumeration, or scoring all ``2**n_labels`` label-sets.

    Returns
    -------
    rows : ndarray of shape (n_members, n_labels), dtype uint8
        Members of all sets, sample by sample, each set most conforming first.
    alpha : ndarray of shape (n_members,)
        Their scores.
    counts : ndarray of shape (n_samples,)
        Members listed per sample.
    truncated : ndarray of shape (n_samples,), dtype bool
        Samples whose set held more than ``limit`` members.

    Examples
    --------
    >>> import numpy as np
    >>> rows, alpha, counts, cut = label_set_members(
    ...     np.array([[0.9, 0.4]]), 0.75, "l1", 10, "efficient")
    >>> rows, counts, cut
    (array([[1, 0],
           [1, 1]], dtype=uint8), array([2]), array([False]))
    """
    parts = []
    step = _chunk_size(limit, proba.shape[1])
    for start in range(0, proba.shape[0], step):
        parts.append(_chunk_members(proba[start:start + step], threshold, measure, limit, method))
    if not parts:
        return (np.zeros((0, proba.shape[1]), np.uint8), np.zeros(0),
                np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def candidate_p_values(proba, Y, calibration_scores, measure):
    """Conformal p-value of every candidate label-set for every sample.

    ``alpha`` is affine in ``y`` (L1) or its square is (Euclidean, as
    ``y * y = y``), so one product per chunk scores all pairs. Scores within
    rounding of a calibration score are recomputed exactly.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Per-label probabilities.
    Y : ndarray of shape (n_candidates, n_labels)
        0/1 candidate label-sets.
    calibration_scores : ndarray of shape (n_calibration,)
        Sorted calibration scores.
    measure : {"euclidean", "l1"}
        Nonconformity measure.

    Returns
    -------
    p : ndarray of shape (n_samples, n_candidates)
        Conformal p-values.

    Examples
    --------
    >>> import numpy as np
    >>> candidate_p_values(np.array([[0.9, 0.2]]), np.array([[1, 0], [0, 1]]),
    ...                    np.array([0.5, 1.0]), "l1")
    array([[1.        , 0.33333333]])
    """
    Y = np.asarray(Y, dtype=np.float64)
    step = max(1, (1 << 22) // max(Y.shape[0], 1))
    out = []
    for start in range(0, proba.shape[0], step):
        o = proba[start:start + step]
        linear = (1.0 - 2.0 * o) @ Y.T
        if measure == "l1":
            alpha = linear + o.sum(axis=1, keepdims=True)
        else:
            alpha = np.sqrt(np.maximum(linear + (o * o).sum(axis=1, keepdims=True), 0.0))
        _rescore_near_ties(alpha, o, Y, calibration_scores, measure)
        out.append(p_values(calibration_scores, alpha))
    return np.vstack(out) if out else np.zeros((0, Y.shape[0]))


def _rescore_near_ties(alpha, proba, Y, calibration_scores, measure):
    where = np.searchsorted(calibration_scores, alpha)
    below = calibration_scores[np.clip(where - 1, 0, None)]
    above = calibration_scores[np.clip(where, None, calibration_scores.size - 1)]
    tolerance = _TIE_TOLERANCE * (1.0 + np.abs(alpha))
    near = (np.abs(alpha - below) <= tolerance) | (np.abs(alpha - above) <= tolerance)
    i, k = np.nonzero(near)
    alpha[i, k] = nonconformity(proba[i], Y[k], measure)


def _runner_up(best, delta):
    """The label-set with the second highest p-value: flip the cheapest label."""
    runner = best.copy()
    runner[np.arange(best.shape[0]), np.argmin(delta, axis=1)] ^= 1
    return runner


def _certain_flips(proba, best, delta, budget, threshold, measure):
    """Labels whose single flip is a member, checked with exact scores.

    Any member flipping label j costs at least flipping j alone, so these are
    exactly the labels on which the members disagree.
    """
    sample, label = np.nonzero(delta <= budget[:, None])
    rows = best[sample]
    rows[np.arange(sample.size), label] ^= 1
    inside = rescore(proba, sample, rows, measure) <= threshold
    uncertain = np.zeros(best.shape, dtype=bool)
    uncertain[sample[inside], label[inside]] = True
    return uncertain


def _max_flips(delta, uncertain, budget):
    costs = np.sort(np.where(uncertain, delta, np.inf), axis=1)
    return (np.cumsum(costs, axis=1) <= budget[:, None]).sum(axis=1)


def _count_members(proba, flips, threshold, measure, limit):
    """Members per sample, counted up to ``limit`` from the flip costs.

    ``flips`` is what :func:`flip_budgets` returns. The subsets whose cost
    lies within rounding of the budget get rows and their exact score, so a
    tie with ``threshold`` is decided as :func:`label_set_members` decides it.
    Free labels (:func:`_free_labels`) multiply the count by two each.
    """
    best, delta, budget = flips
    free = _free_labels(proba)
    delta = np.where(free, np.inf, delta)
    slack = budget_slack(threshold, measure)
    sure = budget - 2.0 * slack
    counts, truncated = [], []
    step = _chunk_size(limit, delta.shape[1])
    for start in range(0, delta.shape[0], step):
        chunk = slice(start, start + step)
        levels, labels, final, cut = enumerate_flip_sets(delta[chunk], budget[chunk], limit,
                                                         slack)
        n = np.zeros(final.size, dtype=np.int64)
        for level in levels:
            inside = level.cost <= final[level.sample]
            n += np.bincount(level.sample[inside], minlength=final.size)
        sample, rows = flip_rows(levels, labels, best[chunk], final, floor=sure[chunk])
        outside = rescore(proba[chunk], sample, rows, measure) > threshold
        n -= np.bincount(sample[outside], minlength=final.size)
        n_free = free[chunk].sum(axis=1)
        cut |= _exceeds(n, n_free, limit)
        counts.append(np.where(cut, limit + 1, n << np.minimum(n_free, 62)))
        truncated.append(cut)
    return np.concatenate(counts), np.concatenate(truncated)


def set_summary(proba, threshold, calibration_scores, measure, limit, allow_empty):
    """What the members of each prediction set agree on, without listing them.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Per-label probabilities.
    threshold : float
        Largest nonconformity a member may have.
    calibration_scores : ndarray of shape (n_calibration,)
        Sorted calibration scores.
    measure : {"euclidean", "l1"}
        Nonconformity measure.
    limit : int
        Sets are counted exactly up to this size.
    allow_empty : bool
        If False, an empty set holds the most likely label-set instead.

    Returns
    -------
    summary : Bunch
        See :meth:`ConformalLabelPowersetClassifier.predict_set_summary`.

    Examples
    --------
    >>> import numpy as np
    >>> s = set_summary(np.array([[0.9, 0.4]]), 0.75, np.array([0.5, 1.0]), "l1", 10, True)
    >>> s.union, s.intersection, s.n_sets
    (array([[ True,  True]]), array([[ True, False]]), array([2]))
    """
    best, delta, budget = flip_budgets(proba, threshold, measure)
    at = np.arange(best.shape[0])
    best_alpha = rescore(proba, at, best, measure)
    empty = best_alpha > threshold
    uncertain = _certain_flips(proba, best, delta, budget, threshold, measure)
    n_sets, lower_bound = _count_members(proba, (best, delta, budget), threshold, measure,
                                         limit)
    surely = best.astype(bool) & ~uncertain
    possibly = best.astype(bool) | uncertain
    if allow_empty:
        surely[empty] = possibly[empty] = False
    n_sets[empty] = 0 if allow_empty else 1
    runner_alpha = rescore(proba, at, _runner_up(best, delta), measure)
    return Bunch(
        intersection=surely,
        union=possibly,
        n_uncertain=uncertain.sum(axis=1),
        max_flips=_max_flips(delta, uncertain, budget),
        empty=empty if allow_empty else np.zeros_like(empty),
        n_sets=n_sets,
        n_sets_is_lower_bound=lower_bound,
        credibility=p_values(calibration_scores, best_alpha),
        confidence=1.0 - p_values(calibration_scores, runner_alpha),
    )
