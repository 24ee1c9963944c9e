"""Simulated label corruption: noisy, positive-unlabeled and partial labels.

Every function is driven by ``random_state`` and returns, next to the corrupted
labels, a mask of what it changed, so a benchmark can score how well a method
finds the corrupted entries.
"""

import numbers

import numpy as np
from sklearn.utils import check_array, check_random_state

__all__ = ["inject_label_noise", "make_partial_labels", "make_positive_unlabeled"]

_KINDS = ("symmetric", "pairflip", "asymmetric", "multilabel")


def _check_rate(rate, name="rate"):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {rate!r}.")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {rate}.")
    return float(rate)


def _check_binary(Y, name="Y", ensure_2d=False):
    Y = check_array(Y, dtype=None, ensure_2d=ensure_2d, input_name=name)
    values = np.unique(Y)
    if Y.dtype.kind not in "biuf" or not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"{name} must hold only 0 and 1 (a label indicator matrix); found values "
            f"{values[:10].tolist()}. Binarize it first, e.g. with MultiLabelBinarizer."
        )
    return Y


def _select(candidates, rate, exact, rng):
    """Boolean mask choosing entries among ``candidates`` (a boolean mask).

    Each candidate is chosen with probability ``rate``, or, when ``exact``,
    exactly ``round(rate * n_candidates)`` of them are chosen at random.
    """
    chosen = np.zeros(candidates.shape, dtype=bool)
    if exact:
        flat = np.flatnonzero(candidates)
        picked = rng.choice(flat, size=round(rate * flat.size), replace=False)
        chosen.flat[picked] = True
    else:
        chosen[candidates] = rng.random(np.count_nonzero(candidates)) < rate
    return chosen


# ----------------------------------------------------------- single-label noise


def _destinations(kind, classes, transition):
    """Row-stochastic (or zero) matrix of where a flipped label of each class goes.

    The diagonal is zero: a flip always changes the label. A zero row means the
    class is never flipped.
    """
    n_classes = len(classes)
    if kind == "symmetric":
        return (1.0 - np.eye(n_classes)) / (n_classes - 1)
    if kind == "pairflip":
        return np.roll(np.eye(n_classes), 1, axis=1)
    if transition is None:
        raise ValueError(
            "kind='asymmetric' needs transition: a dict {class: noisy class} or a "
            "row-stochastic (n_classes, n_classes) matrix over the sorted classes."
        )
    if isinstance(transition, dict):
        return _mapping_destinations(transition, classes)
    return _matrix_destinations(transition, n_classes)


def _mapping_destinations(mapping, classes):
    index = {c: i for i, c in enumerate(classes.tolist())}
    unknown = [k for pair in mapping.items() for k in pair if k not in index]
    if unknown:
        raise ValueError(
            f"transition refers to {unknown}, which are not classes of y "
            f"({classes.tolist()})."
        )
    destinations = np.zeros((len(classes), len(classes)))
    for source, target in mapping.items():
        if source == target:
            raise ValueError(f"transition maps class {source!r} to itself.")
        destinations[index[source], index[target]] = 1.0
    return destinations


def _matrix_destinations(matrix, n_classes):
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (n_classes, n_classes):
        raise ValueError(
            f"transition must have shape ({n_classes}, {n_classes}) for the "
            f"{n_classes} classes of y, got {matrix.shape}."
        )
    if (matrix < 0).any() or not np.allclose(matrix.sum(axis=1), 1.0):
        raise ValueError("transition must be row-stochastic: rows >= 0 summing to 1.")
    off_diagonal = matrix * (1.0 - np.eye(n_classes))
    mass = off_diagonal.sum(axis=1, keepdims=True)
    return np.divide(off_diagonal, mass, out=np.zeros_like(matrix), where=mass > 0)


def _flip_single_label(y, rate, kind, transition, exact, rng):
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y has a single class ({classes.tolist()}); nothing to flip to.")
    destinations = _destinations(kind, classes, transition)
    flippable = destinations.sum(axis=1)[codes] > 0
    is_noisy = _select(flippable, rate, exact, rng)
    # Draw each new class from its row's cumulative distribution; dividing by the
    # last entry makes it exactly 1, so the draw never runs off the end.
    rows = destinations[codes[is_noisy]]
    cumulative = np.cumsum(rows, axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random(len(rows))
    new_codes = (cumulative <= draws[:, None]).sum(axis=1)
    y_noisy = y.copy()
    y_noisy[is_noisy] = classes[new_codes]
    return y_noisy, is_noisy


# ------------------------------------------------------------ multi-label noise


def _flip_multilabel(Y, rate, exact, rng):
    if isinstance(rate, (tuple, list)) and len(rate) == 2:
        rate_off = _check_rate(rate[0], "rate[0] (1 -> 0)")
        rate_on = _check_rate(rate[1], "rate[1] (0 -> 1)")
    else:
        rate_off = rate_on = _check_rate(rate)
    ones = Y == 1
    is_noisy = _select(ones, rate_off, exact, rng) | _select(~ones, rate_on, exact, rng)
    Y_noisy = Y.copy()
    Y_noisy[is_noisy] = 1 - Y[is_noisy]
    return Y_noisy, is_noisy


def inject_label_noise(
    y, rate, *, kind="symmetric", transition=None, exact=False, random_state=None
):
    """Corrupt labels at random and report which ones were changed.

    For single-label ``y`` (1-D, any class labels, strings included) a sample is
    chosen with probability ``rate`` and its label is replaced by a *different*
    class:

    - ``"symmetric"``: a uniformly chosen other class;
    - ``"pairflip"``: the next class in sorted order (the last goes to the first);
    - ``"asymmetric"``: where ``transition`` says. A dict ``{class: noisy_class}``
      flips only the listed classes (``rate`` is then the flip probability within
      them, e.g. CIFAR-10's truck -> automobile). A row-stochastic
      ``(n_classes, n_classes)`` matrix over the sorted classes gives, row by row,
      the probabilities of the noisy classes; its diagonal is ignored and each row
      renormalised, so ``transition`` says *where* flips go and ``rate`` *how many*.

    For ``kind="multilabel"``, ``y`` is a 0/1 matrix and each entry is flipped
    independently: ones with probability ``rate[0]``, zeros with ``rate[1]`` (a
    single number applies to both).

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Clean labels; a 0/1 indicator matrix for ``kind="multilabel"``.
    rate : float in [0, 1], or pair of floats for ``kind="multilabel"``
        Flip probability; for "multilabel" ``(rate_1to0, rate_0to1)`` is allowed.
    kind : {"symmetric", "pairflip", "asymmetric", "multilabel"}, default="symmetric"
        Noise model, see above.
    transition : dict or array-like of shape (n_classes, n_classes), default=None
        Required for, and only used by, ``kind="asymmetric"``.
    exact : bool, default=False
        If True, flip exactly ``round(rate * n)`` of the ``n`` eligible samples
        (entries, per direction, for "multilabel") instead of each with
        probability ``rate``.
    random_state : int, RandomState instance or None, default=None
        Controls the draws.

    Returns
    -------
    y_noisy : ndarray of the shape and dtype of ``y``
        Corrupted labels.
    is_noisy : ndarray of bool, same shape as ``y``
        True exactly where ``y_noisy != y``.

    References
    ----------
    .. [1] B. Han et al. Co-teaching: robust training of deep neural networks with
       extremely noisy labels. NeurIPS 2018 (symmetric and pair-flip noise).
    .. [2] G. Patrini et al. Making deep neural networks robust to label noise: a
       loss correction approach. CVPR 2017 (asymmetric noise).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_losses.noise import inject_label_noise
    >>> y = np.array(["cat", "dog", "fox"] * 4)
    >>> y_noisy, is_noisy = inject_label_noise(y, 0.5, kind="pairflip", exact=True,
    ...                                        random_state=0)
    >>> int(is_noisy.sum())
    6
    >>> sorted(set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist())))
    [('cat', 'dog'), ('dog', 'fox'), ('fox', 'cat')]
    >>> Y = np.zeros((100, 5), dtype=int)
    >>> Y_noisy, flipped = inject_label_noise(Y, (0.0, 0.1), kind="multilabel",
    ...                                       exact=True, random_state=0)
    >>> int(Y_noisy.sum())
    50
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {list(_KINDS)}, got {kind!r}.")
    if transition is not None and kind != "asymmetric":
        raise ValueError(f"transition is only used with kind='asymmetric', not {kind!r}.")
    rng = check_random_state(random_state)
    if kind == "multilabel":
        Y = _check_binary(y, "y", ensure_2d=True)
        return _flip_multilabel(Y, rate, exact, rng)
    rate = _check_rate(rate)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D for kind={kind!r}, got shape {y.shape}; use "
            "kind='multilabel' for a label indicator matrix."
        )
    return _flip_single_label(y, rate, kind, transition, exact, rng)


# ------------------------------------------------ positive-unlabeled / partial


def make_positive_unlabeled(Y, keep_positive=0.3, *, random_state=None):
    """Hide positives at random: positive-unlabeled (PU) labels under SCAR.

    Each positive entry is kept with probability ``keep_positive``, independently
    of the features (selected completely at random, SCAR); every other entry,
    hidden positives included, becomes 0 ("unlabeled"). A label may end up with
    no kept positive at all; estimators that need one per label will say so.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_labels) or (n_samples,)
        Clean 0/1 labels.
    keep_positive : float in [0, 1], default=0.3
        Probability that a positive stays observed (the label frequency ``c``).
    random_state : int, RandomState instance or None, default=None
        Controls the draws.

    Returns
    -------
    Y_pu : ndarray of the shape and dtype of ``Y``
        Observed labels: 1 for a kept positive, else 0.
    is_hidden : ndarray of bool, same shape as ``Y``
        True for the positives that were hidden (``Y == 1`` and ``Y_pu == 0``).

    References
    ----------
    .. [1] C. Elkan, K. Noto. Learning classifiers from only positive and
       unlabeled data. KDD 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_losses.noise import make_positive_unlabeled
    >>> Y = np.ones((1000, 2), dtype=int)
    >>> Y_pu, is_hidden = make_positive_unlabeled(Y, keep_positive=0.3, random_state=0)
    >>> Y_pu.mean(axis=0).round(2)
    array([0.31, 0.3 ])
    >>> bool(((Y_pu == 1) ^ is_hidden).all())
    True
    """
    keep_positive = _check_rate(keep_positive, "keep_positive")
    Y = _check_binary(Y)
    rng = check_random_state(random_state)
    positives = Y == 1
    is_hidden = positives & (rng.random(Y.shape) >= keep_positive)
    Y_pu = Y.copy()
    Y_pu[is_hidden] = 0
    return Y_pu, is_hidden


def make_partial_labels(Y, known_ratio, *, random_state=None):
    """Keep a random fraction of label entries and mark the rest unknown (NaN).

    Each entry, positive or negative, is kept with probability ``known_ratio``
    (the MLC-PL protocol of partial multi-label learning).

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_labels) or (n_samples,)
        Clean 0/1 labels.
    known_ratio : float in [0, 1]
        Probability that an entry stays known.
    random_state : int, RandomState instance or None, default=None
        Controls the draws.

    Returns
    -------
    Y_partial : ndarray of float64, same shape as ``Y``
        0.0 or 1.0 where known, NaN where unknown.
    is_known : ndarray of bool, same shape as ``Y``
        True where the entry was kept.

    References
    ----------
    .. [1] T. Durand, N. Mehrasa, G. Mori. Learning a deep ConvNet for multi-label
       classification with partial labels. CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_losses.noise import make_partial_labels
    >>> Y = np.array([[1, 0, 1], [0, 1, 0]])
    >>> Y_partial, is_known = make_partial_labels(Y, 0.5, random_state=0)
    >>> Y_partial
    array([[nan, nan, nan],
           [nan,  1., nan]])
    >>> bool((Y_partial[is_known] == Y[is_known]).all())
    True
    """
    known_ratio = _check_rate(known_ratio, "known_ratio")
    Y = _check_binary(Y)
    rng = check_random_state(random_state)
    is_known = rng.random(Y.shape) < known_ratio
    Y_partial = np.where(is_known, Y, np.nan).astype(np.float64)
    return Y_partial, is_known
