"""Per-cluster learners for iHOMER, on the estimator's torch device.

Each label cluster gets an MLHAT-style leaf predictor:

- a *pure* cluster (one labelset seen so far) predicts that labelset;
- otherwise it predicts with whichever of three learners has made the fewest
  recent errors on its labels (an exponentially decayed test-then-train
  Hamming error): the majority labelset of the ``k`` nearest recent instances
  (MLHAT's labelset-kNN over a sliding window); binary relevance, one
  logistic output per label; or a label-powerset head over the cluster's
  labelsets (the spec's LP head). Both heads sit on one shared trunk trained
  by mini-batch SGD with Poisson(1) (online bagging) weights. [ours] MLHAT
  switches on leaf weight and entropy; here the trunk and binary-relevance
  weights outlive restructures, so a new cluster's age says nothing about
  them and measured error decides.

Binary-relevance heads are rows of one output layer indexed by label, so when
the partition changes a label keeps its weights whichever cluster it joins
(the spec's label-by-label warm start), and error trackers are per label for
the same reason. Cluster-level state (purity, labelset head, a local ADWIN)
is kept for clusters whose label set survives a restructure and started
afresh for new ones.
"""

import numpy as np
import torch
from river.drift import ADWIN
from torch import nn

# Scores are squeezed into [floor, 1 - floor]: probabilities estimated from a
# finite sample should not be exactly 0 or 1.
_SCORE_FLOOR = 1e-6
# Predictors a cluster chooses between, in tie-breaking order.
_PREDICTORS = ("knn", "br", "lp")

__all__ = ["ClusterLearners", "ClusterState", "SharedTrunkNetwork"]


class SharedTrunkNetwork(nn.Module):
    """Online standardisation, optional ReLU trunk, one logit per label.

    Parameters
    ----------
    n_features : int
        Input width.
    n_labels : int
        Number of labels (binary-relevance outputs).
    hidden_units : int or None
        Trunk width; None feeds standardised inputs straight to the heads.
    """

    def __init__(self, n_features, n_labels, hidden_units):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(n_features, dtype=torch.float64))
        if hidden_units is None:
            self.trunk = nn.Identity()
            width = n_features
        else:
            self.trunk = nn.Sequential(nn.Linear(n_features, hidden_units), nn.ReLU())
            width = hidden_units
        self.width = width
        self.heads = nn.Linear(width, n_labels)

    @torch.no_grad()
    def update_scaler(self, X):
        """Merge a batch into the running mean and variance (Chan et al.)."""
        n = X.shape[0]
        batch_mean = X.mean(dim=0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.m2 += ((X - batch_mean) ** 2).sum(dim=0) + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.count.copy_(total)

    def standardize(self, X):
        """Scale by the running statistics (features with no spread pass centred)."""
        var = self.m2 / self.count.clamp(min=1.0)
        scale = torch.where(var > 1e-12, var.sqrt(), torch.ones_like(var))
        return (X - self.mean) / scale

    def embed(self, X):
        """Trunk features shared by the binary-relevance and labelset heads."""
        return self.trunk(self.standardize(X))

    def forward(self, X):
        return self.heads(self.embed(X))


class ClusterState:
    """Purity and drift state of one label cluster.

    Parameters
    ----------
    labels : tuple of int
        The cluster's labels.
    drift_delta : float
        Confidence of the local ADWIN on the cluster's Hamming error.
    device : str
        Device of the cluster's tensors.
    width : int
        Width of the shared trunk's features (input of the labelset head).
    max_labelsets : int
        Labelset slots of the label-powerset head.
    """

    def __init__(self, labels, drift_delta, device, width, max_labelsets):
        self.labels = tuple(labels)
        self.columns = list(self.labels)
        self.index = torch.as_tensor(self.labels, dtype=torch.long, device=device)
        self.drift_delta = drift_delta
        self.first_labelset = None
        self.pure = True
        self.restart_detector()
        # Label-powerset head: one class per labelset slot plus "other". Zero
        # initialisation starts it uniform without touching any RNG.
        self.slots = {}
        self.slot_labelsets = torch.zeros((max_labelsets, len(self.labels)),
                                          dtype=torch.float64, device=device)
        self.lp_head = nn.Linear(width, max_labelsets + 1).to(device=device,
                                                              dtype=torch.float64)
        nn.init.zeros_(self.lp_head.weight)
        nn.init.zeros_(self.lp_head.bias)

    def learn(self, Ys):
        """Update purity with the cluster's columns of a batch (host array)."""
        if self.first_labelset is None:
            self.first_labelset = torch.tensor(Ys[0], dtype=torch.float64,
                                               device=self.index.device)
            self._first_host = Ys[0].copy()
        if self.pure and not (Ys == self._first_host).all():
            self.pure = False

    def labelset_targets(self, Ys):
        """Slot of each row's labelset; a new labelset takes a free slot (first
        come), and once the slots are full unseen labelsets map to "other"."""
        capacity = self.slot_labelsets.shape[0]
        targets = np.empty(len(Ys), dtype=np.int64)
        for i, row in enumerate(Ys.astype(np.int8)):
            key = row.tobytes()
            slot = self.slots.get(key)
            if slot is None and len(self.slots) < capacity:
                slot = self.slots[key] = len(self.slots)
                self.slot_labelsets[slot] = torch.as_tensor(
                    row, dtype=torch.float64, device=self.slot_labelsets.device
                )
            targets[i] = capacity if slot is None else slot
        return targets

    def labelset_scores(self, features, br):
        """(winner + marginal) / 2 of the label-powerset head; see _labelset_vote."""
        proba = torch.softmax(self.lp_head(features), dim=1)
        sets, other = proba[:, :-1], proba[:, -1:]
        marginal = sets @ self.slot_labelsets + other * br
        best = torch.argmax(proba, dim=1)
        capacity = self.slot_labelsets.shape[0]
        winner = torch.where((best == capacity)[:, None], (br >= 0.5).double(),
                             self.slot_labelsets[best.clamp(max=capacity - 1)])
        return (winner + marginal) / 2

    def restart_detector(self):
        """A fresh local ADWIN (at creation and after a detected drift)."""
        self.detector = ADWIN(delta=self.drift_delta)

    def drifted(self, errors):
        """Feed per-instance Hamming errors; True when the error rose significantly."""
        for error in errors:
            before = self.detector.estimation
            self.detector.update(float(error))
            # ADWIN fires on falls too (the learner improving); only a rise counts.
            if self.detector.drift_detected and self.detector.estimation > before:
                return True
        return False


class ClusterLearners:
    """The learners of every cluster plus the shared network and kNN window.

    Parameters
    ----------
    n_features, n_labels : int
        Data shape.
    partition : tuple of tuple of int
        Initial label clusters.
    hidden_units : int or None
        Trunk width of the shared network.
    lr : float
        SGD learning rate.
    knn_neighbors, knn_window : int
        Labelset-kNN parameters.
    lp_max_labelsets : int
        Labelset slots of each cluster's label-powerset head.
    switch_decay : float
        Per-instance decay of the error trackers that pick each cluster's
        predictor.
    bootstrap : bool
        Poisson(1) weights per instance (online bagging).
    drift_delta : float
        Confidence of each cluster's ADWIN.
    device : str
        Torch device for every tensor.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> Y = np.c_[X[:, 0] > 0, X[:, 0] > 0, X[:, 1] > 0].astype(float)
    >>> learners = ClusterLearners(3, 3, ((0, 1), (2,)), hidden_units=None, lr=0.1,
    ...     knn_neighbors=4, knn_window=100, lp_max_labelsets=8, switch_decay=0.99,
    ...     bootstrap=False,
    ...     drift_delta=0.002, device="cpu")
    >>> learners.learn(X, Y, rng)
    >>> bool((learners.predict_proba(X[:50]).round() == Y[:50]).mean() > 0.9)
    True
    """

    def __init__(self, n_features, n_labels, partition, *, hidden_units, lr, knn_neighbors,
                 knn_window, lp_max_labelsets, switch_decay, bootstrap, drift_delta,
                 device):
        self.n_labels = n_labels
        self.knn_neighbors = knn_neighbors
        self.lp_max_labelsets = lp_max_labelsets
        self.lr = lr
        self.switch_decay = switch_decay
        self.bootstrap = bootstrap
        self.drift_delta = drift_delta
        self.device = device
        self.network = SharedTrunkNetwork(n_features, n_labels, hidden_units).to(
            device=device, dtype=torch.float64
        )
        self.window_X = torch.zeros((knn_window, n_features), dtype=torch.float64,
                                    device=device)
        self.window_Y = torch.zeros((knn_window, n_labels), dtype=torch.float64,
                                    device=device)
        self.window_filled = 0
        self.window_next = 0
        # Decayed Hamming errors per label, one row per entry of _PREDICTORS.
        self.label_errors = np.zeros((len(_PREDICTORS), n_labels))
        self.n_local_drifts = 0
        self.clusters = []
        self.restructure(partition)

    # ---- structure ------------------------------------------------------ #
    def restructure(self, partition):
        """Keep the state of clusters whose label set survives; start the rest."""
        kept = {state.labels: state for state in self.clusters}
        clusters = []
        for labels in partition:
            state = kept.get(tuple(labels))
            if state is None:
                state = ClusterState(labels, self.drift_delta, self.device,
                                     self.network.width, self.lp_max_labelsets)
                # A fresh label-powerset head must earn its place: worst error.
                self.label_errors[_PREDICTORS.index("lp"), state.columns] = 1.0
            clusters.append(state)
        self.clusters = clusters
        # Plain SGD keeps no per-parameter state, so a rebuild loses nothing.
        params = list(self.network.parameters())
        params += [p for c in clusters for p in c.lp_head.parameters()]
        self.optimizer = torch.optim.SGD(params, lr=self.lr)

    def modes(self):
        """Predictor each cluster uses now: "pure" or one of _PREDICTORS."""
        out = []
        for cluster in self.clusters:
            if cluster.pure and cluster.first_labelset is not None:
                out.append("pure")
                continue
            errors = self.label_errors[:, cluster.columns].sum(axis=1)
            # Ties (nothing measured yet) go to the kNN, MLHAT's young-leaf choice.
            out.append(_PREDICTORS[int(np.argmin(errors))])
        return out

    # ---- prediction ----------------------------------------------------- #
    def as_tensor(self, X):
        """A host batch as a float64 tensor on the learners' device."""
        return torch.as_tensor(np.asarray(X, dtype=np.float64), device=self.device)

    @torch.no_grad()
    def candidates(self, X):
        """Scores of every predictor in _PREDICTORS order, each (n, n_labels), on the device."""
        self.network.eval()
        features = self.network.embed(X)
        br = torch.sigmoid(self.network.heads(features))
        neighbours = self._neighbour_labels(X)
        knn, lp = torch.empty_like(br), torch.empty_like(br)
        for cluster in self.clusters:
            idx = cluster.index
            knn[:, idx] = _labelset_vote(neighbours[:, :, idx])
            lp[:, idx] = cluster.labelset_scores(features, br[:, idx])
        return torch.stack([knn, br, lp])

    def combine(self, candidates):
        """Scores of each cluster's current predictor; ``>= 0.5`` reproduces it."""
        out = torch.empty_like(candidates[0])
        for cluster, mode in zip(self.clusters, self.modes()):
            if mode == "pure":
                out[:, cluster.index] = cluster.first_labelset
            else:
                out[:, cluster.index] = candidates[_PREDICTORS.index(mode)][:, cluster.index]
        return _SCORE_FLOOR + (1.0 - 2.0 * _SCORE_FLOOR) * out

    def predict_proba(self, X):
        """Host-side float64 scores for a NumPy batch."""
        return self.combine(self.candidates(self.as_tensor(X))).cpu().numpy()

    def _neighbour_labels(self, X):
        """Labels of the k nearest window rows, nearest first: (n, k, n_labels)."""
        filled = self.window_filled
        if filled == 0:
            return torch.zeros((X.shape[0], 1, self.n_labels), dtype=X.dtype, device=X.device)
        scaler = self.network.standardize
        # Exact (non-matmul) distances keep a row's neighbours independent of the batch.
        dist = torch.cdist(scaler(X), scaler(self.window_X[:filled]),
                           compute_mode="donot_use_mm_for_euclid_dist")
        k = min(self.knn_neighbors, filled)
        nearest = torch.topk(dist, k, dim=1, largest=False, sorted=True).indices
        return self.window_Y[nearest]

    # ---- learning ------------------------------------------------------- #
    @torch.no_grad()
    def test(self, X, Y, threshold=0.5):
        """Test step: predict a batch, update error trackers and local drift detectors.

        Returns the host 0/1 predictions (scores ``>= threshold``) of the batch.
        """
        Xt, Yt = self.as_tensor(X), self.as_tensor(Y)
        candidates = self.candidates(Xt)
        pred = (self.combine(candidates) >= threshold).double()
        n = Yt.shape[0]
        ages = self.switch_decay ** torch.arange(n - 1, -1, -1, dtype=Yt.dtype,
                                                 device=Yt.device)
        misses = ((candidates >= 0.5).double() != Yt).double()
        # One transfer per batch: the predictions and every predictor's error sums.
        host = torch.cat([pred, (misses * ages[:, None]).sum(dim=1)]).cpu().numpy()
        pred, error_sums = host[:n], host[n:]
        self.label_errors = (self.switch_decay ** n) * self.label_errors + (
            (1 - self.switch_decay) * error_sums
        )
        for cluster in self.clusters:
            cols = cluster.columns
            if cluster.drifted((pred[:, cols] != Y[:, cols]).mean(axis=1)):
                # MLHAT would grow an alternate subtree; the analogue here is to
                # let both predictors compete again on fresh error estimates.
                self.label_errors[:, cols] = 0.0
                cluster.restart_detector()
                self.n_local_drifts += 1
        return pred

    def learn(self, X, Y, rng):
        """One SGD step on the batch, then update the scaler, window and purity.

        The loss is binary cross-entropy summed over labels plus each cluster's
        label-powerset cross-entropy, Poisson-weighted per instance.
        """
        Xt, Yt = self.as_tensor(X), self.as_tensor(Y)
        self.network.update_scaler(Xt)
        weights = (rng.poisson(1.0, size=len(Y)) if self.bootstrap else np.ones(len(Y)))
        targets = self.as_tensor(np.stack(
            [c.labelset_targets(Y[:, c.columns]) for c in self.clusters], axis=1
        )).long()
        if weights.sum() > 0:
            self.network.train()
            w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
            features = self.network.embed(Xt)
            losses = nn.functional.binary_cross_entropy_with_logits(
                self.network.heads(features), Yt, reduction="none"
            ).sum(dim=1)
            for k, cluster in enumerate(self.clusters):
                losses = losses + nn.functional.cross_entropy(
                    cluster.lp_head(features), targets[:, k], reduction="none"
                )
            loss = (w * losses).sum() / w.sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self._remember(Xt, Yt)
        for cluster in self.clusters:
            cluster.learn(Y[:, cluster.columns])

    def _remember(self, Xt, Yt):
        size = self.window_X.shape[0]
        if Xt.shape[0] >= size:
            Xt, Yt = Xt[-size:], Yt[-size:]
        rows = (self.window_next + torch.arange(Xt.shape[0], device=self.device)) % size
        self.window_X[rows] = Xt
        self.window_Y[rows] = Yt
        self.window_next = (self.window_next + Xt.shape[0]) % size
        self.window_filled = min(size, self.window_filled + Xt.shape[0])


def _labelset_vote(labels):
    """Majority labelset of (n, k, s) neighbour labels, blended with their mean.

    Returns ``(winner + mean) / 2``: it is ``>= 0.5`` exactly on the winning
    labelset's labels (a label the winner lacks is absent from at least one
    neighbour), so thresholding at 0.5 predicts the labelset vote while the
    score still ranks labels. Ties go to the nearest neighbour's labelset.
    """
    agree = (labels[:, :, None, :] == labels[:, None, :, :]).all(dim=-1)
    votes = agree.sum(dim=-1)
    winner_pos = torch.argmax(votes, dim=1)
    winner = labels[torch.arange(labels.shape[0], device=labels.device), winner_pos]
    return (winner + labels.mean(dim=1)) / 2
