"""Multi-label classifier trained with the hybrid loss (Aslam et al., 2024)."""

import numpy as np
from sklearn.base import clone

from .._engine import (
    HasMethods,
    Integral,
    Interval,
    Real,
    StrOptions,
    TorchClassifierBase,
    check_hidden_layer_sizes,
    draw_seed,
    instantiate_module,
)
from ._loss import HybridMultiLabelLoss
from ._meta import append_columns, meta_targets, out_of_fold_proba, positive_proba
from ._network import MultiLabelMLP, StackedViewBiLSTM

__all__ = ["HybridLossMultiLabelClassifier"]


class HybridLossMultiLabelClassifier(TorchClassifierBase):
    """Multi-label classifier trained with a class-weighted, correlation-aware, contrastive loss.

    The network is an MLP, or a Bi-LSTM across stacked embedding views.
    The loss is ``weighted BCE + corr_weight * correlation term +
    contrastive_weight * Jaccard-weighted SupCon`` (see
    :class:`~sklearn_losses.losses.HybridMultiLabelLoss`). Positive weights and
    the target label correlation come from the training labels, each row
    counted as often as its ``sample_weight`` says. With
    ``module="bilstm"`` the columns of ``X`` are read as stacked embedding views
    of widths ``view_sizes`` (e.g. a :class:`~sklearn.pipeline.FeatureUnion` of
    several text embeddings), one LSTM step per view.

    Parameters
    ----------
    module : {"mlp", "bilstm"}, torch.nn.Module class or instance, default="mlp"
        Network: :class:`~sklearn_losses.networks.MultiLabelMLP`,
        :class:`~sklearn_losses.networks.StackedViewBiLSTM`, or your own,
        returning logits or ``(logits, embedding)`` (the contrastive term needs
        the embedding). A class is called as ``module(n_features, n_outputs)``;
        an instance is deep-copied.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Hidden widths of the MLP; for ``module="bilstm"`` the first entry is
        the LSTM state size and the others the layers after it.
    dropout : float, default=0.2
        Dropout after each hidden layer.
    view_sizes : sequence of int, default=None
        Widths of the stacked views for ``module="bilstm"``; they must add up to
        the number of features. None means a single view.
    projection_size : int, default=64
        Width of the projection head used by the contrastive term.
    pos_weighting : {"sqrt", "balanced"} or None, default="sqrt"
        Class weighting of the paper, as a positive weight per label,
        ``((N - n_c) / n_c) ** g`` clipped to ``[1 / max_pos_weight,
        max_pos_weight]``, with ``g = 1/2`` or 1; None for plain BCE.
    max_pos_weight : float, default=100.0
        Cap on the positive weights (its inverse is their floor).
    corr_weight : float, default=1.0
        Weight of the label-correlation term (0 switches it off).
    corr_mode : {"align", "smooth"}, default="align"
        Form of the correlation term; "smooth" is kept for comparison only.
    contrastive_weight : float, default=0.1
        Weight of the contrastive term (0 switches it off).
    temperature : float, default=0.1
        Temperature of the contrastive term.
    meta_learner : estimator with ``predict_proba``, default=None
        Multi-label estimator whose probabilities join ``X`` as one more view
        of ``n_labels`` columns (the paper's stack, like
        ``StackingClassifier(passthrough=True)``). On the training rows they
        are out-of-fold, so the network never reads a probability fitted on
        the row's own labels; ``predict`` uses ``meta_learner_``, a copy
        refitted on all training rows. It is fitted on the validated
        (float32, possibly CSR) ``X`` and the 0/1 label matrix (the class
        index for a 1-D ``y``), without ``sample_weight``. Its
        ``predict_proba`` may return an ``(n_samples, n_labels)`` array or a
        list of one ``(n_samples, 2)`` array per label
        (``MultiOutputClassifier``, multi-label random forests). None: no
        meta view.
    meta_cv : int or cross-validation splitter, default=5
        Folds of the out-of-fold probabilities: an int gives iteratively
        stratified folds (every label's positives spread over them), seeded
        by ``random_state``; a splitter's ``split(X, Y)`` must put each row in
        one test fold. Used only with ``meta_learner``.
    threshold : float, array-like of shape (n_labels,) or "tune", default=0.5
        Decision threshold on ``predict_proba``, per label or for all; for a
        binary 1-D ``y``, on the positive class's probability. "tune" holds
        out ``validation_fraction`` of the rows (stratified per label) and
        picks each label's F1-optimal threshold on them; rare labels gain
        most, since 0.5 under-predicts them. A multi-class 1-D ``y`` is
        predicted as its most probable class, so any other value than 0.5
        raises a ValueError.
    lr : float, default=1e-3
        AdamW learning rate; divided by 5 when the monitored loss stalls for
        ``n_iter_no_change // 2`` epochs.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    batch_size : int, default=128
        Mini-batch size; the correlation and contrastive terms are computed per
        batch, so keep it at 64 or more.
    max_epochs : int, default=200
        Upper bound on the training epochs; the stopping rule usually ends
        training earlier.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified per label),
        stop when their loss stops improving and keep the best epoch's
        weights. False, the default as in ``MLPClassifier``, stops when the
        training loss stalls and keeps the last weights: on 300 to 700
        training rows, holding out 10 % cost more than it saved
        (``docs/benchmarks.md``).
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    callbacks : list of (str, skorch.callbacks.Callback), default=None
        Extra skorch callbacks (checkpointing, logging), run after the
        stopping rule and the learning-rate schedule.
    warm_start : bool, default=False
        Continue training the previous fit's network instead of starting anew.
    n_jobs : int, default=None
        CPU threads torch uses during ``fit`` and ``predict`` (restored
        after). None means 1, -1 all cores.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the validation split and dropout.
    verbose : int, default=0
        1 prints a table per epoch, 2 adds a progress bar.

    Attributes
    ----------
    pos_weight_ : ndarray of shape (`n_labels_`,)
        Positive weight of each label, from the ``sample_weight``-weighted
        label counts.
    label_correlation_ : ndarray of shape (`n_labels_`, `n_labels_`)
        Phi correlation of the training labels (the correlation term's
        target), weighted by ``sample_weight``.
    view_sizes_ : list of int
        Widths of the views the network read; with ``meta_learner`` the last
        is the meta view (``n_labels_`` columns).
    meta_learner_ : estimator or None
        ``meta_learner`` refitted on all training rows; it supplies the meta
        view at prediction time. None without ``meta_learner``.
    net_ : skorch.NeuralNet
        The trained skorch net.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``valid_loss`` (with early stopping),
        ``loss_bce``, ``loss_corr`` and ``loss_con``.
    n_epochs_ : int
        Epochs trained.
    best_epoch_ : int
        Epoch whose weights were kept.
    thresholds_ : ndarray of shape (`n_labels_`,)
        Per-label thresholds used by ``predict``.
    classes_ : ndarray
        Class labels for a 1-D ``y``; ``arange(n_labels_)`` otherwise.
    n_labels_ : int
        Number of labels (outputs).
    device_ : str
        Device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, for pandas input.

    Notes
    -----
    The paper (arXiv:2410.03979) does not publish its loss equations or weights;
    the forms and defaults here are ours, checked against plain BCE on Yeast
    (``docs/benchmarks.md``). The paper does not say how its meta learner's
    output was obtained on the training rows; it is out-of-fold here because
    in-sample probabilities leak the labels into the view.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn_losses import HybridLossMultiLabelClassifier
    >>> X, Y = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    >>> clf = HybridLossMultiLabelClassifier(random_state=0).fit(X, Y)
    >>> clf.predict(X[:2]).shape
    (2, 4)
    >>> sorted(k for k in clf.history_[-1] if k.startswith("loss_"))
    ['loss_bce', 'loss_con', 'loss_corr']

    A per-label logistic regression as meta learner adds a view of 4 columns:

    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.multioutput import MultiOutputClassifier
    >>> meta = MultiOutputClassifier(LogisticRegression(max_iter=500))
    >>> clf = HybridLossMultiLabelClassifier(meta_learner=meta, meta_cv=3, max_epochs=5,
    ...                                      random_state=0).fit(X, Y)
    >>> clf.view_sizes_
    [20, 4]
    """

    _parameter_constraints = {
        **TorchClassifierBase._parameter_constraints,
        "module": [StrOptions({"mlp", "bilstm"}), callable],
        "hidden_layer_sizes": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "view_sizes": ["array-like", None],
        "projection_size": [Interval(Integral, 1, None, closed="left")],
        "pos_weighting": [StrOptions({"sqrt", "balanced"}), None],
        "max_pos_weight": [Interval(Real, 1, None, closed="left")],
        "corr_weight": [Interval(Real, 0, None, closed="left")],
        "corr_mode": [StrOptions({"align", "smooth"})],
        "contrastive_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "meta_learner": [HasMethods(["fit", "predict_proba"]), None],
        "meta_cv": [Interval(Integral, 2, None, closed="left"), HasMethods(["split"])],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        module="mlp",
        hidden_layer_sizes=(128, 128),
        dropout=0.2,
        view_sizes=None,
        projection_size=64,
        pos_weighting="sqrt",
        max_pos_weight=100.0,
        corr_weight=1.0,
        corr_mode="align",
        contrastive_weight=0.1,
        temperature=0.1,
        meta_learner=None,
        meta_cv=5,
        threshold=0.5,
        lr=1e-3,
        weight_decay=1e-4,
        batch_size=128,
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
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.view_sizes = view_sizes
        self.projection_size = projection_size
        self.pos_weighting = pos_weighting
        self.max_pos_weight = max_pos_weight
        self.corr_weight = corr_weight
        self.corr_mode = corr_mode
        self.contrastive_weight = contrastive_weight
        self.temperature = temperature
        self.meta_learner = meta_learner
        self.meta_cv = meta_cv
        self.threshold = threshold
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
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

    def _resolve_views(self, n_features):
        if self.view_sizes is None:
            return [n_features]
        sizes = [int(v) for v in np.ravel(self.view_sizes)]
        if min(sizes, default=0) < 1 or sum(sizes) != n_features:
            raise ValueError(
                f"view_sizes={sizes} must be positive widths adding up to the "
                f"{n_features} features of X (one entry per stacked view)."
            )
        return sizes

    def _network_inputs(self, X, Y=None):
        if Y is not None:
            return self._fit_meta_view(X, Y)
        if self.meta_learner_ is None:
            return X
        meta = positive_proba(self.meta_learner_, X, self.n_labels_, self.multilabel_)
        return append_columns(X, meta)

    def _fit_meta_view(self, X, Y):
        """Training inputs: ``X`` and the out-of-fold meta view; refits
        ``meta_learner_`` on all rows for prediction."""
        self.meta_learner_ = None
        if self.meta_learner is None:
            return X
        meta = out_of_fold_proba(self.meta_learner, X, Y, self.multilabel_, self.meta_cv,
                                 draw_seed(self.random_state))
        targets = meta_targets(Y, self.multilabel_)
        self.meta_learner_ = clone(self.meta_learner).fit(X, targets)
        return append_columns(X, meta)

    def _build_module(self, n_features, n_outputs):
        meta_view = [] if self.meta_learner_ is None else [n_outputs]
        n_input = n_features - sum(meta_view)
        if not isinstance(self.module, str):
            self.view_sizes_ = [n_input, *meta_view]
            return instantiate_module(self.module, n_features, n_outputs)
        common = dict(
            hidden_layer_sizes=check_hidden_layer_sizes(self.hidden_layer_sizes, allow_empty=False),
            dropout=self.dropout,
            projection_size=self.projection_size,
        )
        self.view_sizes_ = [*self._resolve_views(n_input), *meta_view]
        if self.module == "bilstm":
            return StackedViewBiLSTM(self.view_sizes_, n_outputs, **common)
        return MultiLabelMLP(n_features, n_outputs, **common)

    def _build_criterion(self, Y, sample_weight):
        loss = HybridMultiLabelLoss.from_labels(
            Y, sample_weight=sample_weight,
            class_weight=self.pos_weighting, max_pos_weight=self.max_pos_weight,
            corr_weight=self.corr_weight, corr_mode=self.corr_mode,
            contrastive_weight=self.contrastive_weight, temperature=self.temperature,
        )
        self.pos_weight_ = loss.pos_weight.numpy().astype(np.float64)
        self.label_correlation_ = loss.label_correlation.numpy().astype(np.float64)
        return loss
