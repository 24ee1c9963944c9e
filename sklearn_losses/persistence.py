"""Saving and loading the torch-backed estimators without pickle.

``pickle`` and ``joblib`` files run code when they are loaded, so they must
come from a trusted source. :func:`save` writes a fitted
:class:`~sklearn_losses.HybridLossMultiLabelClassifier`,
:class:`~sklearn_losses.PUMultiLabelClassifier` or
:class:`~sklearn_losses.NoisyLabelRescaledClassifier` as tensors and plain
values, and :func:`load` reads it with ``torch.load(..., weights_only=True)``
and rebuilds the estimator from this package's own classes.
"""

from ._persistence import load as _load
from ._persistence import save as _save

__all__ = ["load", "save"]


def save(estimator, path):
    """Write a fitted estimator's parameters, fitted arrays and weights to ``path``.

    The file holds tensors and plain values only. Parameters must be plain
    (numbers, strings, tuples, arrays, None, a ``torch.optim`` class): a
    custom ``module`` object, ``callbacks`` or a wrapped scikit-learn
    estimator cannot be stored without code, and raise a ``ValueError``.

    Parameters
    ----------
    estimator : HybridLossMultiLabelClassifier, PUMultiLabelClassifier or \
            NoisyLabelRescaledClassifier
        A fitted estimator. The conformal wrapper and iHOMER hold no torch
        weights; ``skops.io`` stores them safely.
    path : str, path-like or file object
        Where to write, as for :func:`torch.save`.

    See Also
    --------
    load : Read the estimator back.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn_losses import HybridLossMultiLabelClassifier
    >>> from sklearn_losses.persistence import load, save
    >>> X, Y = make_multilabel_classification(n_samples=100, n_classes=3, random_state=0)
    >>> clf = HybridLossMultiLabelClassifier(max_epochs=2, random_state=0).fit(X, Y)
    >>> buffer = io.BytesIO()
    >>> save(clf, buffer)
    >>> _ = buffer.seek(0)
    >>> bool((load(buffer).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    _save(estimator, path)


def load(path, *, device=None):
    """Read an estimator written by :func:`save`, without running code from the file.

    The file is read with ``torch.load(..., weights_only=True)``; it may name
    only the classes :func:`save` writes. The estimator predicts as the saved
    one did. It keeps what prediction needs, not the optimizer's state, so a
    ``warm_start`` refit of it raises; a plain refit trains afresh.

    Parameters
    ----------
    path : str, path-like or file object
        What :func:`save` wrote.
    device : str, default=None
        Device to load onto (sets the ``device`` parameter); a device that is
        unknown or not available here raises a ``ValueError``. By default the
        saved one, or the CPU (with a warning) when that is not available here.

    Returns
    -------
    estimator : HybridLossMultiLabelClassifier, PUMultiLabelClassifier or \
            NoisyLabelRescaledClassifier
        The fitted estimator.

    See Also
    --------
    save : Write an estimator.

    Examples
    --------
    >>> from sklearn_losses.persistence import load
    >>> load("model.pt")  # doctest: +SKIP
    HybridLossMultiLabelClassifier(...)
    """
    return _load(path, device=device)
