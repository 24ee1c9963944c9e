"""Yeast, read from the copy bundled with river: no download, no data folder."""

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

_YEAST_DESCR = """Yeast multi-label dataset (bundled with river).

2417 genes described by 103 numeric features (micro-array expression and
phylogenetic profiles), each annotated with a subset of 14 functional classes
(label cardinality 4.237). The rows and values are identical to Mulan's
``yeast.arff``.

References
----------
A. Elisseeff, J. Weston. A kernel method for multi-labelled classification.
NIPS 14, 2001.
"""


def load_yeast(*, as_frame=False, return_X_y=False):
    """Load the Yeast multi-label dataset bundled with river (no network access).

    =================   ==============
    Samples             2417
    Features            103 (float)
    Labels              14 (0/1)
    Label cardinality   4.237
    =================   ==============

    Parameters
    ----------
    as_frame : bool, default=False
        If True, ``data`` and ``target`` are pandas DataFrames and ``frame`` holds
        both side by side.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        - ``data`` : ndarray of shape (2417, 103), float64, or DataFrame.
        - ``target`` : ndarray of shape (2417, 14), int64 0/1 indicator, or DataFrame.
        - ``feature_names`` : list of str, ``Att1`` ... ``Att103``.
        - ``target_names`` : list of str, ``Class1`` ... ``Class14``.
        - ``frame`` : DataFrame of shape (2417, 117) when ``as_frame=True``, else None.
        - ``DESCR`` : str, a description of the dataset.

    (data, target) : tuple of ndarray, or of DataFrame when ``as_frame=True``
        Returned instead of the Bunch when ``return_X_y`` is True.

    References
    ----------
    .. [1] A. Elisseeff, J. Weston. A kernel method for multi-labelled
       classification. NIPS 14, 2001.

    Examples
    --------
    >>> from sklearn_losses.datasets import load_yeast
    >>> X, Y = load_yeast(return_X_y=True)
    >>> X.shape, Y.shape, Y.dtype
    ((2417, 103), (2417, 14), dtype('int64'))
    >>> round(Y.sum(axis=1).mean(), 3)
    np.float64(4.237)
    """
    from river.datasets import Yeast

    frame = pd.read_csv(Yeast().path)
    target_names = [c for c in frame.columns if c.startswith("Class")]
    feature_names = [c for c in frame.columns if c not in target_names]
    data = frame[feature_names].astype(np.float64)
    target = frame[target_names].astype(np.int64)
    if not as_frame:
        data, target, frame = data.to_numpy(), target.to_numpy(), None
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=target_names,
        DESCR=_YEAST_DESCR,
    )
