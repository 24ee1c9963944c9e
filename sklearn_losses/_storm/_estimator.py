"""Learning from noisy labels by meta-learned loss rescaling (STORM)."""

import copy

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted

from .._engine import (
    Integral,
    Interval,
    MLPNetwork,
    Real,
    StrOptions,
    TorchClassifierBase,
    _fit_context,
    check_hidden_layer_sizes,
    instantiate_module,
)
from ._meta import StormCriterion, StormNet

__all__ = ["NoisyLabelRescaledClassifier"]

# Input dropout of the extra passes for a network without dropout layers when
# ``dropout=0`` (the spec's default rate).
_DEFAULT_INPUT_DROPOUT = 0.1


class NoisyLabelRescaledClassifier(TorchClassifierBase):
    """Neural classifier that learns per-sample loss weights against label noise.

    STORM [1]_ trains a small rescaler network next to the classifier. For each
    sample it sees the mean and spread of the loss and of the confidence over
    ``n_forward_passes`` dropout passes, compares them with recent samples of
    the same noisy class, and outputs a weight in (0, 1). The rescaler is
    meta-learned: the classifier takes a differentiable look-ahead step on the
    weighted loss, and the rescaler is updated to lower the (weighted) loss of
    an independent batch drawn from the same noisy training data at the
    look-ahead parameters. No clean validation data is needed. Samples whose
    labels look wrong get small weights, which are exposed after fitting.

    Multi-class and binary targets (1-D ``y``) use softmax cross-entropy (BCE
    for binary); multi-label indicator targets use BCE with one weight per
    (sample, label) entry by default.

    Parameters
    ----------
    module : "mlp", torch.nn.Module class or instance, default="mlp"
        Network returning logits: "mlp" builds an
        :class:`~sklearn_losses.networks.MLPNetwork`; a class is called as
        ``module(n_features, n_outputs)``; an instance is deep-copied.
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden widths of the default network.
    dropout : float, default=0.1
        Dropout of the default network. For a network without dropout layers
        (a module of one's own, or ``dropout=0``) this rate, or 0.1 when it is
        0, is applied to the inputs of the extra passes, so that the passes
        differ: identical passes leave the features' spreads, KL divergence
        and overlap without information.
    batch_size : int, default=32
        Rows per training batch and per meta batch (capped at the number of
        rows); at least 2, as the rescaler normalises its outputs over the
        batch (a lone row gets weight 0.5).
    lr : float, default=1e-3
        Learning rate of the classifier's optimizer.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer of the classifier.
    rescaler_lr : float, default=1e-2
        Adam learning rate of the rescaler.
    n_forward_passes : int, default=3
        Dropout passes per batch used for the features (``G``, at least 2).
    memory_size : int, default=None
        Recent samples remembered per noisy class; ``None`` means ``batch_size``.
    lookahead_lr : float, default=None
        Step size of the look-ahead step; ``None`` means ``lr``.
    weight_normalization : {"auto", "batch", "class"}, default="auto"
        Scope of the rescaler's batch normalisation: the whole batch, or the
        rows of each noisy class. ``"auto"`` is "batch" for binary and
        multi-label targets (per label), else "class".
    class_separation : bool, default=True
        One rescaler network per noisy class (per label value, multi-label).
    meta_loss_rescaling : bool, default=True
        Weight the meta loss with the rescaler's weights; False is the
        paper's ablation and tends to favour noisy samples.
    meta_gradient : {"auto", "double_backward", "jvp"}, default="auto"
        How the rescaler's gradient through the look-ahead step is computed.
        All give the same gradient for the same dropout masks (up to
        rounding; see the user guide for when the masks differ): ``"double_backward"``
        differentiates through the look-ahead gradient (reverse over
        reverse, as in the paper); ``"jvp"`` gets the meta gradient by a
        plain backward pass and the batch's sensitivity to each weight by
        one forward-mode pass (``torch.autograd.forward_ad``), which needs
        the module to support forward-mode differentiation. ``"auto"``
        computes the ``"jvp"`` products in closed form, without autograd,
        for the default network (``module="mlp"``), and is
        ``"double_backward"`` for a user's module. See the user guide for
        when each is faster.
    meta_interval : int, default=1
        Take the meta step (meta batch, look-ahead, rescaler update) on every
        ``meta_interval``-th training step only; the steps between weight
        their batch with the current rescaler and cost less than half a meta
        step. 1 is the paper's method; the user guide gives the measured
        effect of 2 on time, accuracy and weight quality.
    weight_granularity : {"auto", "sample", "label"}, default="auto"
        For multi-label targets: one weight per row ("sample", mean BCE) or
        per (row, label) ("label"). ``"auto"`` is "label".
    threshold : float, array-like of shape (n_labels,) or "tune", default=0.5
        Probability threshold of ``predict`` for multi-label targets, and on
        the positive class's probability for a binary 1-D ``y``; "tune" picks
        each label's F1-optimal threshold on ``validation_fraction`` of the
        rows, held out (against their possibly noisy labels). A multi-class
        1-D ``y`` is predicted as its most probable class, so any other value
        than 0.5 raises a ValueError.
    max_epochs : int, default=10
        Upper bound on the training epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when their
        (noisy-label) loss stops improving, keeping the best epoch's weights;
        held-out rows get no learnt weight (NaN). Off by default: on noisy
        labels a falling validation loss also rewards fitting the noise, and
        the meta-learnt weights already limit memorisation.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    callbacks : list of (str, skorch.callbacks.Callback), default=None
        Extra skorch callbacks.
    warm_start : bool, default=False
        Continue training the previous fit's network instead of starting anew.
    n_jobs : int, default=None
        CPU threads torch uses during ``fit`` and ``predict`` (restored
        after). None means 1, -1 all cores.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and meta batches.
    verbose : int, default=0
        1 prints a table per epoch, 2 adds a progress bar.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (1-D ``y``) or label indices (2-D ``y``).
    multilabel_ : bool
        Whether ``y`` was a label indicator matrix.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Feature names, set for pandas input.
    net_ : skorch.NeuralNet
        The trained net; ``net_.rescaler_`` is the rescaler.
    rescaler_ : LossRescalerNetwork
        The trained loss rescaler.
    history_ : skorch.History
        Training history; per epoch also ``mean_weight`` and
        ``class_mean_weight`` (per noisy class, or per label), which shows a
        class whose weights collapse.
    sample_weights_ : ndarray of shape (n_samples,) or (n_samples, n_labels)
        Weight of each training sample (entry) in the last epoch, float32;
        low weights flag suspected label errors. Rows held out for early
        stopping are NaN.
    sample_weight_mean_ : ndarray of shape (n_samples,) or (n_samples, n_labels)
        Mean weight of each sample (entry) over the epochs of the last call
        to ``fit``, float32: a steadier score than one epoch's. Kept as a
        running sum during training; the weights of single epochs are not
        stored (per-epoch means per class are in ``history_``).
    label_issues_ : pandas.DataFrame
        One row per sample (1-D ``y``) or per (sample, label) entry, with
        cleanlab's columns ``label_quality`` (the mean weight over the epochs,
        ``sample_weight_mean_``), ``given_label``, ``predicted_label``
        (in-sample prediction at the end of ``fit``) and ``is_label_issue``:
        quality below 0.5 *and* a prediction that differs from the given
        label. The weights are batch-normalised around 0.5, so a weight below
        0.5 alone would flag about half of a clean data set; requiring the
        disagreement flags 0.5 % of clean digits, and at 20 % (40 %) noise
        96 % (98 %) of the flagged rows are flips, found at a recall of 96 %
        (94 %) (20 epochs, seed 0; the mean weight alone: precision 67 % (92 %)).
        Multi-label adds ``sample`` and ``label``. Built when read,
        not stored: for multi-label data it has ``n_samples * n_labels`` rows.
    device_ : str
        Device used.
    thresholds_ : ndarray of shape (n_labels,)
        Per-label thresholds used by ``predict``.
    n_epochs_ : int
        Epochs trained.
    best_epoch_ : int
        Epoch whose weights were kept.

    See Also
    --------
    sklearn_losses.noise.inject_label_noise : Simulate label noise to benchmark.

    References
    ----------
    .. [1] M. Heck, C. Geishauser, N. Lubis, C. van Niekerk, S. Feng, H.-C. Lin,
       B. M. Ruppik, R. Vukovic and M. Gasic, "Learning to Rescale Losses
       Against Label Noise with Meta Learning (STORM)", AAAI 2025,
       arXiv:2412.12955.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.metrics import roc_auc_score
    >>> from sklearn_losses import NoisyLabelRescaledClassifier
    >>> from sklearn_losses.noise import inject_label_noise
    >>> X, y = make_classification(n_samples=200, n_informative=5, n_classes=3,
    ...                            random_state=0)
    >>> y_noisy, is_noisy = inject_label_noise(y, 0.3, random_state=0)
    >>> clf = NoisyLabelRescaledClassifier(max_epochs=2, random_state=0)
    >>> clf.fit(X, y_noisy).sample_weights_.shape
    (200,)
    >>> clf.label_issues_.columns.tolist()
    ['is_label_issue', 'label_quality', 'given_label', 'predicted_label']
    """

    _parameter_constraints = {
        **TorchClassifierBase._parameter_constraints,
        "module": [StrOptions({"mlp"}), callable],
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "optimizer": [callable],
        "rescaler_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "n_forward_passes": [Interval(Integral, 2, None, closed="left")],
        "memory_size": [None, Interval(Integral, 1, None, closed="left")],
        "lookahead_lr": [None, Interval(Real, 0, None, closed="left")],
        "weight_normalization": [StrOptions({"auto", "batch", "class"})],
        "class_separation": ["boolean"],
        "meta_loss_rescaling": ["boolean"],
        "meta_gradient": [StrOptions({"auto", "double_backward", "jvp"})],
        "meta_interval": [Interval(Integral, 1, None, closed="left")],
        "weight_granularity": [StrOptions({"auto", "sample", "label"})],
    }
    _net_class = StormNet
    _fused_on_cpu = True

    def __init__(
        self,
        *,
        module="mlp",
        hidden_layer_sizes=(256,),
        dropout=0.1,
        batch_size=32,
        lr=1e-3,
        optimizer=torch.optim.Adam,
        rescaler_lr=1e-2,
        n_forward_passes=3,
        memory_size=None,
        lookahead_lr=None,
        weight_normalization="auto",
        class_separation=True,
        meta_loss_rescaling=True,
        meta_gradient="auto",
        meta_interval=1,
        weight_granularity="auto",
        threshold=0.5,
        max_epochs=10,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        warm_start=False,
        n_jobs=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.rescaler_lr = rescaler_lr
        self.n_forward_passes = n_forward_passes
        self.memory_size = memory_size
        self.lookahead_lr = lookahead_lr
        self.weight_normalization = weight_normalization
        self.class_separation = class_separation
        self.meta_loss_rescaling = meta_loss_rescaling
        self.meta_gradient = meta_gradient
        self.meta_interval = meta_interval
        self.weight_granularity = weight_granularity
        self.threshold = threshold
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---- hooks of the base ---------------------------------------------- #
    def _build_module(self, n_features, n_outputs):
        if isinstance(self.module, str):  # "mlp"
            return MLPNetwork(
                n_features, n_outputs, check_hidden_layer_sizes(self.hidden_layer_sizes),
                self.dropout,
            )
        return instantiate_module(self.module, n_features, n_outputs)

    def _target_kind(self):
        if self.multilabel_:
            return "multilabel"
        return "binary" if self.n_labels_ == 1 else "multiclass"

    def _build_criterion(self, Y, sample_weight):
        kind = self._target_kind()
        normalization = self.weight_normalization
        if normalization == "auto":
            normalization = "class" if kind == "multiclass" else "batch"
        granularity = "label" if self.weight_granularity == "auto" else self.weight_granularity
        return StormCriterion(
            kind, Y.shape[1], granularity=granularity, normalization=normalization,
            class_separation=self.class_separation,
        )

    def _optimizer(self):
        return self.optimizer, {}

    # ---- fit ------------------------------------------------------------ #
    _softmax_classes = True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the classifier and learn a weight for every training sample.

        STORM replaces user sample weights with learned ones, so ``fit`` takes
        none.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Possibly noisy class labels, or a 0/1 label indicator matrix.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, y, None)

    def _after_fit(self, X, Y, sample_weight):
        net = self.net_
        self.rescaler_ = net.rescaler_
        self.sample_weights_ = _squeeze_units(net.last_weights_)
        self.sample_weight_mean_ = _squeeze_units(net.mean_weights_)
        del net.last_weights_, net.mean_weights_
        # What label_issues_ needs besides the weights, kept compact: the
        # table itself is built only when it is read.
        predicted = self._compact_labels(X)
        if self.multilabel_:
            self._given_labels = Y.astype(np.uint8)
            self._fit_predictions = predicted
        else:
            self._given_labels = self._label_binarizer.inverse_transform(Y)
            self._fit_predictions = predicted

    def _net_kwargs(self, n_samples):
        return {
            "rescaler_lr": self.rescaler_lr,
            "lookahead_lr": self.lr if self.lookahead_lr is None else self.lookahead_lr,
            "n_forward_passes": self.n_forward_passes,
            "memory_size": self.batch_size if self.memory_size is None else self.memory_size,
            "extra_pass_dropout": self.dropout or _DEFAULT_INPUT_DROPOUT,
            "meta_loss_rescaling": self.meta_loss_rescaling,
            "meta_gradient": self.meta_gradient,
            "meta_interval": self.meta_interval,
        }

    @property
    def label_issues_(self):
        """Suspected label errors in cleanlab's format (see the class docstring)."""
        check_is_fitted(self, "sample_weights_")
        quality = self.sample_weight_mean_
        given, predicted = self._given_labels, self._fit_predictions
        # A sparse Y is kept sparse until the table, n x labels anyway, is built.
        given = given.toarray() if sp.issparse(given) else given
        if self.multilabel_ and quality.ndim == 1:
            # One weight per row: labels as lists of positive label indices,
            # cleanlab's multi-label format; a row disagrees anywhere.
            disagrees = (given != predicted).any(axis=1)
            return pd.DataFrame({
                "is_label_issue": _is_label_issue(quality, disagrees),
                "label_quality": quality,
                "given_label": [list(np.flatnonzero(row)) for row in given],
                "predicted_label": [list(np.flatnonzero(row)) for row in predicted],
            })
        if self.multilabel_:
            n, k = given.shape
            given, predicted, quality = given.ravel(), predicted.ravel(), quality.ravel()
            return pd.DataFrame({
                "is_label_issue": _is_label_issue(quality, given != predicted),
                "label_quality": quality,
                "given_label": given.astype(np.int64),
                "predicted_label": predicted.astype(np.int64),
                "sample": np.repeat(np.arange(n), k),
                "label": np.tile(self.classes_, n),
            })
        return pd.DataFrame({
            "is_label_issue": _is_label_issue(quality, given != predicted),
            "label_quality": quality,
            "given_label": given,
            "predicted_label": predicted,
        })

    # ---- inference ------------------------------------------------------ #
    def _inference_module(self):
        # float64 inference: in float32, BLAS kernels chosen by batch shape move
        # a row's logits by about 1 ulp, so predictions would depend on which
        # other rows are predicted with it (check_methods_subset_invariance).
        return copy.deepcopy(self.net_.module_).double().eval(), torch.float64


def _is_label_issue(quality, disagrees):
    """A low mean weight where the model also disagrees with the given label.

    NaN quality (rows held out for early stopping) is never an issue.
    """
    return (quality < 0.5) & disagrees


def _squeeze_units(weights):
    """One weight per sample is a 1-D array."""
    return weights[:, 0] if weights.shape[1] == 1 else weights
