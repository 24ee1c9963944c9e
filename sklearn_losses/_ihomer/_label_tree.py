"""Online label-space partitioning for iHOMER (ODAC-J).

A binary label tree in the style of ODAC (Rodrigues et al., 2008) clusters the
*labels* of a multi-label stream with the Jaccard distance between their
positive sets. The active leaves are disjoint and cover every label; a
post-processing step merges leaves smaller than a minimum size with their
nearest tree relative, which gives the partition the cluster learners use.
"""

import numpy as np

__all__ = ["LabelTree", "jaccard_distances"]


def jaccard_distances(cooccurrence):
    """Pairwise Jaccard distances ``1 - n11 / (n_a + n_b - n11)`` between labels.

    Parameters
    ----------
    cooccurrence : ndarray of shape (n_labels, n_labels)
        Symmetric co-occurrence counts; the diagonal holds positive counts.

    Returns
    -------
    distances : ndarray of shape (n_labels, n_labels)
        Distances in ``[0, 1]``; an empty union counts as distance 1.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> jaccard_distances(Y.T @ Y).round(3)
    array([[0.   , 0.333, 1.   ],
           [0.333, 0.   , 0.667],
           [1.   , 0.667, 0.   ]])
    """
    positives = np.diag(cooccurrence)
    union = positives[:, None] + positives[None, :] - cooccurrence
    similarity = np.divide(
        cooccurrence, union, out=np.zeros_like(cooccurrence, dtype=float), where=union > 0
    )
    distances = 1.0 - similarity
    np.fill_diagonal(distances, 0.0)
    return distances


class _Node:
    """One node of the label tree; only active leaves collect statistics."""

    def __init__(self, labels, parent=None):
        self.labels = np.asarray(labels, dtype=np.intp)
        self.parent = parent
        self.children = []
        self.depth = 0 if parent is None else parent.depth + 1
        self.active = True
        self.split_diameter = None
        self.split_weight = None
        self.zero_statistics()

    def zero_statistics(self):
        size = self.labels.size
        self.cooccurrence = np.zeros((size, size))
        self.weight = 0.0


def _hoeffding_bound(delta, weight):
    """ODAC's ``sqrt(ln(1/delta) / (2 n))``; infinite before any instance."""
    if weight <= 0:
        return np.inf
    return np.sqrt(np.log(1.0 / delta) / (2.0 * weight))


class LabelTree:
    """Online divisive-agglomerative clustering of labels (ODAC-J).

    Every active leaf accumulates the co-occurrence matrix of its labels with
    exponential forgetting. Every ``check_every`` instances each leaf first
    tests for a merge (its diameter grew past its parent's diameter at split
    time by more than a Hoeffding bound: the correlation structure changed, so
    the parent's subtree is dropped and the parent becomes a leaf again), then
    for a split on its farthest pair of labels.

    Parameters
    ----------
    n_labels : int
        Number of labels in the stream.
    check_every : int, default=100
        Instances between split/merge tests (a global timer).
    delta : float, default=0.9
        Confidence parameter of the Hoeffding bound ``sqrt(ln(1/delta)/(2n))``.
    tau : float, default=0.1
        Tie-breaking threshold of the split test.
    decay : float, default=0.999
        Per-instance forgetting factor of the statistics; 1.0 never forgets
        (and then merges after a drift almost never happen).
    max_clusters : int or None, default=None
        No leaf splits once this many leaves are active.

    Attributes
    ----------
    root : _Node
        Root of the tree.
    n_splits, n_merges : int
        Structural changes so far.
    n_seen : int
        Instances seen.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> groups = rng.rand(3000, 2) < 0.4
    >>> Y = np.repeat(groups, 3, axis=1).astype(float)
    >>> tree = LabelTree(6)
    >>> for start in range(0, 3000, 100):
    ...     _ = tree.update(Y[start:start + 100])
    >>> tree.partition(min_cluster_size=2)
    ((0, 1, 2), (3, 4, 5))
    """

    def __init__(self, n_labels, *, check_every=100, delta=0.9, tau=0.1, decay=0.999,
                 max_clusters=None):
        self.n_labels = n_labels
        self.check_every = check_every
        self.delta = delta
        self.tau = tau
        self.decay = decay
        self.max_clusters = max_clusters
        self.root = _Node(np.arange(n_labels))
        self.n_splits = 0
        self.n_merges = 0
        self.n_seen = 0
        # Decayed histogram of non-empty labelset sizes, for min_cluster_size="auto".
        self.cardinality_counts = np.zeros(n_labels + 1)

    # ---- structure ------------------------------------------------------ #
    def leaves(self):
        """Active leaves, left to right."""
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node.active:
                out.append(node)
            stack.extend(reversed(node.children))
        return out

    @property
    def depth(self):
        """Depth of the deepest active leaf (0 for a single root)."""
        return max(node.depth for node in self.leaves())

    # ---- statistics ----------------------------------------------------- #
    def update(self, Y):
        """Add a batch of label rows; run the tests when the timer crosses a multiple.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_labels)
            0/1 label rows in stream order.

        Returns
        -------
        changed : bool
            Whether a split or merge happened.
        """
        Y = np.asarray(Y, dtype=float)
        n = Y.shape[0]
        # Row i of the batch has aged by decay ** (n - 1 - i) at the batch end.
        ages = self.decay ** np.arange(n - 1, -1, -1, dtype=float)
        shrink = self.decay ** n
        for node in self.leaves():
            Ys = Y[:, node.labels]
            node.cooccurrence = shrink * node.cooccurrence + (Ys * ages[:, None]).T @ Ys
            node.weight = shrink * node.weight + ages.sum()
        sizes = Y.sum(axis=1).astype(np.intp)
        self.cardinality_counts = shrink * self.cardinality_counts + np.bincount(
            sizes, weights=ages, minlength=self.n_labels + 1
        )
        before = self.n_seen
        self.n_seen += n
        if self.n_seen // self.check_every > before // self.check_every:
            return self._check()
        return False

    def reset_statistics(self):
        """Zero every active leaf's statistics, keeping the structure."""
        for node in self.leaves():
            node.zero_statistics()

    # ---- split / merge -------------------------------------------------- #
    def _check(self):
        changed = False
        for node in self.leaves():
            if not node.active:  # deactivated by a merge earlier in this pass
                continue
            if self._try_merge(node) or self._try_split(node):
                changed = True
        return changed

    def _diameter(self, node):
        if node.labels.size < 2:
            return 0.0
        return float(jaccard_distances(node.cooccurrence).max())

    def _try_merge(self, node):
        parent = node.parent
        if parent is None or node.labels.size < 2 or node.weight <= 0:
            return False
        bound = max(_hoeffding_bound(self.delta, node.weight),
                    _hoeffding_bound(self.delta, parent.split_weight))
        if self._diameter(node) - parent.split_diameter <= bound:
            return False
        self._deactivate_subtree(parent)
        parent.children = []
        parent.active = True
        parent.zero_statistics()
        self.n_merges += 1
        return True

    def _deactivate_subtree(self, node):
        node.active = False
        for child in node.children:
            self._deactivate_subtree(child)

    def _try_split(self, node):
        size = node.labels.size
        # Singletons have no pair and pairs no second-largest distance.
        if size < 3 or node.weight <= 0:
            return False
        if self.max_clusters is not None and len(self.leaves()) >= self.max_clusters:
            return False
        D = jaccard_distances(node.cooccurrence)
        rows, cols = np.triu_indices(size, k=1)
        pair_d = D[rows, cols]
        order = np.argsort(pair_d)
        d0, d2, d1 = pair_d[order[0]], pair_d[order[-2]], pair_d[order[-1]]
        eps = _hoeffding_bound(self.delta, node.weight)
        separated = (d1 - d2 > eps) or (self.tau > eps)
        if not (separated and (d1 - d0) * abs(d1 + d0 - 2 * pair_d.mean()) > eps):
            return False
        to_a = _assign_to_pivots(D, rows[order[-1]], cols[order[-1]])
        node.active = False
        node.split_diameter = d1
        node.split_weight = node.weight
        node.children = [_Node(node.labels[to_a], node), _Node(node.labels[~to_a], node)]
        self.n_splits += 1
        return True

    # ---- post-processing ------------------------------------------------ #
    def modal_cardinality(self):
        """Most frequent non-empty labelset size seen (1 before any positive)."""
        counts = self.cardinality_counts[1:]
        return int(np.argmax(counts)) + 1 if counts.sum() > 0 else 1

    def partition(self, min_cluster_size=1):
        """Label partition after merging small leaves with their nearest relative.

        Clusters smaller than ``min_cluster_size`` are merged, deepest first,
        with the cluster whose tree node shares the deepest common ancestor
        (the sibling first).

        Parameters
        ----------
        min_cluster_size : int, default=1
            Smallest cluster kept as is.

        Returns
        -------
        partition : tuple of tuple of int
            Clusters sorted by their smallest label.
        """
        clusters = [(node, set(node.labels.tolist())) for node in self.leaves()]
        while len(clusters) > 1:
            small = [c for c in clusters if len(c[1]) < min_cluster_size]
            if not small:
                break
            node, labels = max(small, key=lambda c: c[0].depth)
            others = [c for c in clusters if c[0] is not node]
            partner = max(others, key=lambda c: _common_ancestor(node, c[0]).depth)
            clusters = [c for c in others if c is not partner]
            clusters.append((_common_ancestor(node, partner[0]), labels | partner[1]))
        return tuple(sorted(tuple(sorted(labels)) for _, labels in clusters))


def _assign_to_pivots(D, a, b):
    """Split labels between pivots ``a`` and ``b``; True marks ``a``'s side.

    ODAC sends each label to the nearer pivot. When the labels fall into more
    than two groups, a third group's labels are almost equally far from both
    pivots and that rule scatters them on noise. Our departure from ODAC: labels are placed
    nearest-to-a-pivot first, each joining the side with the smaller *mean*
    distance to the labels already there, so a group follows its first member.
    """
    to_a = np.zeros(D.shape[0], dtype=bool)
    to_a[a] = True
    placed = np.zeros(D.shape[0], dtype=bool)
    placed[[a, b]] = True
    for label in np.argsort(np.minimum(D[:, a], D[:, b]), kind="stable"):
        if placed[label]:
            continue
        side_a, side_b = placed & to_a, placed & ~to_a
        to_a[label] = D[label, side_a].mean() <= D[label, side_b].mean()
        placed[label] = True
    return to_a


def _common_ancestor(a, b):
    ancestors = set()
    while a is not None:
        ancestors.add(id(a))
        a = a.parent
    while id(b) not in ancestors:
        b = b.parent
    return b
