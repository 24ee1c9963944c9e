"""PU-MLC: multi-label learning from positive and unlabeled labels."""

import warnings

import numpy as np
import torch

from .._engine import (
    Integral,
    Interval,
    MLPNetwork,
    Real,
    StrOptions,
    TorchClassifierBase,
    TorchNet,
    check_hidden_layer_sizes,
    never_positive_error,
    positive_counts,
    shown_names,
)
from ._loss import PUMLCLoss, pumlc_mixup_penalty

__all__ = ["PUMultiLabelClassifier"]


class _PUNet(TorchNet):
    """skorch net adding VPU's MixUp penalty, which needs the module and the
    inputs, to the training loss."""

    def __init__(self, *args, mixup=True, mixup_alpha=0.3, mixup_weight=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup = mixup
        self.mixup_alpha = mixup_alpha
        self.mixup_weight = mixup_weight

    def loss_terms(self, y_pred, y_true, X=None, training=False):
        loss, terms = super().loss_terms(y_pred, y_true, X=X, training=training)
        if training and self.mixup:
            penalty = pumlc_mixup_penalty(self.module_, X, y_pred, y_true["y"], self.mixup_alpha,
                                          weight=y_true["w"])
            terms["loss_mixup"] = penalty
            loss = loss + self.mixup_weight * penalty
        return loss, terms


class PUMultiLabelClassifier(TorchClassifierBase):
    """Multi-label classifier learnt from positive and unlabeled labels (PU-MLC).

    Only entries equal to 1 are trusted, as observed positives; 0 (and -1 or
    NaN, for partial labels) are *unlabeled*, not negative. Each label gets the
    prior-free variational PU loss of VPU with PU-MLC's adaptive temperature
    (``alpha``) and adaptive re-balancing (``gamma``), plus VPU's MixUp
    consistency term; see :class:`~sklearn_losses.losses.PUMLCLoss`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Hidden widths of the ReLU MLP.
    dropout : float, default=0.0
        Dropout after each hidden layer.
    alpha : float, default=2.0
        Adaptive temperature scale.
    gamma : float, default=0.85
        Adaptive re-balancing exponent (0 switches re-balancing off).
    adaptive_temperature : bool, default=True
        Use the adaptive temperature (False for ablations only).
    mixup : bool, default=True
        Add the MixUp consistency penalty (one extra forward pass per batch).
        Consider False for one-hot or very sparse features.
    mixup_alpha : float, default=0.3
        Beta parameter of the MixUp coefficient.
    mixup_weight : float, default=1.0
        Weight of the MixUp penalty.
    threshold : float or array-like of shape (n_labels,), default=0.5
        Decision threshold on ``predict_proba``, per label or for all; for a
        binary 1-D ``y``, on the positive class's probability. A multi-class
        1-D ``y`` is predicted as its most probable class, so any other value
        than 0.5 raises a ValueError.
    on_missing_positives : {"raise", "warn"}, default="raise"
        What to do with a label that has no observed positive: raise a
        ValueError naming it, or warn, keep it and predict about 0 for it.
    batch_size : int, default=128
        Mini-batch size, at least 2. The loss uses batch statistics, so keep it
        at 64 or more; a ragged last batch is dropped.
    lr : float, default=1e-3
        Adam learning rate; divided by 5 when the monitored loss stalls for
        ``n_iter_no_change // 2`` epochs.
    weight_decay : float, default=1e-4
        Adam weight decay.
    max_epochs : int, default=200
        Upper bound on the training epochs; the stopping rule usually ends
        training earlier.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified by observed
        positives), stop when their PU risk stops improving and keep the best
        epoch's weights. False, the default as in ``MLPClassifier``, stops
        when the training PU risk stalls: the held-out risk of a few hundred
        rows was too noisy a guide (``docs/benchmarks.md``).
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    callbacks : list of (str, skorch.callbacks.Callback), default=None
        Extra skorch callbacks, run after the stopping rule and the
        learning-rate schedule.
    warm_start : bool, default=False
        Continue training the previous fit's network instead of starting anew.
    n_jobs : int, default=None
        CPU threads torch uses during ``fit`` and ``predict`` (restored
        after). None means 1, -1 all cores.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the validation split and the MixUp
        draws.
    verbose : int, default=0
        1 prints a table per epoch, 2 adds a progress bar.

    Attributes
    ----------
    observed_positive_rate_ : ndarray of shape (`n_labels_`,)
        Share of training rows with an observed positive, per label, each row
        counted as often as its ``sample_weight`` says.
    labels_without_positives_ : ndarray of int
        Labels that had no observed positive (only with
        ``on_missing_positives="warn"``).
    label_prior_ : ndarray of shape (`n_labels_`,)
        Mean predicted probability on the training rows, weighted by
        ``sample_weight``. It ranks the labels by
        true frequency but is not calibrated (a diagnostic, not an estimate to
        rely on; ``docs/benchmarks.md`` has measured gaps).
    propensity_ : ndarray of shape (`n_labels_`,)
        ``observed_positive_rate_ / label_prior_``, the estimated chance that a
        positive was labelled.
    net_ : skorch.NeuralNet
        The trained skorch net.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss`` (with early stopping),
        ``loss_positive``, ``loss_unlabeled`` and ``loss_mixup`` (with MixUp).
    n_epochs_ : int
        Epochs trained.
    best_epoch_ : int
        Epoch whose weights were kept.
    thresholds_ : ndarray of shape (`n_labels_`,)
        Per-label thresholds used by ``predict``.
    classes_ : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels_)`` otherwise.
    n_labels_ : int
        Number of labels.
    device_ : str
        Device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, for pandas input.

    Notes
    -----
    ``score`` is subset accuracy, as for every estimator here. To select
    models on PU labels, score with a ranking metric instead, e.g.
    ``GridSearchCV(..., scoring="roc_auc_ovr")`` or macro average precision:
    under SCAR labelling the ranking measured on PU labels grows with the
    ranking on true labels. The paper's image-specific local-global
    convolution is not included.

    References
    ----------
    .. [1] Yuan, Zhang and Huang, ICME 2024 (arXiv:2306.16016).
    .. [2] Chen et al., "A variational approach for learning from positive and
       unlabeled data", NeurIPS 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn_losses import PUMultiLabelClassifier
    >>> from sklearn_losses.noise import make_positive_unlabeled
    >>> X, Y = make_multilabel_classification(n_samples=300, n_classes=4, random_state=0)
    >>> Y_pu, _ = make_positive_unlabeled(Y, keep_positive=0.3, random_state=0)
    >>> clf = PUMultiLabelClassifier(random_state=0).fit(X, Y_pu)
    >>> clf.predict(X[:2]).shape
    (2, 4)
    """

    _allow_unlabeled_targets = True
    _require_positive_labels = False

    _parameter_constraints = {
        **TorchClassifierBase._parameter_constraints,
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        # No "tune": F1 on held-out PU labels counts unlabeled positives as errors.
        "threshold": [Interval(Real, 0, 1, closed="neither"), "array-like"],
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "adaptive_temperature": ["boolean"],
        "mixup": ["boolean"],
        "mixup_alpha": [Interval(Real, 0, None, closed="neither")],
        "mixup_weight": [Interval(Real, 0, None, closed="left")],
        "on_missing_positives": [StrOptions({"raise", "warn"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(128, 128),
        dropout=0.0,
        alpha=2.0,
        gamma=0.85,
        adaptive_temperature=True,
        mixup=True,
        mixup_alpha=0.3,
        mixup_weight=1.0,
        threshold=0.5,
        on_missing_positives="raise",
        batch_size=128,
        lr=1e-3,
        weight_decay=1e-4,
        max_epochs=200,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.alpha = alpha
        self.gamma = gamma
        self.adaptive_temperature = adaptive_temperature
        self.mixup = mixup
        self.mixup_alpha = mixup_alpha
        self.mixup_weight = mixup_weight
        self.threshold = threshold
        self.on_missing_positives = on_missing_positives
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
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

    _net_class = _PUNet

    def _build_module(self, n_features, n_outputs):
        sizes = check_hidden_layer_sizes(self.hidden_layer_sizes)
        return MLPNetwork(n_features, n_outputs, hidden_layer_sizes=sizes, dropout=self.dropout)

    def _build_criterion(self, Y, sample_weight):
        return PUMLCLoss(alpha=self.alpha, gamma=self.gamma, temperature=self.adaptive_temperature)

    def _optimizer(self):
        return torch.optim.Adam, {"weight_decay": self.weight_decay}

    def _net_kwargs(self, n_samples):
        return {
            # The loss uses batch statistics: a ragged last batch of a few rows
            # would give noisy temperatures and re-balancing factors.
            "iterator_train__drop_last": True,
            "mixup": self.mixup,
            "mixup_alpha": self.mixup_alpha,
            "mixup_weight": self.mixup_weight,
        }

    def _prepare_targets(self, Y):
        # NaN == 1 is False: unknown entries are not observed positives. A
        # sparse Y stays sparse.
        observed = Y == 1
        self._check_observed_positives(positive_counts(observed))
        return observed.astype(np.float32)

    def _after_fit(self, X, Y, sample_weight):
        # A weight-w row counts as w rows, as in the loss.
        total = sample_weight.sum(dtype=np.float64)
        self.observed_positive_rate_ = positive_counts(Y, sample_weight) / total
        if not self.multilabel_:
            self.label_prior_ = self.propensity_ = None
            return
        self.label_prior_ = self._mean_proba(X, sample_weight)
        self.propensity_ = self.observed_positive_rate_ / np.maximum(self.label_prior_, 1e-12)

    def _check_observed_positives(self, counts):
        missing = np.flatnonzero(counts == 0)
        self.labels_without_positives_ = missing
        if not missing.size or not self.multilabel_:
            return
        names = [self.label_names_[j] for j in missing]
        if self.on_missing_positives == "raise":
            raise never_positive_error(names)
        warnings.warn(
            f"Label(s) {shown_names(names)} have no observed positive; they are "
            "kept and predicted with probability close to 0.",
            UserWarning,
            stacklevel=4,
        )
