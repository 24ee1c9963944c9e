"""Online multi-label learning that restructures its label space on drift (iHOMER)."""

import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from river.base import MultiLabelClassifier
from river.drift import ADWIN
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from .._engine import (
    Interval,
    StrOptions,
    _fit_context,
    binarize_class_labels,
    check_binary_indicator,
    check_hidden_layer_sizes,
    check_thresholds,
    draw_seed,
    labels_from_proba,
    read_targets,
    resolve_device,
    seeded_torch,
    shown_names,
)
from ._label_tree import LabelTree
from ._learners import ClusterLearners
from ._stream import error_rose, example_f1_rows

__all__ = ["IHOMERClassifier", "IHOMERRiver", "prequential_evaluate"]

# Rows per block when predicting many rows.
_PREDICT_BLOCK = 1024
# Parameters that shape the model's arrays: changing them needs a new fit.
_FIXED_PARAMS = ("hidden_layer_sizes", "knn_window", "lp_max_labelsets", "device")


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


class IHOMERClassifier(ClassifierMixin, BaseEstimator):
    """Incremental HOMER: online label clustering with per-cluster learners.

    A label tree (ODAC with the Jaccard distance, ODAC-J) partitions the labels
    into clusters of co-occurring labels while the stream flows, forgetting
    old co-occurrences at ``label_stats_decay`` per instance. Each cluster
    gets its own leaf predictor: its only labelset while it has seen just
    one, else whichever has the best recent micro-F1 on its labels among a
    labelset-kNN over recent instances (as MLHAT's young leaves), a
    label-powerset head and binary relevance, both on a shared torch trunk
    trained by SGD. A global ADWIN on ``1 - example-F1`` flushes the label
    statistics when the error rises, so the tree can merge and re-split to
    the new correlation structure; a local ADWIN per cluster restarts the
    competition between its predictors.

    **Steps.** The model learns in test-then-train steps of ``batch_size``
    rows, whatever the size of the ``partial_fit`` calls: rows are predicted
    (the test step) as they arrive and kept in a buffer, and the buffer is
    learned (one SGD step, label-tree and detector updates) once it holds
    ``batch_size`` rows. One row per call therefore learns exactly as calls
    of ``batch_size`` rows do, and ``predict`` uses the model as of the last
    full step (at most ``batch_size - 1`` rows behind). ``fit`` also learns
    the last, partial step. A ``partial_fit`` call on the rows just passed to
    ``predict`` or ``predict_proba`` (prequential use) reuses that
    prediction as its test step instead of computing it again.

    Differences from the paper: the cluster
    learners are not Hoeffding trees (no instance routing, subtree switches or
    their parameters), and predictors are chosen by measured error rather than
    MLHAT's weight and entropy thresholds.

    Parameters
    ----------
    cluster_check_every : int, default=100
        Instances between the label tree's split/merge tests.
    cluster_delta : float, default=0.9
        Confidence parameter of the label tree's Hoeffding bound.
    cluster_tau : float, default=0.1
        Tie threshold of the label tree's split test.
    label_stats_decay : float, default=0.999
        Per-instance forgetting factor of the label co-occurrence statistics;
        1.0 never forgets.
    min_cluster_size : int or "auto", default="auto"
        Clusters smaller than this are merged with their nearest tree
        relative. "auto" uses the most frequent non-empty labelset size.
    max_clusters : int or None, default=None
        Cap on the number of label-tree leaves.
    switch_decay : float, default=0.99
        Per-instance decay of the test-then-train F1 counts by which each
        cluster picks its predictor (labelset-kNN, binary relevance or
        label powerset).
    knn_neighbors : int, default=4
        Neighbours of the labelset-kNN.
    knn_window : int, default=170
        Recent instances the labelset-kNN searches.
    lp_max_labelsets : int, default=32
        Labelset slots of each cluster's label-powerset head (first come);
        later labelsets share an "other" class.
    bootstrap : bool, default=False
        Weight each instance by Poisson(1) in the SGD loss (online bagging).
        Off by default (a departure from MLHAT, which bags 10 models): with one
        network the weights only add gradient noise.
    global_drift : {"adwin"} or None, default="adwin"
        Global drift detector on ``1 - example-F1``; None disables it.
    drift_delta : float, default=0.002
        Confidence of the global and local ADWIN detectors. The local ones
        see each cluster's mean Hamming error once per step.
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Widths of the shared ReLU trunk; ``()`` feeds the standardised inputs
        straight to the heads.
    lr : float, default=0.1
        SGD learning rate of the shared network and its heads.
    batch_size : int, default=16
        Rows per test-then-train step (one SGD step each). The paper's 64 gives
        too few SGD steps on short streams (``docs/benchmarks.md``).
    max_passes : int, default=1
        Test-then-train passes over the data in ``fit``.
    threshold : float or array-like of shape (n_labels,), default=0.5
        Probability at or above which ``predict`` outputs a label, one value
        for all labels or one per label.
    device : str, default="auto"
        Torch device of the SGD step. "auto" means "cpu", with or without a
        GPU: a step trains on ``batch_size`` rows and predictions run on the
        host, so a GPU only adds transfers (issue 17, H200, Yeast, steps of
        16: 1,554 inst/s on CUDA vs 2,722 on its CPU, measured before
        predictions moved to the host).
    random_state : int, RandomState instance or None, default=None
        Seeds the network initialisation, the labelset keys and the bootstrap
        weights (if any). Torch's global RNG is left untouched.

    Attributes
    ----------
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X is a DataFrame.
    classes_ : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels)`` otherwise.
    label_names_ : ndarray of shape (`n_labels_`,)
        Column names of a DataFrame ``y``, else ``classes_``.
    n_labels_ : int
        Width of the label indicator matrix.
    thresholds_ : ndarray of shape (`n_labels_`,)
        Per-label thresholds used by ``predict``: the current ``threshold``,
        also when it was changed by ``set_params`` after the last call.
    label_partition_ : tuple of tuple of int
        Current label clusters.
    n_clusters_ : int
        Number of clusters.
    label_tree_ : LabelTree
        The ODAC-J label tree.
    label_tree_depth_ : int
        Depth of its deepest active leaf.
    n_drifts_ : int
        Global drifts detected.
    n_local_drifts_ : int
        Cluster-level drifts detected.
    n_restructures_ : int
        Times the partition changed.
    drift_log_ : list of tuple
        ``(n_instances_seen, kind, label_partition)`` for every drift and
        restructure, kind in {"drift", "restructure"}.
    n_instances_seen_ : int
        Instances learned (repeated passes count again); rows waiting in a
        partial step are not counted yet.
    prequential_scores_ : ndarray of shape (max_passes,)
        Mean test-then-train example-F1 of each pass of ``fit``.
    device_ : str
        Resolved torch device.

    References
    ----------
    .. [1] L. Neves et al., "Online Multi-Label Classification under Noisy and
       Changing Label Distribution" (iHOMER), ECAI 2025, arXiv:2507.20894.
    .. [2] P. P. Rodrigues, J. Gama, J. P. Pedroso, "Hierarchical Clustering of
       Time-Series Data Streams" (ODAC), IEEE TKDE 20(5), 2008.
    .. [3] A. Esteban et al., "A Hoeffding tree for multi-label data streams"
       (MLHAT), 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_losses import IHOMERClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(600, 5)
    >>> Y = np.c_[X[:, 0] > 0, X[:, 0] > 0, X[:, 1] > 0, X[:, 1] > 0].astype(int)
    >>> clf = IHOMERClassifier(random_state=0)
    >>> for x, y in zip(X, Y):  # one row per call, as a stream delivers them
    ...     clf = clf.partial_fit(x[None], y[None])
    >>> clf.predict(X[:3]).shape
    (3, 4)
    >>> bool(clf.score(X, Y) > 0.85)  # subset accuracy
    True
    """

    _parameter_constraints = {
        "cluster_check_every": [Interval(Integral, 1, None, closed="left")],
        "cluster_delta": [Interval(Real, 0, 1, closed="neither")],
        "cluster_tau": [Interval(Real, 0, None, closed="left")],
        "label_stats_decay": [Interval(Real, 0, 1, closed="right")],
        "min_cluster_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "switch_decay": [Interval(Real, 0, 1, closed="neither")],
        "knn_neighbors": [Interval(Integral, 1, None, closed="left")],
        "knn_window": [Interval(Integral, 1, None, closed="left")],
        "lp_max_labelsets": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "global_drift": [StrOptions({"adwin"}), None],
        "drift_delta": [Interval(Real, 0, 1, closed="neither")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_passes": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(self, *, cluster_check_every=100, cluster_delta=0.9, cluster_tau=0.1,
                 label_stats_decay=0.999, min_cluster_size="auto", max_clusters=None,
                 switch_decay=0.99, knn_neighbors=4, knn_window=170, lp_max_labelsets=32,
                 bootstrap=False, global_drift="adwin", drift_delta=0.002,
                 hidden_layer_sizes=(64,), lr=0.1, batch_size=16, max_passes=1,
                 threshold=0.5, device="auto", random_state=None):
        self.cluster_check_every = cluster_check_every
        self.cluster_delta = cluster_delta
        self.cluster_tau = cluster_tau
        self.label_stats_decay = label_stats_decay
        self.min_cluster_size = min_cluster_size
        self.max_clusters = max_clusters
        self.switch_decay = switch_decay
        self.knn_neighbors = knn_neighbors
        self.knn_window = knn_window
        self.lp_max_labelsets = lp_max_labelsets
        self.bootstrap = bootstrap
        self.global_drift = global_drift
        self.drift_delta = drift_delta
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lr = lr
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.threshold = threshold
        self.device = device
        self.random_state = random_state

    # ---- validation ----------------------------------------------------- #
    def _validate_X(self, X, reset):
        return validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=reset)

    def _check_stream_X(self, X):
        """Validate the rows of a fitted model's call.

        A finite float ndarray (or, up to ``batch_size`` rows, a CSR matrix)
        of the right width, the usual streaming call, skips
        ``validate_data``, whose overhead would dominate a one-row call;
        anything else goes through it and gets its checks and messages.
        """
        if (X.__class__ is np.ndarray or (sp.issparse(X) and X.format == "csr"
                                        and X.shape[0] <= self.batch_size)) \
                and X.ndim == 2 and X.shape[0] >= 1 and X.shape[1] == self.n_features_in_ \
                and X.dtype.kind == "f" and not hasattr(self, "feature_names_in_"):
            dense = _dense(X)
            if np.isfinite(dense).all():
                return dense.astype(np.float32)
        return self._validate_X(X, reset=False)

    def _check_stream_Y(self, y, classes):
        if (classes is not None and not self.multilabel_
                and not np.array_equal(np.unique(np.asarray(classes)), self.classes_)):
            raise ValueError(
                f"classes={list(classes)!r} is not the same as in the first partial_fit "
                f"call ({self.classes_.tolist()!r}); the classes are fixed by the first call. "
                "Call fit, or partial_fit on a new estimator, to start a new stream."
            )
        if (type(y) is np.ndarray and y.ndim == 2 and self.multilabel_
                and y.shape[1] == self.n_labels_ and ((y == 0) | (y == 1)).all()):
            return y.astype(np.float64)
        return self._encode_targets(y, classes, first=False)

    def _encode_targets(self, y, classes=None, first=True):
        """Turn ``y`` into a float 0/1 matrix; on the first call fix the label space."""
        # A sparse indicator matrix stays sparse; _consume densifies the rows
        # it buffers.
        y_arr, names = read_targets(y, keep_sparse=True, estimator_name=type(self).__name__)
        if first:
            self.multilabel_ = y_arr.ndim != 1
            if not self.multilabel_:
                self._fit_label_binarizer(y_arr, classes)
        if not self.multilabel_:
            return self._encode_classes(y_arr)
        Y = check_binary_indicator(y_arr, name="y", keep_sparse=True).astype(np.float64)
        if first:
            self.classes_ = np.arange(Y.shape[1])
            self.label_names_ = (np.asarray(names, dtype=object) if names is not None
                                 else self.classes_)
            self._named_labels = names is not None
        elif Y.shape[1] != self.n_labels_:
            raise ValueError(
                f"y has {Y.shape[1]} labels but the first partial_fit call had "
                f"{self.n_labels_}; the label space is fixed by the first call."
            )
        elif names is not None:
            self._check_label_names(names)
        return Y

    def _check_label_names(self, names):
        """Label columns are read by position, so named ones must match the first call's.

        As scikit-learn does for feature names: columns named in both calls
        must agree in name and order; a ``y`` without names (an ndarray), or
        a first call without them, is read by position.
        """
        if self._named_labels and not np.array_equal(np.asarray(names, dtype=object),
                                                     self.label_names_):
            raise ValueError(
                f"y's columns {shown_names(names)} are not the label columns of the first "
                f"partial_fit call, {shown_names(self.label_names_)} (label_names_), in that "
                "order; labels are read by position. Pass y[clf.label_names_], or call fit "
                "to start a new stream with these labels."
            )

    def _encode_classes(self, y_arr):
        if y_arr.ndim != 1:
            raise ValueError("y was 1-D (class labels) in the first call; keep it 1-D.")
        unseen = np.setdiff1d(np.unique(y_arr), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds class(es) {unseen[:5].tolist()} not in classes_ "
                f"{self.classes_.tolist()}; pass every class to the first partial_fit "
                "call via classes=."
            )
        return self._label_binarizer.transform(y_arr).astype(np.float64)

    def _fit_label_binarizer(self, y_arr, classes):
        self._label_binarizer, _ = binarize_class_labels(y_arr, classes=classes)
        if self._label_binarizer.classes_.size < 2:
            raise ValueError(
                "IHOMERClassifier needs at least 2 classes; only one class is present. "
                "Pass all classes via partial_fit(..., classes=) or use a 2-D y."
            )
        self.classes_ = self._label_binarizer.classes_
        self.label_names_ = self.classes_

    # ---- state ---------------------------------------------------------- #
    def _initialize(self, n_features, n_labels):
        self.n_labels_ = n_labels
        self._thresholds = check_thresholds(self.threshold, n_labels)
        # Never CUDA by default: see the ``device`` parameter.
        self.device_ = "cpu" if self.device == "auto" else resolve_device(self.device)
        seed = draw_seed(self.random_state)
        self._rng = np.random.RandomState(seed)
        self.label_tree_ = LabelTree(
            n_labels, check_every=self.cluster_check_every, delta=self.cluster_delta,
            tau=self.cluster_tau, decay=self.label_stats_decay,
            max_clusters=self.max_clusters,
        )
        self.label_partition_ = self.label_tree_.partition()
        self._partition_key = None
        with seeded_torch(seed, self.device_):
            self.learners_ = ClusterLearners(
                n_features, n_labels, self.label_partition_,
                hidden_layer_sizes=check_hidden_layer_sizes(self.hidden_layer_sizes), lr=self.lr,
                knn_neighbors=self.knn_neighbors, knn_window=self.knn_window,
                lp_max_labelsets=self.lp_max_labelsets,
                switch_decay=self.switch_decay, bootstrap=self.bootstrap,
                drift_delta=self.drift_delta, device=self.device_, rng=self._rng,
            )
        self._detector = ADWIN(delta=self.drift_delta) if self.global_drift else None
        self.n_drifts_ = 0
        self.n_restructures_ = 0
        self.drift_log_ = []
        self.n_instances_seen_ = 0
        self._allocate_buffers(n_features, n_labels)
        self._cache = None
        self._pass_total, self._pass_count = 0.0, 0
        self._applied = self.get_params(deep=False)
        self._sync_summary()

    def _allocate_buffers(self, n_features, n_labels):
        """The step buffer: rows, labels and their test-step scores."""
        size = self.batch_size
        self._buf_X = np.zeros((size, n_features))
        self._buf_Y = np.zeros((size, n_labels))
        self._buf_candidates = np.zeros((3, size, n_labels))
        self._buf_scores = np.zeros((size, n_labels))
        self._n_buffered = 0

    def _sync_summary(self):
        """Refresh the summary attributes after a step."""
        self.n_clusters_ = len(self.label_partition_)
        self.label_tree_depth_ = self.label_tree_.depth
        self.n_local_drifts_ = self.learners_.n_local_drifts

    def _sync_params(self):
        """Validate and apply parameters changed (``set_params``) since the last call.

        sklearn skips parameter validation in ``partial_fit`` once fitted, so
        a mid-stream change is validated here. Parameters that size the
        model's arrays cannot change without a new ``fit``.
        """
        changed = {name for name, value in self._applied.items()
                   if getattr(self, name) is not value}
        if not changed:
            return
        self._validate_params()
        current = self.get_params(deep=False)
        fixed = [name for name in _FIXED_PARAMS if name in changed
                 and not _same_param(name, current[name], self._applied[name])]
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change between partial_fit calls (they size "
                "the model); call fit to start a new stream with the new value."
            )
        self._thresholds = check_thresholds(self.threshold, self.n_labels_)
        self._apply_learning_params(changed)
        self._applied = current

    def _apply_learning_params(self, changed):
        tree, learners = self.label_tree_, self.learners_
        tree.check_every, tree.delta = self.cluster_check_every, self.cluster_delta
        tree.tau, tree.decay = self.cluster_tau, self.label_stats_decay
        tree.max_clusters = self.max_clusters
        learners.lr = self.lr
        for group in learners.optimizer.param_groups:
            group["lr"] = self.lr
        learners.switch_decay, learners.bootstrap = self.switch_decay, self.bootstrap
        learners.knn_neighbors = self.knn_neighbors
        if changed & {"drift_delta", "global_drift"}:
            learners.drift_delta = self.drift_delta
            learners.restart_detectors()
            self._detector = ADWIN(delta=self.drift_delta) if self.global_drift else None
        if "batch_size" in changed:
            self._resize_buffer()
        learners.refresh()  # predictions may depend on knn_neighbors

    def _resize_buffer(self):
        if self._n_buffered >= self.batch_size:
            self._learn_buffer()
        pending = self._n_buffered
        saved = (self._buf_X[:pending].copy(), self._buf_Y[:pending].copy(),
                 self._buf_candidates[:, :pending].copy(), self._buf_scores[:pending].copy())
        self._allocate_buffers(self.n_features_in_, self.n_labels_)
        self._buf_X[:pending], self._buf_Y[:pending] = saved[0], saved[1]
        self._buf_candidates[:, :pending], self._buf_scores[:pending] = saved[2], saved[3]
        self._n_buffered = pending

    # ---- learning ------------------------------------------------------- #
    def _consume(self, X, Y):
        """Test each row as it arrives; learn the buffer whenever it is full."""
        reuse = self._cached_prediction(X)
        learners, pos = self.learners_, 0
        while pos < X.shape[0]:
            take = min(X.shape[0] - pos, self.batch_size - self._n_buffered)
            rows = _dense(X[pos:pos + take])
            at = slice(self._n_buffered, self._n_buffered + take)
            self._buf_X[at] = rows
            self._buf_Y[at] = _dense(Y[pos:pos + take])
            if self.n_instances_seen_ > 0:  # the first step has nothing to test
                if reuse is not None and reuse[0] == learners.version:
                    candidates, scores = reuse[1][:, pos:pos + take], reuse[2][pos:pos + take]
                else:
                    candidates = learners.candidates(self._buf_X[at])
                    scores = learners.combine(candidates)
                self._buf_candidates[:, at], self._buf_scores[at] = candidates, scores
            self._n_buffered += take
            pos += take
            if self._n_buffered == self.batch_size:
                self._learn_buffer()

    def _cached_prediction(self, X):
        """``(version, candidates, scores)`` of the last ``predict`` on these rows."""
        cache = self._cache
        if cache is None or X.shape[0] != cache[1].shape[0]:
            return None
        if not np.array_equal(_dense(X), cache[1]):
            return None
        return cache[0], cache[2], cache[3]

    def _learn_buffer(self):
        """Finish the test step of the buffered rows, then learn them."""
        n = self._n_buffered
        X, Y = self._buf_X[:n], self._buf_Y[:n]
        if self.n_instances_seen_ > 0:
            predictions = self._buf_scores[:n] >= self._thresholds
            self.learners_.observe(self._buf_candidates[:, :n], predictions, Y)
            scores = example_f1_rows(Y, predictions)
            self._observe_global(scores)
            self._pass_total += float(scores.sum())
            self._pass_count += n
        self.learners_.learn(X, Y)
        self.n_instances_seen_ += n
        self.label_tree_.update(Y)
        self._maybe_restructure()
        self.learners_.refresh()
        self._n_buffered = 0
        self._cache = None
        self._sync_summary()

    def _observe_global(self, scores):
        if self._detector is None:
            return
        for score in scores:
            if error_rose(self._detector, 1.0 - score):
                # The tree keeps its structure; fresh statistics let a merge test
                # see the new correlations without the old ones diluting them.
                self.label_tree_.reset_statistics()
                self.n_drifts_ += 1
                self.drift_log_.append((self.n_instances_seen_, "drift",
                                        self.label_partition_))

    def _maybe_restructure(self):
        if self.n_instances_seen_ < 100:
            return
        size = self.min_cluster_size
        if size == "auto":
            size = self.label_tree_.modal_cardinality()
        tree = self.label_tree_
        key = (tree.n_splits, tree.n_merges, size)
        if key == self._partition_key:  # the partition depends on nothing else
            return
        self._partition_key = key
        partition = tree.partition(size)
        if partition != self.label_partition_:
            self.label_partition_ = partition
            self.learners_.restructure(partition)
            self.n_restructures_ += 1
            self.drift_log_.append((self.n_instances_seen_, "restructure", partition))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Reset, then learn ``max_passes`` test-then-train passes in row order.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Stream rows, in order.
        y : {array-like, sparse matrix} of shape (n_samples, n_labels) or (n_samples,)
            0/1 label indicator matrix, or 1-D class labels (one-hot encoded).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        check_consistent_length(X, y)
        Y = self._encode_targets(y)
        self._initialize(X.shape[1], Y.shape[1])
        scores = []
        for _ in range(self.max_passes):
            self._pass_total, self._pass_count = 0.0, 0
            self._consume(X, Y)
            if self._n_buffered:
                self._learn_buffer()
            count = self._pass_count
            scores.append(self._pass_total / count if count else np.nan)
        self.prequential_scores_ = np.array(scores)
        return self

    def partial_fit(self, X, y, classes=None):
        """Test-then-train on the rows of one call; the first call fixes the shapes.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Rows in stream order; one row per call is fine.
        y : {array-like, sparse matrix} of shape (n_samples, n_labels) or (n_samples,)
            0/1 label indicator matrix, or 1-D class labels. Columns are read
            by position: a DataFrame after a first call with named columns
            must have those columns in that order (``label_names_``).
        classes : array-like, default=None
            Every class of a 1-D ``y``; needed on the first call unless that
            batch already holds them all. Ignored for a 2-D ``y``.

        Returns
        -------
        self : object
            Updated estimator.
        """
        if not hasattr(self, "learners_"):
            return self._start_stream(X, y, classes)
        # Later calls bypass _fit_context: sklearn skips parameter validation
        # there anyway (_sync_params validates what changed), and its per-call
        # overhead is about that of learning one row.
        self._sync_params()
        X = self._check_stream_X(X)
        Y = self._check_stream_Y(y, classes)
        if Y.shape[0] != X.shape[0]:
            check_consistent_length(X, y)  # raises sklearn's message
        self._consume(X, Y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _start_stream(self, X, y, classes):
        """The first ``partial_fit`` call: validate everything, build the model."""
        X = self._validate_X(X, reset=True)
        check_consistent_length(X, y)
        Y = self._encode_targets(y, classes, first=True)
        self._initialize(X.shape[1], Y.shape[1])
        self._consume(X, Y)
        return self

    # ---- inference ------------------------------------------------------ #
    def _scores(self, X):
        """Per-label scores of the current model, remembered for a following
        ``partial_fit`` on the same rows when they fit in one step."""
        if not hasattr(self, "learners_"):
            check_is_fitted(self, "learners_")  # raises NotFittedError
        X = self._check_stream_X(X)
        learners = self.learners_
        if X.shape[0] > self.batch_size:
            # Sparse rows are densified a block at a time, never all at once.
            return np.concatenate([
                learners.predict_proba(_dense(X[start:start + _PREDICT_BLOCK]))
                for start in range(0, X.shape[0], _PREDICT_BLOCK)
            ])
        dense = _dense(X)
        candidates = learners.candidates(dense.astype(np.float64))
        scores = learners.combine(candidates)
        self._cache = (learners.version, dense.copy(), candidates, scores)
        return scores

    def _current_thresholds(self):
        if self.threshold is self._applied["threshold"]:
            return self._thresholds
        return check_thresholds(self.threshold, self.n_labels_)

    @property
    def thresholds_(self):
        """Per-label thresholds ``predict`` uses (the current ``threshold``).

        Also when ``threshold`` was set after the last ``partial_fit``.
        """
        check_is_fitted(self, "learners_")
        return self._current_thresholds()

    def predict_proba(self, X):
        """Per-label scores.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels), dtype float64
            Label scores in [0, 1] (``>= threshold`` gives ``predict``). For a
            1-D ``y`` the rows are normalised over ``classes_``.
        """
        proba = self._scores(X)
        if self.multilabel_:
            return proba
        if len(self.classes_) == 2:
            return np.hstack([1.0 - proba, proba])
        proba = proba + 1e-12  # a row of all-zero scores becomes uniform
        return proba / proba.sum(axis=1, keepdims=True)

    def decision_function(self, X):
        """Log-odds of the per-label scores.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_labels) or (n_samples,)
            ``log(p / (1 - p))`` of the unnormalised scores; 1-D for a binary
            1-D ``y``. Positive where ``predict`` would say yes at
            ``threshold=0.5``.
        """
        proba = self._scores(X)
        logit = np.log(proba) - np.log1p(-proba)
        return logit.ravel() if not self.multilabel_ and len(self.classes_) == 2 else logit

    def predict(self, X):
        """Predict labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_labels) or (n_samples,)
            0/1 int indicator matrix (``predict_proba >= threshold``), or class
            labels for a 1-D ``y``.
        """
        return labels_from_proba(
            self.predict_proba(X), self._current_thresholds(), self.classes_, self.multilabel_
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags


def _same_param(name, new, old):
    if name == "hidden_layer_sizes":
        return check_hidden_layer_sizes(new) == check_hidden_layer_sizes(old)
    return new == old


def prequential_evaluate(estimator, X, Y, *, batch_size=64, window=500):
    """Test-then-train evaluation of a ``partial_fit`` multi-label estimator.

    Each batch is predicted before the estimator learns it. The metrics are
    counted batch by batch, so memory stays one batch wide however long the
    stream; they equal ``sklearn.metrics`` on all tested rows (example-F1 of
    an empty true and predicted set is 1, F1 of a label never true nor
    predicted is 0). ``IHOMERClassifier`` reuses the prediction as its test
    step, so a batch is predicted once.

    Parameters
    ----------
    estimator : estimator with ``partial_fit`` and ``predict``
        Updated in place.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Stream rows in order.
    Y : {array-like, sparse matrix} of shape (n_samples, n_labels)
        0/1 labels.
    batch_size : int, default=64
        Rows per ``predict`` / ``partial_fit`` call (1 is the per-instance
        protocol).
    window : int, default=500
        Width of the sliding window for the windowed example-F1.

    Returns
    -------
    result : dict
        ``example_f1``, ``micro_f1``, ``macro_f1``, ``subset_accuracy``,
        ``hamming_loss`` over the tested rows (the first batch is only
        learned), ``instances_per_second`` (of the estimator's ``predict``
        and ``partial_fit`` calls), ``row_example_f1`` (per row, NaN
        for the first batch) and ``windowed_example_f1`` (per row, the mean
        row example-F1 of the last ``window`` tested rows, or of all tested
        rows so far while fewer than ``window`` have been tested, as river's
        rolling metrics; NaN for the first batch).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(300, 4)
    >>> Y = np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int)
    >>> res = prequential_evaluate(IHOMERClassifier(random_state=0), X, Y)
    >>> bool(res["example_f1"] > 0.7)
    True
    """
    for name, value in (("batch_size", batch_size), ("window", window)):
        if not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    X = X.tocsr() if sp.issparse(X) else np.asarray(X)
    Y = Y.tocsr() if sp.issparse(Y) else np.asarray(Y)
    if Y.shape[0] <= batch_size:
        raise ValueError(
            f"prequential_evaluate got {Y.shape[0]} rows and batch_size={batch_size}: the "
            "first batch is only learned, so nothing would be tested. Pass more rows or a "
            "smaller batch_size."
        )
    # Counts, not the stream's label and prediction matrices: memory stays
    # one batch wide however long the stream and however many labels. Only
    # the model's calls are timed.
    n_samples, n_labels = Y.shape
    counts = np.zeros((3, n_labels), dtype=np.int64)  # tp, fp, fn per label
    exact, seconds = 0, 0.0
    rows = np.full(n_samples, np.nan)
    for start in range(0, n_samples, batch_size):
        stop = start + batch_size
        tick = time.perf_counter()
        predicted = estimator.predict(X[start:stop]) if start > 0 else None
        estimator.partial_fit(X[start:stop], Y[start:stop])
        seconds += time.perf_counter() - tick
        if predicted is not None:
            true = _dense(Y[start:stop]) > 0.5
            predicted = np.asarray(predicted) > 0.5
            counts += [(true & predicted).sum(0), (~true & predicted).sum(0),
                       (true & ~predicted).sum(0)]
            exact += int((true == predicted).all(axis=1).sum())
            rows[start:stop] = example_f1_rows(true, predicted)
    n_tested = n_samples - batch_size
    windowed = np.full(n_samples, np.nan)
    windowed[batch_size:] = _trailing_mean(rows[batch_size:], window)
    return {
        "example_f1": float(np.mean(rows[batch_size:])),
        **_f1_from_counts(*counts),
        "subset_accuracy": exact / n_tested,
        "hamming_loss": float(counts[1:].sum() / (n_tested * n_labels)),
        "instances_per_second": n_samples / seconds,
        "row_example_f1": rows,
        "windowed_example_f1": windowed,
    }


def _trailing_mean(values, window):
    """Mean of the last ``window`` values at each position, or of all so far
    while fewer have been seen (as river's rolling metrics)."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(1, values.size + 1)
    start = np.maximum(end - window, 0)
    return (total[end] - total[start]) / (end - start)


def _f1_from_counts(tp, fp, fn):
    """Micro and macro F1 from per-label counts over the whole stream, as
    ``f1_score(..., zero_division=0)`` gives them (the test checks it)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        per_label = np.nan_to_num(2 * tp / (2 * tp + fp + fn))
    errors = 2 * tp.sum() + fp.sum() + fn.sum()
    return {"micro_f1": float(2 * tp.sum() / errors) if errors else 0.0,
            "macro_f1": float(per_label.mean())}


class IHOMERRiver(MultiLabelClassifier):
    """River adapter: ``learn_one`` / ``predict_one`` over an ``IHOMERClassifier``.

    Every ``learn_one`` goes straight to ``partial_fit`` (no buffering here),
    so the model learns as the wrapped estimator does with one row per call:
    in steps of its ``batch_size``. ``predict_one`` followed by ``learn_one``
    on the same ``x`` predicts once. The feature and label names are fixed
    by the first ``learn_one``: a feature or label missing from a later call
    counts as 0 / False, and one never seen before raises a ``ValueError``
    in ``learn_one`` (``predict_one`` ignores unknown features).

    Parameters
    ----------
    estimator : IHOMERClassifier or None, default=None
        Template, cloned on the first ``learn_one``; None means
        ``IHOMERClassifier()``.

    Attributes
    ----------
    model_ : IHOMERClassifier or None
        The fitted clone, None before the first ``learn_one``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> model = IHOMERRiver(IHOMERClassifier(random_state=0))
    >>> for _ in range(200):
    ...     x = {"a": rng.randn(), "b": rng.randn()}
    ...     model.learn_one(x, {"pos_a": x["a"] > 0, "pos_b": x["b"] > 0})
    >>> model.predict_one({"a": 2.0, "b": -2.0})
    {'pos_a': True, 'pos_b': False}
    """

    def __init__(self, estimator=None):
        self.estimator = estimator
        self.model_ = None
        self._features = None
        self._labels = None

    def _row(self, x):
        return np.array([[x.get(name, 0.0) for name in self._features]], dtype=np.float64)

    def _check_keys(self, x, y):
        for kind, given, known in (("feature", x, self._features), ("label", y, self._labels)):
            new = given.keys() - set(known)
            if new:
                raise ValueError(
                    f"{kind}(s) {sorted(map(str, new))[:5]} were not in the first learn_one "
                    f"call; IHOMERRiver fixes its {kind}s then. Pass every {kind} in the "
                    "first call (with 0 / False if need be)."
                )

    def learn_one(self, x, y):
        """Test-then-train on one row (see the class description).

        Parameters
        ----------
        x : dict
            Features.
        y : dict
            Label name -> bool.
        """
        if self.model_ is None:
            self._features, self._labels = list(x), list(y)
            template = IHOMERClassifier() if self.estimator is None else self.estimator
            self.model_ = clone(template)
        else:
            self._check_keys(x, y)
        labels = np.array([[bool(y.get(name, False)) for name in self._labels]], dtype=float)
        self.model_.partial_fit(self._row(x), labels)

    def predict_proba_one(self, x):
        """Per-label ``{False: 1 - p, True: p}``; empty before the first ``learn_one``.

        Parameters
        ----------
        x : dict
            Features.

        Returns
        -------
        proba : dict
            Label name -> ``{False: float, True: float}``.
        """
        if self.model_ is None:
            return {}
        proba = self.model_.predict_proba(self._row(x))[0]
        return {name: {False: 1.0 - p, True: p} for name, p in zip(self._labels, proba)}

    def predict_one(self, x):
        """Predicted labels, ``p >= threshold`` of the wrapped estimator.

        Parameters
        ----------
        x : dict
            Features.

        Returns
        -------
        labels : dict
            Label name -> bool; empty before the first ``learn_one``.
        """
        if self.model_ is None:
            return {}
        pred = self.model_.predict(self._row(x))[0]
        return {name: bool(v) for name, v in zip(self._labels, pred)}
