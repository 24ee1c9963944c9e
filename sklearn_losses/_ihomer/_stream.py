"""Stream helpers shared by iHOMER, its tests, examples and benchmarks.

One definition each of the per-row example-F1, the "only a rise counts" drift
test and the spec's synthetic drift stream.
"""

import numpy as np

__all__ = ["example_f1_rows", "error_rose", "make_drift_stream"]


def example_f1_rows(Y_true, Y_pred):
    """Per-row F1 between true and predicted label sets.

    Its mean equals ``f1_score(..., average="samples", zero_division=1)``;
    the rows feed drift detectors and sliding windows, which need them one
    by one.

    Parameters
    ----------
    Y_true, Y_pred : ndarray of shape (n_samples, n_labels)
        0/1 label matrices.

    Returns
    -------
    f1 : ndarray of shape (n_samples,)
        F1 of each row; a row with empty true and predicted sets scores 1.

    Examples
    --------
    >>> import numpy as np
    >>> example_f1_rows(np.array([[1, 1, 0], [0, 0, 0]]), np.array([[1, 0, 0], [0, 0, 0]]))
    array([0.66666667, 1.        ])
    """
    tp = (Y_true * Y_pred).sum(axis=1)
    denom = Y_true.sum(axis=1) + Y_pred.sum(axis=1)
    return np.divide(2.0 * tp, denom, out=np.ones(len(denom)), where=denom > 0)


def error_rose(detector, error):
    """Feed one error to a river drift detector; True on a significant *rise*.

    ADWIN also fires when the error falls (the learner improving). Only a
    rise means the concept changed, so a fall is not reported.

    Parameters
    ----------
    detector : river.drift.ADWIN
        Updated in place.
    error : float
        Error in [0, 1].

    Returns
    -------
    rose : bool
        Whether the detector fired and its mean went up.

    Examples
    --------
    >>> from river.drift import ADWIN
    >>> detector = ADWIN(clock=1)
    >>> falls = [error_rose(detector, 1.0 if i < 300 else 0.0) for i in range(600)]
    >>> rises = [error_rose(detector, 1.0) for _ in range(300)]
    >>> any(falls), any(rises)
    (False, True)
    """
    before = detector.estimation
    detector.update(float(error))
    return bool(detector.drift_detected and detector.estimation > before)


OLD_GROUPS = ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11))
NEW_GROUPS = ((0, 4, 8), (1, 5, 9), (2, 6, 10), (3, 7, 11))


def make_drift_stream(n=12000, drift_at=6000, seed=0):
    """The spec's synthetic stream: 3 planted label groups, then 4 exclusive ones.

    Before ``drift_at`` the 12 labels form the groups ``OLD_GROUPS``: a group
    is on when ``x . w_g > 0.5`` (unit ``w_g``) and each of its labels then
    fires with probability 0.9. From ``drift_at`` the groups are
    ``NEW_GROUPS`` and exactly one is on, ``argmax_j x . v_j``. Every label
    finally flips with probability 0.02.

    Parameters
    ----------
    n : int, default=12000
        Rows.
    drift_at : int, default=6000
        First row of the new concept.
    seed : int, default=0
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n, 16)
        Standard normal features.
    Y : ndarray of shape (n, 12)
        0/1 labels.

    Examples
    --------
    >>> X, Y = make_drift_stream(n=100, drift_at=50)
    >>> X.shape, Y.shape, sorted(set(Y.ravel().tolist()))
    ((100, 16), (100, 12), [0, 1])
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 16)
    W = rng.randn(3, 16)
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    V = rng.randn(4, 16)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    before = np.repeat(X @ W.T > 0.5, 4, axis=1) & (rng.rand(n, 12) < 0.9)
    winner = np.argmax(X @ V.T, axis=1)
    after = (winner[:, None] == np.arange(12) % 4) & (rng.rand(n, 12) < 0.9)
    Y = np.where(np.arange(n)[:, None] < drift_at, before, after)
    return X, (Y ^ (rng.rand(n, 12) < 0.02)).astype(int)
