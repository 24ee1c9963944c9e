"""Text sets: GoEmotions (multi-label) and TREC, SST-2, AG News (single-label)."""

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._base import _open_text, _require_file, get_data_home


def _check_subset(name, subset, valid):
    if subset not in valid:
        raise ValueError(f"{name} subset must be one of {list(valid)}, got {subset!r}.")


def load_goemotions(*, subset="train", data_home=None):
    """Load GoEmotions: Reddit comments with 28 emotion labels (multi-label).

    ========  =====  =====  =====
    subset    train  dev    test
    rows      43410  5426   5427
    ========  =====  =====  =====

    Parameters
    ----------
    subset : {"train", "dev", "test"}, default="train"
        Which split.
    data_home : str or path-like, default=None
        Data folder holding ``goemotions/``; see :func:`get_data_home`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        - ``data`` : list of str, the raw comments.
        - ``target`` : ndarray of shape (n_samples, 28), int64 0/1 indicator.
        - ``target_names`` : list of str, 27 emotions and ``neutral``.
        - ``ids`` : ndarray of str, the Reddit comment ids.
        - ``DESCR`` : str.

    References
    ----------
    .. [1] D. Demszky, D. Movshovitz-Attias, J. Ko, A. Cowen, G. Nemade, S. Ravi.
       GoEmotions: A dataset of fine-grained emotions. ACL 2020.

    Examples
    --------
    >>> from sklearn_losses.datasets import load_goemotions
    >>> bunch = load_goemotions(subset="dev")  # doctest: +SKIP
    >>> len(bunch.data), bunch.target.shape  # doctest: +SKIP
    (5426, (5426, 28))
    """
    _check_subset("GoEmotions", subset, ("train", "dev", "test"))
    home = get_data_home(data_home)
    names_path = _require_file(home / "goemotions" / "emotions.txt", home)
    path = _require_file(home / "goemotions" / f"{subset}.tsv.gz", home)
    target_names = names_path.read_text(encoding="utf-8").split()
    frame = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["text", "labels", "id"],
        dtype=str,
        keep_default_na=False,
    )
    target = np.zeros((len(frame), len(target_names)), dtype=np.int64)
    for row, labels in enumerate(frame["labels"]):
        target[row, [int(i) for i in labels.split(",")]] = 1
    return Bunch(
        data=frame["text"].tolist(),
        target=target,
        target_names=target_names,
        ids=frame["id"].to_numpy(),
        DESCR="GoEmotions (Demszky et al., ACL 2020): Reddit comments, 28 labels.",
    )


def _read_labelled_lines(path, parse_label, encoding="utf-8"):
    """Texts and labels of a file holding one ``label text`` line per example."""
    texts, labels = [], []
    with _open_text(path, encoding=encoding) as f:
        for line in f:
            label, text = line.rstrip("\n").split(" ", 1)
            labels.append(parse_label(label))
            texts.append(text)
    return texts, labels


def _coarse_trec_class(label):
    return label.split(":", 1)[0]  # "LOC:city" -> "LOC"


def _read_trec(path):
    return _read_labelled_lines(path, _coarse_trec_class, encoding="latin-1")


def _read_sst2(path):
    return _read_labelled_lines(path, int)


def _read_ag_news(path):
    frame = pd.read_csv(path, header=None, names=["label", "title", "text"], dtype=str)
    texts = (frame["title"] + " " + frame["text"]).tolist()
    return texts, frame["label"].astype(int).tolist()


_TEXT_DATASETS = {
    # name: (reader, {subset: file}, target names or None for sorted labels, DESCR)
    "trec": (
        _read_trec,
        {"train": "trec/TREC.train.gz", "test": "trec/TREC.test.gz"},
        None,
        "TREC question classification, 6 coarse classes (Li and Roth, COLING 2002).",
    ),
    "sst2": (
        _read_sst2,
        {
            "train": "sst2/stsa.binary.train.gz",
            "dev": "sst2/stsa.binary.dev.gz",
            "test": "sst2/stsa.binary.test.gz",
        },
        ["negative", "positive"],
        "SST-2 sentence-level sentiment (Socher et al., EMNLP 2013).",
    ),
    "ag_news": (
        _read_ag_news,
        {"test": "ag_news/test.csv.gz"},
        ["World", "Sports", "Business", "Sci/Tech"],
        "AG News topic classification, test split only (Zhang et al., NIPS 2015).",
    ),
}


def load_text_classification(name, *, subset=None, data_home=None):
    """Load a single-label text classification set: TREC, SST-2 or AG News.

    ===========  ===========================  =======  ============================
    name         subsets (rows)               classes  text
    ===========  ===========================  =======  ============================
    "trec"       train 5452, test 500         6        question (coarse label kept)
    "sst2"       train 6920, dev 872,         2        tokenized lower-case sentence
                 test 1821
    "ag_news"    test 7600                    4        title + " " + description
    ===========  ===========================  =======  ============================

    Texts are returned as stored (AG News keeps its ``\\`` line-break marks).

    Parameters
    ----------
    name : {"trec", "sst2", "ag_news"}
        Dataset name.
    subset : str, default=None
        Split, see the table. None means "train" where the set has one, else
        its only split (AG News: "test").
    data_home : str or path-like, default=None
        Data folder; see :func:`get_data_home`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        - ``data`` : list of str.
        - ``target`` : ndarray of shape (n_samples,), int64 in ``[0, n_classes)``.
        - ``target_names`` : list of str, ``target_names[target[i]]`` is the class.
        - ``DESCR`` : str.

    Examples
    --------
    >>> from sklearn_losses.datasets import load_text_classification
    >>> bunch = load_text_classification("trec", subset="test")  # doctest: +SKIP
    >>> len(bunch.data), bunch.target_names  # doctest: +SKIP
    (500, ['ABBR', 'DESC', 'ENTY', 'HUM', 'LOC', 'NUM'])
    """
    if name not in _TEXT_DATASETS:
        raise ValueError(
            f"Unknown text dataset {name!r}. Valid names: {sorted(_TEXT_DATASETS)}."
        )
    reader, files, target_names, descr = _TEXT_DATASETS[name]
    if subset is None:
        subset = "train" if "train" in files else next(iter(files))
    _check_subset(name, subset, files)
    home = get_data_home(data_home)
    texts, labels = reader(_require_file(home / files[subset], home))
    if name == "trec":
        # The six coarse classes, so train and test share one encoding.
        target_names = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
        target = np.array([target_names.index(label) for label in labels])
    elif name == "ag_news":
        target = np.asarray(labels) - 1  # the file numbers classes from 1
    else:
        target = np.asarray(labels)
    return Bunch(
        data=texts, target=target.astype(np.int64), target_names=target_names, DESCR=descr
    )
