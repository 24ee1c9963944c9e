"""Members of label-set prediction sets, listed without scoring all ``2**L``.

Both nonconformity measures are a base cost plus one cost ``delta_j`` per label
flipped away from the most likely label-set, so a set member is a subset of
flips whose costs fit a budget. Subsets are grown one flip at a time, level by
level: with the costs of a sample sorted ascending, a subset whose last flip is
``i`` can only be extended by a flip ``j > i`` whose cost still fits, and those
``j`` form one contiguous range found with ``searchsorted``. A whole level, for
a whole chunk of samples, is built with a few NumPy calls. Each subset keeps a
pointer to its parent, so the number of flippable labels is unbounded.
"""

from typing import NamedTuple

import numpy as np

# Candidates whose bound lies within this relative slack of the budget are
# re-scored exactly, so float rounding in the bound never drops a member.
PRUNE_SLACK = 1e-9
# Flip costs lie in [0, 1]. Row s of the flattened search keys holds
# ``s * _ROW_WIDTH + cost``, padded with _PAD, so one searchsorted answers a
# query per row without the rows' ranges overlapping.
_PAD = 2.0
_ROW_WIDTH = 4.0
# Rows re-scored per NumPy call: bounds the float64 temporaries to a few MB.
_RESCORE_ROWS = 1 << 15
# From this many rows of one sample, broadcasting its probabilities beats
# gathering a copy per row.
_BROADCAST_RUN = 64


def nonconformity(proba, Y, measure):
    """Nonconformity of label-sets ``Y`` for the probabilities ``proba``.

    Parameters
    ----------
    proba : ndarray of shape (n_labels,) or (n_sets, n_labels)
        Per-label probabilities, of one sample or one row per label-set.
    Y : ndarray of shape (n_sets, n_labels)
        Candidate 0/1 label-sets.
    measure : {"euclidean", "l1"}
        Distance between a label-set and ``proba``.

    Returns
    -------
    alpha : ndarray of shape (n_sets,)
        Float64 nonconformity scores; larger means stranger.

    Examples
    --------
    >>> import numpy as np
    >>> nonconformity(np.array([0.9, 0.2]), np.array([[1, 0], [0, 1]]), "l1")
    array([0.3, 1.7])
    """
    gap = np.abs(np.asarray(Y, dtype=np.float64) - proba)
    if measure == "l1":
        return gap.sum(axis=1)
    return np.sqrt((gap * gap).sum(axis=1))


def flip_budgets(proba, threshold, measure):
    """Per sample: the most likely label-set, flip costs and the budget they share.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Per-label probabilities.
    threshold : float
        Largest nonconformity a member may have.
    measure : {"euclidean", "l1"}
        Nonconformity measure.

    Returns
    -------
    best : ndarray of shape (n_samples, n_labels), dtype uint8
        ``proba >= 0.5``, the label-set of least nonconformity.
    delta : ndarray of shape (n_samples, n_labels)
        Cost of flipping each label: ``|2 proba - 1|``.
    budget : ndarray of shape (n_samples,)
        Total flip cost a member may have, with a small slack; negative when
        even ``best`` is too strange.

    Examples
    --------
    >>> import numpy as np
    >>> best, delta, budget = flip_budgets(np.array([[0.9, 0.4]]), 0.5, "l1")
    >>> best, delta.round(2), budget.round(2)
    (array([[1, 0]], dtype=uint8), array([[0.8, 0.2]]), array([0.]))
    """
    margin = np.minimum(proba, 1.0 - proba)
    # L1 splits the distance itself, Euclidean its square.
    if measure == "l1":
        base, bound = margin.sum(axis=1), threshold
    else:
        base, bound = (margin * margin).sum(axis=1), threshold * threshold
    budget = bound - base + budget_slack(threshold, measure)
    return (proba >= 0.5).astype(np.uint8), np.abs(2.0 * proba - 1.0), budget


def budget_slack(threshold, measure):
    """Slack added to the flip budgets: subsets costing less than the budget
    minus twice this are members whatever the rounding; the others need
    their exact score (:func:`rescore`).

    Parameters
    ----------
    threshold : float
        Largest nonconformity a member may have.
    measure : {"euclidean", "l1"}
        Nonconformity measure.

    Returns
    -------
    slack : float

    Examples
    --------
    >>> budget_slack(1.0, "euclidean")
    2e-09
    """
    bound = threshold if measure == "l1" else threshold * threshold
    return PRUNE_SLACK * (1.0 + abs(bound))


class _Level(NamedTuple):
    """Subsets of one size: sample, index of the last flip, parent, total cost."""

    sample: np.ndarray
    last: np.ndarray
    parent: np.ndarray
    cost: np.ndarray


class _SortedCosts:
    """Each sample's flippable labels, sorted by flip cost, with search keys."""

    def __init__(self, delta, budget):
        flippable = delta <= budget[:, None]
        width = int(flippable.sum(axis=1).max(initial=0))
        masked = np.where(flippable, delta, np.inf)
        order = np.argsort(masked, axis=1, kind="stable")[:, :width]
        costs = np.take_along_axis(masked, order, axis=1)
        self.labels = order
        self.costs = np.where(np.isfinite(costs), costs, _PAD)
        self.width = width
        rows = np.arange(delta.shape[0], dtype=np.float64)[:, None]
        self.keys = (rows * _ROW_WIDTH + self.costs).ravel()

    def n_children(self, level, budget, limit, margin):
        """How many flips each subset of ``level`` can add within ``budget``.

        Past its ``limit``-th cheapest child, a child costing more than that one
        plus ``margin`` ranks after ``limit`` members or is none, so it is left
        out; children tied with it within ``margin`` stay, as the score and
        binary order among them are only decided after exact rescoring.
        """
        room = budget[level.sample] - level.cost
        nth = level.last + limit
        capped = nth < self.width
        room[capped] = np.minimum(
            room[capped], self.costs[level.sample[capped], nth[capped]] + margin
        )
        room = np.clip(room, -0.5, 1.5)
        end = np.searchsorted(self.keys, level.sample * _ROW_WIDTH + room, side="right")
        return np.maximum(end - level.sample * self.width - level.last - 1, 0)

    def children(self, level, n_children):
        """The next level: every subset of ``level`` extended by one allowed flip."""
        parent = np.repeat(np.arange(n_children.size), n_children)
        start = np.cumsum(n_children) - n_children
        last = level.last[parent] + 1 + np.arange(parent.size) - start[parent]
        sample = level.sample[parent]
        cost = level.cost[parent] + self.costs[sample, last]
        return _Level(sample, last, parent, cost)


def _limit_budgets(levels, found, candidate, budget, sure, limit, margin):
    """Lower the budget of samples with more than ``limit`` certain members.

    A subset costing at most ``sure`` is a member whatever the rounding. Once
    more than ``limit`` such subsets are known (those already in ``levels``,
    counted per sample in ``found``, and those certainly present in
    ``candidate``), a subset costing more than the ``limit``-th of them plus
    ``margin`` ranks after ``limit`` members, so it is neither listed nor
    needed to know that the set was cut. Returns the samples whose set is
    certainly larger than ``limit``.
    """
    certain = candidate.cost <= sure[candidate.sample]
    in_view = found + np.bincount(candidate.sample[certain], minlength=found.size)
    crowded = np.flatnonzero(in_view > limit)
    if crowded.size == 0:
        return crowded
    sample = np.concatenate([lv.sample for lv in levels] + [candidate.sample])
    cost = np.concatenate([lv.cost for lv in levels] + [candidate.cost])
    certain = cost <= sure[sample]
    sample, cost = sample[certain], cost[certain]
    for s in crowded:
        kth = np.partition(cost[sample == s], limit - 1)[limit - 1]
        budget[s] = min(budget[s], kth + margin)
    return crowded


def enumerate_flip_sets(delta, budget, limit, slack):
    """All subsets of flips whose total cost fits each sample's budget.

    Parameters
    ----------
    delta : ndarray of shape (n_samples, n_labels)
        Flip costs, in [0, 1]; an infinite cost keeps its label unflipped.
    budget : ndarray of shape (n_samples,)
        Largest total cost per sample, ``slack`` included; negative means no
        subset, not even the empty one.
    limit : int
        Past this many members for a sample, keep (at least) its ``limit``
        most conforming: children of a subset cost more than it, so pruning
        the expensive ones never loses a cheap one.
    slack : float
        :func:`budget_slack`: subsets costing at most ``budget - 2 * slack``
        are members, and costs further apart than ``2 * slack`` order the
        exact scores the same way.

    Returns
    -------
    levels : list of _Level
        Subsets by size; level 0 is the empty subset of each sample that has one.
        A subset may cost more than its sample's final budget; callers filter.
    labels : ndarray of shape (n_samples, width)
        ``labels[s, i]`` is the label that flip ``i`` of sample ``s`` changes.
    budget : ndarray of shape (n_samples,)
        Final budgets, lowered for the samples with more than ``limit`` members.
    truncated : ndarray of shape (n_samples,), dtype bool
        Samples certainly with more than ``limit`` members. A set may still
        prove larger than ``limit`` once its subsets are rescored.

    Examples
    --------
    >>> import numpy as np
    >>> levels, labels, _, _ = enumerate_flip_sets(
    ...     np.array([[0.1, 0.9, 0.2]]), np.array([0.35]), limit=10, slack=1e-9)
    >>> [lv.cost.round(2).tolist() for lv in levels]
    [[0.0], [0.1, 0.2], [0.3]]
    >>> labels
    array([[0, 2]])
    """
    budget = budget.astype(np.float64)
    sure, margin = budget - 2.0 * slack, 2.0 * slack
    costs = _SortedCosts(delta, budget)
    alive = np.flatnonzero(budget >= 0)
    level = _Level(alive, np.full(alive.size, -1), np.full(alive.size, -1), np.zeros(alive.size))
    levels, found = [], np.zeros(budget.size, dtype=np.int64)
    truncated = np.zeros(budget.size, dtype=bool)
    while level.sample.size:
        levels.append(level)
        found += np.bincount(level.sample[level.cost <= sure[level.sample]],
                             minlength=budget.size)
        n_children = costs.n_children(level, budget, limit, margin)
        # Each subset's cheapest child exists: lower crowded budgets with those
        # before building a level that may be far larger than ``limit``.
        parents = np.flatnonzero(n_children)
        sample = level.sample[parents]
        cheapest = level.cost[parents] + costs.costs[sample, level.last[parents] + 1]
        candidate = _Level(sample, None, None, cheapest)
        crowded = _limit_budgets(levels, found, candidate, budget, sure, limit, margin)
        if crowded.size:
            truncated[crowded] = True
            n_children = costs.n_children(level, budget, limit, margin)
        level = costs.children(level, n_children)
        crowded = _limit_budgets(levels, found, level, budget, sure, limit, margin)
        truncated[crowded] = True
        keep = level.cost <= budget[level.sample]
        if not keep.all():
            level = _Level(*(field[keep] for field in level))
    return levels, costs.labels, budget, truncated


def flip_rows(levels, labels, best, budget, floor=None):
    """Label-sets of the subsets within each sample's budget.

    Parameters
    ----------
    levels : list of _Level
        From :func:`enumerate_flip_sets`.
    labels : ndarray of shape (n_samples, width)
        Label flipped by each sorted flip, from :func:`enumerate_flip_sets`.
    best : ndarray of shape (n_samples, n_labels), dtype uint8
        Most likely label-set of each sample, which subsets flip.
    budget : ndarray of shape (n_samples,)
        Final budgets from :func:`enumerate_flip_sets`.
    floor : ndarray of shape (n_samples,), default=None
        If given, only the subsets costing more than this.

    Returns
    -------
    sample : ndarray of shape (n_rows,)
        Sample of each row.
    rows : ndarray of shape (n_rows, n_labels), dtype uint8
        ``best[sample]`` with the subset's labels flipped.

    Examples
    --------
    >>> import numpy as np
    >>> delta, best = np.array([[0.1, 0.9, 0.2]]), np.array([[1, 1, 0]], dtype=np.uint8)
    >>> levels, labels, budget, _ = enumerate_flip_sets(delta, np.array([0.35]), 10, 1e-9)
    >>> flip_rows(levels, labels, best, budget)[1]
    array([[1, 1, 0],
           [0, 1, 0],
           [1, 1, 1],
           [0, 1, 1]], dtype=uint8)
    """
    kept = [level.cost <= budget[level.sample] for level in levels]
    if floor is not None:
        kept = [keep & (level.cost > floor[level.sample]) for keep, level in zip(kept, levels)]
    kept = [np.flatnonzero(keep) for keep in kept]
    sample = np.concatenate([np.zeros(0, dtype=np.int64)] + [
        level.sample[node] for level, node in zip(levels, kept)
    ])
    rows = best[sample]
    offset = 0
    for depth, node in enumerate(kept):
        at = np.arange(offset, offset + node.size)
        # Walk up to the root, applying one flip per level.
        for up in range(depth, 0, -1):
            rows[at, labels[sample[at], levels[up].last[node]]] ^= 1
            node = levels[up].parent[node]
        offset += at.size
    return sample, rows


def rescore(proba, sample, rows, measure):
    """Exact float64 nonconformity of ``rows``, each against its sample's ``proba``.

    The arithmetic is that of :func:`nonconformity` row by row, so a label-set
    gets bit for bit the score brute force would give it.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Per-label probabilities.
    sample : ndarray of shape (n_rows,)
        Sample of each row.
    rows : ndarray of shape (n_rows, n_labels)
        0/1 label-sets.
    measure : {"euclidean", "l1"}
        Nonconformity measure.

    Returns
    -------
    alpha : ndarray of shape (n_rows,)
        Nonconformity scores.

    Examples
    --------
    >>> import numpy as np
    >>> rescore(np.array([[0.9, 0.2]]), np.array([0, 0]), np.array([[1, 0], [0, 1]]), "l1")
    array([0.3, 1.7])
    """
    alpha = np.empty(len(sample))
    # Rows come in runs of one sample (a level lists its subsets sample by
    # sample). Long runs broadcast their sample's probabilities; the short ones
    # are scored together, each row against a gathered copy.
    edges = np.flatnonzero(np.diff(sample)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(sample)]
    long_run = ends - starts >= _BROADCAST_RUN
    for start, end in zip(starts[long_run], ends[long_run]):
        alpha[start:end] = _scores(rows[start:end], proba[sample[start]], measure)
    short = np.flatnonzero(np.repeat(~long_run, ends - starts))
    for i in range(0, short.size, _RESCORE_ROWS):
        block = short[i:i + _RESCORE_ROWS]
        alpha[block] = _scores(rows[block], proba[sample[block]], measure)
    return alpha


def _scores(rows, proba, measure):
    """:func:`nonconformity` computed in place: ``rows - proba``, ``|.|``, reduce."""
    gap = np.subtract(rows, proba, dtype=np.float64)
    np.abs(gap, out=gap)
    if measure == "l1":
        return gap.sum(axis=1)
    np.multiply(gap, gap, out=gap)
    return np.sqrt(gap.sum(axis=1))


def member_order(sample, alpha, rows, at=None):
    """Order rows by sample, then most conforming first.

    Ties in ``alpha`` follow the label-set read as a binary number with label 0
    as the lowest bit, the order in which brute force lists label-sets.

    Parameters
    ----------
    sample : ndarray of shape (n_rows,)
        Sample of each row.
    alpha : ndarray of shape (n_rows,)
        Nonconformity of each row.
    rows : ndarray of shape (n_rows, n_labels) or (n_all, n_labels)
        0/1 label-sets.
    at : ndarray of shape (n_rows,), default=None
        Rows to order are ``rows[at]``; read only where scores tie, so the
        caller need not copy them.

    Returns
    -------
    order : ndarray of shape (n_rows,)
        Indices that sort the rows.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([[0, 1], [1, 0], [0, 0]], dtype=np.uint8)
    >>> member_order(np.zeros(3, int), np.array([0.5, 0.5, 0.1]), rows)
    array([2, 1, 0])
    """
    order = np.lexsort((alpha, sample))
    tied = (sample[order][1:] == sample[order][:-1]) & (alpha[order][1:] == alpha[order][:-1])
    if not tied.any():
        return order
    # Only rows in a run of equal scores need their codes ranked.
    in_run = np.flatnonzero(np.concatenate([tied, [False]]) | np.concatenate([[False], tied]))
    run = np.cumsum(np.concatenate([[True], ~tied]))[in_run]
    tied_rows = order[in_run] if at is None else at[order[in_run]]
    order[in_run] = order[in_run][np.lexsort((_code_rank(rows[tied_rows]), run))]
    return order


def _code_rank(rows):
    """Keys that sort label-sets as binary numbers, label 0 the lowest bit."""
    packed = np.packbits(rows[:, ::-1], axis=1)
    if packed.shape[1] <= 8:
        wide = np.zeros((packed.shape[0], 8), dtype=np.uint8)
        wide[:, :packed.shape[1]] = packed
        return wide.view(">u8").ravel()
    code = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    return np.unique(code, return_inverse=True)[1].ravel()
