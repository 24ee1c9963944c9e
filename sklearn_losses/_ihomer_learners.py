"""Per-cluster learners for iHOMER, on the estimator's torch device.

Each label cluster gets an MLHAT-style leaf predictor:

- a *pure* cluster (one labelset seen so far) predicts that labelset;
- otherwise it predicts with whichever of two learners has made fewer
  recent errors on its labels (an exponentially decayed test-then-train
  Hamming error): the majority labelset of the ``k`` nearest recent instances
  (MLHAT's labelset-kNN over a sliding window), or binary relevance, one
  logistic output per label on a shared trunk trained by mini-batch SGD with
  Poisson(1) (online bagging) weights. [ours] MLHAT switches on leaf weight
  and entropy; here the binary-relevance weights outlive restructures, so a
  new cluster's age says nothing about them and measured error decides.

Binary-relevance heads are rows of one output layer indexed by label, so when
the partition changes a label keeps its weights whichever cluster it joins
(the spec's label-by-label warm start), and error trackers are per label for
the same reason. Cluster-level state (purity, a local ADWIN) is kept for
clusters whose label set survives a restructure and started afresh for new
ones.
"""

import numpy as np
import torch
from river.drift import ADWIN
from torch import nn

# Scores are squeezed into [floor, 1 - floor]: probabilities estimated from a
# finite sample should not be exactly 0 or 1.
_SCORE_FLOOR = 1e-6

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

    def forward(self, X):
        return self.heads(self.trunk(self.standardize(X)))


class ClusterState:
    """Purity and drift state of one label cluster.

    Parameters
    ----------
    labels : tuple of int
        The cluster's labels.
    drift_delta : float
        Confidence of the local ADWIN on the cluster's Hamming error.
    device : str
        Device of the label index tensor.
    """

    def __init__(self, labels, drift_delta, device):
        self.labels = tuple(labels)
        self.columns = list(self.labels)
        self.index = torch.as_tensor(self.labels, dtype=torch.long, device=device)
        self.drift_delta = drift_delta
        self.first_labelset = None
        self.pure = True
        self.detector = ADWIN(delta=drift_delta)

    def learn(self, Ys):
        """Update purity with the cluster's columns of a batch (host array)."""
        if self.first_labelset is None:
            self.first_labelset = Ys[0].copy()
        if self.pure and not (Ys == self.first_labelset).all():
            self.pure = False

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
    ...     knn_neighbors=4, knn_window=100, switch_decay=0.99, bootstrap=False,
    ...     drift_delta=0.002, device="cpu")
    >>> learners.learn(X, Y, rng)
    >>> bool((learners.predict_proba(X[:50]).round() == Y[:50]).mean() > 0.9)
    True
    """

    def __init__(self, n_features, n_labels, partition, *, hidden_units, lr, knn_neighbors,
                 knn_window, switch_decay, bootstrap, drift_delta, device):
        self.n_labels = n_labels
        self.knn_neighbors = knn_neighbors
        self.switch_decay = switch_decay
        self.bootstrap = bootstrap
        self.drift_delta = drift_delta
        self.device = device
        self.network = SharedTrunkNetwork(n_features, n_labels, hidden_units).to(
            device=device, dtype=torch.float64
        )
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=lr)
        self.window_X = torch.zeros((knn_window, n_features), dtype=torch.float64,
                                    device=device)
        self.window_Y = torch.zeros((knn_window, n_labels), dtype=torch.float64,
                                    device=device)
        self.window_filled = 0
        self.window_next = 0
        # Decayed Hamming errors per label: row 0 labelset-kNN, row 1 BR.
        self.label_errors = np.zeros((2, n_labels))
        self.n_local_drifts = 0
        self.clusters = []
        self.restructure(partition)

    # ---- structure ------------------------------------------------------ #
    def restructure(self, partition):
        """Keep the state of clusters whose label set survives; start the rest."""
        kept = {state.labels: state for state in self.clusters}
        self.clusters = [
            kept.get(tuple(labels)) or ClusterState(labels, self.drift_delta, self.device)
            for labels in partition
        ]

    def modes(self):
        """Predictor each cluster uses now: "pure", "knn" or "br"."""
        out = []
        for cluster in self.clusters:
            if cluster.pure and cluster.first_labelset is not None:
                out.append("pure")
                continue
            knn_error, br_error = self.label_errors[:, cluster.columns].sum(axis=1)
            # Ties (nothing measured yet) go to the kNN, MLHAT's young-leaf choice.
            out.append("br" if br_error < knn_error else "knn")
        return out

    # ---- prediction ----------------------------------------------------- #
    def as_tensor(self, X):
        """A host batch as a float64 tensor on the learners' device."""
        return torch.as_tensor(np.asarray(X, dtype=np.float64), device=self.device)

    @torch.no_grad()
    def candidates(self, X):
        """Binary-relevance and labelset-kNN scores, each (n, n_labels), on the device."""
        self.network.eval()
        br = torch.sigmoid(self.network(X))
        neighbours = self._neighbour_labels(X)
        knn = torch.empty_like(br)
        for cluster in self.clusters:
            knn[:, cluster.index] = _labelset_vote(neighbours[:, :, cluster.index])
        return knn, br

    def combine(self, knn, br):
        """Scores of each cluster's current predictor; ``>= 0.5`` reproduces it."""
        out = torch.empty_like(br)
        for cluster, mode in zip(self.clusters, self.modes()):
            if mode == "pure":
                out[:, cluster.index] = torch.as_tensor(
                    cluster.first_labelset, dtype=out.dtype, device=out.device
                )
            else:
                out[:, cluster.index] = (knn if mode == "knn" else br)[:, cluster.index]
        return _SCORE_FLOOR + (1.0 - 2.0 * _SCORE_FLOOR) * out

    def predict_proba(self, X):
        """Host-side float64 scores for a NumPy batch."""
        return self.combine(*self.candidates(self.as_tensor(X))).cpu().numpy()

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
        knn, br = self.candidates(Xt)
        pred = (self.combine(knn, br) >= threshold).double()
        n = Yt.shape[0]
        ages = self.switch_decay ** torch.arange(n - 1, -1, -1, dtype=Yt.dtype,
                                                 device=Yt.device)
        misses = torch.stack([((knn >= 0.5).double() != Yt), ((br >= 0.5).double() != Yt)])
        # One transfer per batch: the predictions and both learners' error sums.
        host = torch.cat([pred, (misses.double() * ages[:, None]).sum(dim=1)]).cpu().numpy()
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
                cluster.detector = ADWIN(delta=self.drift_delta)
                self.n_local_drifts += 1
        return pred

    def learn(self, X, Y, rng):
        """One SGD step on the batch, then update the scaler, window and purity."""
        Xt, Yt = self.as_tensor(X), self.as_tensor(Y)
        self.network.update_scaler(Xt)
        weights = (rng.poisson(1.0, size=len(Y)) if self.bootstrap else np.ones(len(Y)))
        if weights.sum() > 0:
            self.network.train()
            w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
            losses = nn.functional.binary_cross_entropy_with_logits(
                self.network(Xt), Yt, reduction="none"
            ).sum(dim=1)
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
