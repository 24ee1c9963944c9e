"""Per-cluster learners for iHOMER: torch for the SGD step, NumPy for predictions.

Each label cluster gets an MLHAT-style leaf predictor:

- a *pure* cluster (one labelset seen so far) predicts that labelset;
- otherwise it predicts with whichever of three learners has the best recent
  micro-F1 on its labels (from exponentially decayed test-then-train counts of
  true positives, false positives and false negatives): the majority labelset
  of the ``k`` nearest recent instances (MLHAT's labelset-kNN over a sliding
  window); binary relevance, one logistic output per label; or a
  label-powerset head over the cluster's labelsets (the spec's LP head). Both
  heads sit on one shared trunk trained by mini-batch SGD, optionally with
  Poisson(1) (online bagging) weights. Unlike MLHAT, which switches on leaf weight
  and entropy, here the trunk and binary-relevance weights outlive
  restructures, so a new cluster's age says nothing about them and measured
  quality decides: F1 rather than Hamming error, since a small cluster of
  rare labels makes the fewest Hamming errors by predicting nothing (bibtex,
  one row per call: example-F1 .209 with Hamming selection, .250 with F1;
  Yeast .587 vs .591, Emotions .543 vs .580, Enron .390 vs .413).

Binary-relevance heads are rows of one output layer indexed by label, so when
the partition changes a label keeps its weights whichever cluster it joins
(the spec's label-by-label warm start), and the F1 counts are kept per label
for the same reason. Cluster-level state (purity, labelset slots and head, a
local ADWIN) is kept for clusters whose label set survives a restructure and
started afresh for new ones.

Every per-cluster quantity is an array indexed by cluster, and a cluster's
labelset is identified by a 64-bit key (the XOR of random per-label keys of
its positive labels), so no step loops over clusters in Python except to feed
the local drift detectors once per step. Predictions use a NumPy copy of the
model taken after each SGD step: a streaming step predicts a few rows, where
torch's per-operation overhead would dominate.
"""

import numpy as np
import torch
from river.drift import ADWIN
from scipy.special import expit
from torch import nn

from ._stream import error_rose

# Scores are squeezed into [floor, 1 - floor]: probabilities estimated from a
# finite sample should not be exactly 0 or 1.
_SCORE_FLOOR = 1e-6
# Predictors a cluster chooses between, in tie-breaking order; PURE marks a
# cluster that has seen a single labelset.
_PREDICTORS = ("knn", "br", "lp")
_PURE = len(_PREDICTORS)
# Elements of the largest temporary array of one prediction chunk.
_CHUNK_ELEMENTS = 2**21

__all__ = ["ClusterLearners", "SharedTrunkNetwork"]


class SharedTrunkNetwork(nn.Module):
    """A ReLU trunk on standardised inputs, one logit per label, labelset heads.

    Parameters
    ----------
    n_features : int
        Input width.
    n_labels : int
        Number of labels (binary-relevance outputs).
    hidden_layer_sizes : tuple of int
        Trunk widths; ``()`` feeds the inputs straight to the heads.
    n_clusters : int
        Number of label-powerset heads.
    n_slots : int
        Classes of each label-powerset head (labelset slots plus "other").
    """

    def __init__(self, n_features, n_labels, hidden_layer_sizes, n_clusters, n_slots):
        super().__init__()
        layers, width = [], n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.trunk = nn.Sequential(*layers)
        self.width = width
        self.heads = nn.Linear(width, n_labels)
        # Zero initialisation starts every labelset head uniform without
        # drawing from any RNG (so a restructure never touches torch's RNG).
        self.lp_weight = nn.Parameter(torch.zeros(n_clusters, n_slots, width))
        self.lp_bias = nn.Parameter(torch.zeros(n_clusters, n_slots))

    def forward(self, Z):
        features = self.trunk(Z)
        lp = torch.einsum("nw,ksw->nks", features, self.lp_weight) + self.lp_bias
        return self.heads(features), lp


class _RunningScaler:
    """Running mean and variance of the features (Chan et al.'s batch merge)."""

    def __init__(self, n_features):
        self.count = 0
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)
        self.scale = np.ones(n_features)

    def update(self, X):
        n = X.shape[0]
        batch_mean = X.mean(axis=0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.m2 += ((X - batch_mean) ** 2).sum(axis=0) + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.count = total
        var = self.m2 / total
        # Features with no spread yet pass centred, unscaled.
        self.scale = np.where(var > 1e-12, np.sqrt(var), 1.0)

    def transform(self, X):
        return (X - self.mean) / self.scale


class ClusterLearners:
    """The learners of every cluster plus the shared network and kNN window.

    Parameters
    ----------
    n_features, n_labels : int
        Data shape.
    partition : tuple of tuple of int
        Initial label clusters.
    hidden_layer_sizes : tuple of int
        Trunk widths of the shared network.
    lr : float
        SGD learning rate.
    knn_neighbors, knn_window : int
        Labelset-kNN parameters.
    lp_max_labelsets : int
        Labelset slots of each cluster's label-powerset head.
    switch_decay : float
        Per-instance decay of the F1 counts that pick each cluster's
        predictor.
    bootstrap : bool
        Poisson(1) weights per instance (online bagging).
    drift_delta : float
        Confidence of each cluster's ADWIN.
    device : str
        Torch device of the network.
    rng : numpy.random.RandomState
        Draws the labelset keys (and later the bootstrap weights).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> Y = np.c_[X[:, 0] > 0, X[:, 0] > 0, X[:, 1] > 0].astype(float)
    >>> learners = ClusterLearners(3, 3, ((0, 1), (2,)), hidden_layer_sizes=(), lr=0.1,
    ...     knn_neighbors=4, knn_window=100, lp_max_labelsets=8, switch_decay=0.99,
    ...     bootstrap=False, drift_delta=0.002, device="cpu", rng=rng)
    >>> learners.learn(X, Y)
    >>> learners.refresh()  # predictions use the model as of the last refresh
    >>> bool((learners.predict_proba(X[:50]).round() == Y[:50]).mean() > 0.9)
    True
    """

    def __init__(self, n_features, n_labels, partition, *, hidden_layer_sizes, lr,
                 knn_neighbors, knn_window, lp_max_labelsets, switch_decay, bootstrap,
                 drift_delta, device, rng):
        self.n_labels = n_labels
        self.labels = np.arange(n_labels)
        self.knn_neighbors = knn_neighbors
        self.n_slots = lp_max_labelsets
        self.lr = lr
        self.switch_decay = switch_decay
        self.bootstrap = bootstrap
        self.drift_delta = drift_delta
        self.device = device
        self.rng = rng
        self.scaler = _RunningScaler(n_features)
        self.network = SharedTrunkNetwork(
            n_features, n_labels, hidden_layer_sizes, len(partition), lp_max_labelsets + 1
        ).to(device=device, dtype=torch.float64)
        self.label_keys = rng.randint(1, 2**62, size=n_labels).astype(np.uint64)
        self.window_X = np.zeros((knn_window, n_features))
        self.window_Y = np.zeros((knn_window, n_labels))
        self.window_filled = 0
        self.window_next = 0
        # Decayed (tp, fp, fn) counts per label, for each entry of _PREDICTORS.
        self.label_counts = np.zeros((len(_PREDICTORS), 3, n_labels))
        self.first_labelset = np.zeros(n_labels)
        self.n_local_drifts = 0
        self.version = 0
        self.partition = ()
        self.restructure(partition)

    # ---- structure ------------------------------------------------------ #
    def restructure(self, partition):
        """Keep the state of clusters whose label set survives; start the rest."""
        old = {labels: k for k, labels in enumerate(self.partition)}
        kept = np.array([old.get(tuple(labels), -1) for labels in partition])
        self.partition = tuple(tuple(labels) for labels in partition)
        self.order = np.concatenate([np.asarray(c, dtype=np.intp) for c in partition])
        sizes = np.array([len(c) for c in partition])
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.cluster_of = np.repeat(np.arange(len(partition)), sizes)[np.argsort(self.order)]
        self._restructure_state(kept)
        # Not in the paper: each labelset loss is weighted by its cluster's share of the
        # labels, so the trunk's gradient does not grow with the number of
        # clusters (Enron, one row per call: example-F1 .317 unweighted vs
        # .390, one global cluster .380; Yeast .589 vs .587).
        self.cluster_share = torch.as_tensor(sizes / self.n_labels, device=self.device)
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=self.lr)
        self.refresh()

    def _restructure_state(self, kept):
        """Carry the per-cluster arrays of surviving clusters (``kept >= 0``) over."""
        n_clusters, survived = len(kept), kept >= 0
        source = np.where(survived, kept, 0)
        label_survived = survived[self.cluster_of]
        if hasattr(self, "seen"):
            self.seen = np.where(survived, self.seen[source], False)
            self.pure = np.where(survived, self.pure[source], True)
            self.first_key = np.where(survived, self.first_key[source], 0).astype(np.uint64)
            self.slot_keys = np.where(survived[:, None], self.slot_keys[source], 0)
            self.slots_used = np.where(survived, self.slots_used[source], 0)
            self.detectors = [self.detectors[k] if k >= 0 else self._new_detector()
                              for k in kept]
        else:
            self.seen = np.zeros(n_clusters, dtype=bool)
            self.pure = np.ones(n_clusters, dtype=bool)
            self.first_key = np.zeros(n_clusters, dtype=np.uint64)
            self.slot_keys = np.zeros((n_clusters, self.n_slots), dtype=np.uint64)
            self.slots_used = np.zeros(n_clusters, dtype=np.intp)
            self.detectors = [self._new_detector() for _ in range(n_clusters)]
            self.slot_by_label = np.zeros((self.n_slots, self.n_labels))
        # A label's slot values follow it only when its cluster survived.
        self.slot_by_label[:, ~label_survived] = 0.0
        # A fresh label-powerset head must earn its place: worst F1.
        self.label_counts[_PREDICTORS.index("lp"), :, ~label_survived] = [0.0, 0.0, 1.0]
        net = self.network
        with torch.no_grad():
            index = torch.as_tensor(source, device=self.device)
            mask = torch.as_tensor(survived, device=self.device)
            weight = net.lp_weight[index] * mask[:, None, None]
            bias = net.lp_bias[index] * mask[:, None]
        net.lp_weight, net.lp_bias = nn.Parameter(weight), nn.Parameter(bias)

    def _new_detector(self):
        # Fed once per step, so check for a cut at every update.
        return ADWIN(delta=self.drift_delta, clock=1)

    def restart_detectors(self):
        """Fresh local detectors (after a change of ``drift_delta``)."""
        self.detectors = [self._new_detector() for _ in self.partition]

    def cluster_keys(self, Y):
        """Key of each row's labelset within each cluster: (n, n_clusters) uint64."""
        hashed = np.where(Y[:, self.order] > 0, self.label_keys[self.order], np.uint64(0))
        return np.bitwise_xor.reduceat(hashed, self.starts, axis=1)

    def per_cluster(self, values):
        """Sum a (..., n_labels) array over each cluster's labels: (..., n_clusters)."""
        return np.add.reduceat(values[..., self.order], self.starts, axis=-1)

    def modes(self):
        """Predictor of each cluster now: an index into _PREDICTORS, or _PURE."""
        # Ties (nothing measured yet) go to the kNN, MLHAT's young-leaf choice.
        tp, fp, fn = np.moveaxis(self.per_cluster(self.label_counts), 1, 0)
        denom = 2 * tp + fp + fn
        errors = np.where(denom > 0, 1.0 - 2 * tp / np.maximum(denom, 1e-300), 0.0)
        chosen = np.argmin(errors, axis=0)
        return np.where(self.pure & self.seen, _PURE, chosen)

    # ---- prediction ----------------------------------------------------- #
    def refresh(self):
        """Take the NumPy copy of the model that predictions use."""
        net = self.network

        def host(tensor):
            # On the CPU this shares memory with the parameter (no copy): it is
            # read only until the next step, and refresh runs after every step.
            return tensor.detach().cpu().numpy()

        linears = [m for m in net.trunk if isinstance(m, nn.Linear)]
        self.snap_trunk = [(host(m.weight).T, host(m.bias)) for m in linears]
        self.snap_heads = (host(net.heads.weight).T, host(net.heads.bias))
        n_clusters, slots, width = net.lp_weight.shape
        self.snap_lp = (host(net.lp_weight).reshape(-1, width).T,
                        host(net.lp_bias).reshape(-1), (n_clusters, slots))
        self.snap_window = self.scaler.transform(self.window_X[:self.window_filled])
        self.snap_window_sq = (self.snap_window**2).sum(axis=1)
        self.snap_window_keys = self.cluster_keys(self.window_Y[:self.window_filled])
        self.snap_label_mode = self.modes()[self.cluster_of]
        self.version += 1

    def candidates(self, X):
        """Scores of every predictor in _PREDICTORS order: (3, n, n_labels).

        Parameters
        ----------
        X : ndarray of shape (n, n_features), float64
            Host rows.
        """
        rows = max(1, _CHUNK_ELEMENTS // max(
            self.n_labels * (self.n_slots + 1), self.window_filled * X.shape[1], 1))
        if X.shape[0] <= rows:
            return self._candidates(X)
        return np.concatenate([self._candidates(X[start:start + rows])
                               for start in range(0, X.shape[0], rows)], axis=1)

    def _candidates(self, X):
        Z = self.scaler.transform(X)
        features = Z
        for weight, bias in self.snap_trunk:
            features = np.maximum(features @ weight + bias, 0.0)
        br = expit(features @ self.snap_heads[0] + self.snap_heads[1])
        return np.stack([self._knn_scores(Z), br, self._labelset_scores(features, br)])

    def _knn_scores(self, Z):
        """(winner + mean) / 2 of each cluster's neighbour labelsets.

        It is ``>= 0.5`` exactly on the winning labelset's labels (a label the
        winner lacks is absent from at least one neighbour), so thresholding
        at 0.5 predicts the labelset vote while the score still ranks labels.
        Ties go to the nearest neighbour's labelset.
        """
        window = self.snap_window
        if window.shape[0] == 0:
            return np.zeros((Z.shape[0], self.n_labels))
        dist = self.snap_window_sq - 2.0 * (Z @ window.T)  # + |z|^2, same for every row
        k = min(self.knn_neighbors, window.shape[0])
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        keys = self.snap_window_keys[nearest]
        votes = (keys[:, :, None, :] == keys[:, None, :, :]).sum(axis=2)
        rows = np.arange(Z.shape[0])[:, None]
        winner_row = nearest[rows, np.argmax(votes, axis=1)]
        neighbours = self.window_Y[nearest]
        winner = self.window_Y[winner_row[:, self.cluster_of], self.labels]
        return (winner + neighbours.sum(axis=1) / k) / 2

    def _labelset_scores(self, features, br):
        """(winner + marginal) / 2 of each cluster's label-powerset head.

        The marginal is the probability-weighted mean of the slots' labelsets,
        with binary relevance standing in for "other"; the winner is the top
        slot's labelset (binary relevance when "other" wins).
        """
        weight, bias, shape = self.snap_lp
        logits = (features @ weight + bias).reshape(-1, *shape)
        proba = np.exp(logits - logits.max(axis=2, keepdims=True))
        proba /= proba.sum(axis=2, keepdims=True)
        per_label = proba[:, self.cluster_of, :]
        slots = self.slot_by_label.T
        marginal = (per_label[:, :, :-1] * slots).sum(axis=2) + per_label[:, :, -1] * br
        best = np.argmax(per_label, axis=2)
        winner = np.where(best == self.n_slots, br >= 0.5,
                          slots[self.labels, np.minimum(best, self.n_slots - 1)])
        return (winner + marginal) / 2

    def combine(self, candidates):
        """Scores of each cluster's current predictor; ``>= 0.5`` reproduces it."""
        mode = self.snap_label_mode
        out = candidates[np.minimum(mode, _PURE - 1), :, self.labels].T
        out = np.where(mode == _PURE, self.first_labelset, out)
        return _SCORE_FLOOR + (1.0 - 2.0 * _SCORE_FLOOR) * out

    def predict_proba(self, X):
        """Scores of a host batch."""
        return self.combine(self.candidates(np.asarray(X, dtype=np.float64)))

    # ---- learning ------------------------------------------------------- #
    def observe(self, candidates, predictions, Y):
        """Test step of a learned batch: update the F1 counts and local detectors.

        Parameters
        ----------
        candidates : ndarray of shape (3, n, n_labels)
            Every predictor's scores, from ``candidates`` before learning.
        predictions : ndarray of shape (n, n_labels)
            The 0/1 predictions made.
        Y : ndarray of shape (n, n_labels)
            True labels.
        """
        n = Y.shape[0]
        ages = self.switch_decay ** np.arange(n - 1, -1, -1, dtype=float)
        hits, truth = candidates >= 0.5, Y > 0
        counts = np.stack([hits & truth, hits & ~truth, ~hits & truth], axis=1)
        self.label_counts = (self.switch_decay ** n) * self.label_counts + (
            (1 - self.switch_decay) * np.einsum("pcnl,n->pcl", counts.astype(float), ages)
        )
        sizes = np.diff(np.append(self.starts, self.n_labels))
        step_errors = self.per_cluster((predictions != Y).mean(axis=0)) / sizes
        for k, detector in enumerate(self.detectors):
            if error_rose(detector, step_errors[k]):
                # MLHAT would grow an alternate subtree; the analogue here is to
                # let the predictors compete again on fresh error estimates.
                self.label_counts[:, :, self.cluster_of == k] = 0.0
                self.detectors[k] = self._new_detector()
                self.n_local_drifts += 1

    def learn(self, X, Y):
        """One SGD step on the batch, then update the scaler, window and purity.

        The loss is binary cross-entropy summed over labels plus each
        cluster's label-powerset cross-entropy weighted by the cluster's share
        of the labels, optionally Poisson-weighted per instance. Call
        ``refresh`` afterwards to predict with the result.
        """
        net = self.network
        self.scaler.update(X)
        Zt = torch.as_tensor(self.scaler.transform(X), device=self.device)
        Yt = torch.as_tensor(Y, device=self.device)
        keys = self.cluster_keys(Y)
        targets = self._labelset_targets(keys, Y)
        weights = (self.rng.poisson(1.0, size=len(Y)) if self.bootstrap
                   else np.ones(len(Y)))
        if weights.sum() > 0:
            w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
            br_logits, lp_logits = net(Zt)
            losses = nn.functional.binary_cross_entropy_with_logits(
                br_logits, Yt, reduction="none").sum(dim=1)
            lp_targets = torch.as_tensor(targets, device=self.device)
            losses = losses + nn.functional.cross_entropy(
                lp_logits.reshape(-1, lp_logits.shape[2]), lp_targets.reshape(-1),
                reduction="none",
            ).reshape(targets.shape) @ self.cluster_share
            loss = (w * losses).sum() / w.sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self._remember(X, Y)
        self._update_purity(keys, Y)

    def _labelset_targets(self, keys, Y):
        """Slot of each row's labelset per cluster: (n, n_clusters).

        A new labelset takes a free slot (first come); once a cluster's slots
        are full its unseen labelsets map to "other" (index ``n_slots``).
        """
        used = np.arange(self.n_slots) < self.slots_used[:, None]
        match = (keys[:, :, None] == self.slot_keys[None]) & used[None]
        targets = np.where(match.any(axis=2), np.argmax(match, axis=2), self.n_slots)
        free = self.slots_used < self.n_slots
        # Only unseen labelsets of clusters with free slots need a Python step.
        for i, k in zip(*np.nonzero((targets == self.n_slots) & free[None, :])):
            slot = np.flatnonzero(self.slot_keys[k, :self.slots_used[k]] == keys[i, k])
            if slot.size == 0 and self.slots_used[k] < self.n_slots:
                slot = [self.slots_used[k]]
                self.slot_keys[k, slot[0]] = keys[i, k]
                cols = self.cluster_of == k
                self.slot_by_label[slot[0], cols] = Y[i, cols]
                self.slots_used[k] += 1
            if len(slot):
                targets[i, k] = slot[0]
        return targets

    def _update_purity(self, keys, Y):
        new = ~self.seen
        if new.any():
            self.first_key[new] = keys[0, new]
            cols = new[self.cluster_of]
            self.first_labelset[cols] = Y[0, cols]
            self.seen[:] = True
        self.pure &= (keys == self.first_key).all(axis=0)

    def _remember(self, X, Y):
        size = self.window_X.shape[0]
        if X.shape[0] >= size:
            X, Y = X[-size:], Y[-size:]
        rows = (self.window_next + np.arange(X.shape[0])) % size
        self.window_X[rows] = X
        self.window_Y[rows] = Y
        self.window_next = (self.window_next + X.shape[0]) % size
        self.window_filled = min(size, self.window_filled + X.shape[0])
