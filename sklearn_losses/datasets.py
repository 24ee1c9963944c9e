"""Loaders for the multi-label and text datasets used by the examples and benchmarks.

`load_yeast` reads the copy of Yeast bundled with river, so it needs no download.
The other loaders read files from a data folder (``data_home``): the Mulan and MEKA
ARFF files, GoEmotions, TREC, SST-2 and AG News, laid out as in the project's shared
data folder (``mulan/<name>/``, ``meka/``, ``goemotions/``, ``trec/``, ``sst2/``,
``ag_news/``). ``data_home`` defaults to the environment variable
``SKLEARN_LOSSES_DATA``, else ``~/sklearn_losses_data``.
"""

import bz2
import gzip
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import arff
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import Bunch

__all__ = [
    "get_data_home",
    "list_multilabel_datasets",
    "load_arff",
    "load_goemotions",
    "load_multilabel_dataset",
    "load_text_classification",
    "load_yeast",
]

_ENV_VAR = "SKLEARN_LOSSES_DATA"

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


def get_data_home(data_home=None):
    """Return the folder the file-based loaders read from.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. When None, the environment variable
        ``SKLEARN_LOSSES_DATA`` is used, else ``~/sklearn_losses_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder (it is not created and may not exist).

    Examples
    --------
    >>> from sklearn_losses.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(_ENV_VAR, Path("~") / "sklearn_losses_data")
    return Path(data_home).expanduser()


def _require_file(path, data_home):
    if not path.is_file():
        raise FileNotFoundError(
            f"Dataset file {path} not found (looked in data_home={data_home}). Pass "
            f"data_home=... or set the {_ENV_VAR} environment variable to the folder "
            "that holds mulan/, meka/, goemotions/, ... (e.g. the project's shared/data)."
        )
    return path


# --------------------------------------------------------------------------- Yeast


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

    (data, target) : tuple if ``return_X_y`` is True

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


# ---------------------------------------------------------------------- ARFF files


def _open_text(path, encoding="utf-8"):
    """Open a plain, ``.gz`` or ``.bz2`` file in text mode."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding)
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding=encoding)
    return open(path, encoding=encoding)


def _unescape(name):
    # ARFF names may escape quotes (``Swainson\'s Thrush``) where the Mulan XML
    # does not; compare names with the escapes removed.
    return name.replace("\\'", "'").replace('\\"', '"')


def _read_label_xml(path):
    """Label names of a Mulan XML file, in document order (nested labels included)."""
    root = ET.parse(path).getroot()
    return [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]


def _is_sparse_arff(text):
    """Whether the first data row of an ARFF text uses the ``{index value}`` form."""
    match = re.search(r"^\s*@data\b", text, flags=re.IGNORECASE | re.MULTILINE)
    if match is None:
        raise ValueError("Not an ARFF file: no @data section found.")
    for line in text[match.end() :].splitlines():
        line = line.strip()
        if line and not line.startswith("%"):
            return line.startswith("{")
    return False


def _meka_label_spec(relation):
    """``(n_labels, location)`` from a MEKA ``-C n`` relation, or None."""
    match = re.search(r"-C\s+(-?\d+)", relation)
    if match is None:
        return None
    n = int(match.group(1))
    return abs(n), ("first" if n > 0 else "last")


def _label_indices(names, *, relation, label_names, n_labels, label_location):
    """Column indices of the label attributes, in the order of the file."""
    if label_names is not None:
        if isinstance(label_names, (str, os.PathLike)):
            label_names = _read_label_xml(label_names)
        label_names = [_unescape(n) for n in label_names]
        if n_labels is not None and n_labels != len(label_names):
            raise ValueError(
                f"n_labels={n_labels} but {len(label_names)} label names were given."
            )
        position = {_unescape(n): i for i, n in enumerate(names)}
        missing = [n for n in label_names if n not in position]
        if missing:
            raise ValueError(
                f"{len(missing)} of {len(label_names)} label names are not attributes of "
                f"the ARFF file: {missing[:10]}{' ...' if len(missing) > 10 else ''}. "
                "Check that the XML/label list belongs to this file."
            )
        # File order, not XML order: Mulan's yeast.xml lists Class6 before Class4.
        return sorted(position[n] for n in label_names)

    meka = _meka_label_spec(relation)
    if n_labels is None:
        if meka is None:
            raise ValueError(
                "Cannot tell which attributes are labels: the @relation has no MEKA "
                "'-C n' option. Pass label_names (a list or the Mulan XML path) or "
                "n_labels with label_location."
            )
        n_labels = meka[0]
    elif meka is not None and meka[0] != n_labels:
        raise ValueError(
            f"n_labels={n_labels} contradicts the file's MEKA option -C ({meka[0]} labels)."
        )
    if label_location is None:
        label_location = meka[1] if meka is not None else "last"
    if label_location not in ("first", "last"):
        raise ValueError(
            f"label_location must be 'first' or 'last', got {label_location!r}."
        )
    if not 0 < n_labels < len(names):
        raise ValueError(
            f"n_labels={n_labels} is not in [1, {len(names) - 1}] for a file with "
            f"{len(names)} attributes."
        )
    if label_location == "first":
        return list(range(n_labels))
    return list(range(len(names) - n_labels, len(names)))


def _label_codes(name, attr_type):
    """Map from an attribute's encoded value to its 0/1 label value."""
    values = attr_type if isinstance(attr_type, list) else None
    if values is None:
        return None  # numeric label attribute: values are used as they are
    try:
        codes = np.array([int(float(v)) for v in values])
    except ValueError:
        codes = None
    if codes is None or not np.isin(codes, (0, 1)).all():
        raise ValueError(
            f"Label attribute {name!r} has values {values}; labels must be 0/1."
        )
    return codes


def _decode_arff(path):
    with _open_text(path) as f:
        text = f.read()
    sparse = _is_sparse_arff(text)
    decoded = arff.loads(
        text, encode_nominal=True, return_type=arff.COO if sparse else arff.DENSE
    )
    n_attributes = len(decoded["attributes"])
    if sparse:
        values, rows, cols = decoded["data"]
        n_rows = (max(rows) + 1) if len(rows) else 0
        matrix = sp.coo_matrix(
            (np.asarray(values, dtype=np.float64), (rows, cols)),
            shape=(n_rows, n_attributes),
        ).tocsr()
    else:
        matrix = np.asarray(decoded["data"], dtype=np.float64).reshape(-1, n_attributes)
    return decoded, matrix


def load_arff(
    path, *, label_names=None, n_labels=None, label_location=None, drop_features=()
):
    """Read a multi-label ARFF file (Mulan or MEKA layout, dense or sparse).

    The file may be plain, ``.gz`` or ``.bz2``. Labels are found, in this order:

    1. by name, when ``label_names`` is given (Mulan: the names in its XML file).
       Labels are matched by name, never by position, so files with the labels
       first (20ng, ohsumed, reuters-k500) or last load alike. Escaped quotes
       (``\\'``) are removed from both sides before matching;
    2. by position, from ``n_labels`` and ``label_location``;
    3. from the MEKA option ``-C n`` in ``@relation``: the first ``n`` attributes
       when ``n > 0``, the last ``|n|`` when ``n < 0``.

    Nominal features are encoded as the index of their value in the declaration
    (e.g. ``{YES,NO}`` gives YES -> 0, NO -> 1); for ``{0,1}`` that is the value.

    Parameters
    ----------
    path : str or path-like
        The ARFF file.
    label_names : list of str or path-like, default=None
        Names of the label attributes, or the path of a Mulan label XML file.
    n_labels : int, default=None
        Number of labels. With ``label_names`` it is only checked.
    label_location : {"first", "last"}, default=None
        Where the ``n_labels`` labels are. None means what ``-C`` says, else "last".
    drop_features : sequence of str, default=()
        Attributes to drop from the features (e.g. an ID column).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        - ``data`` : ndarray (dense ARFF) or CSR matrix (sparse ARFF) of
          shape (n_samples, n_features), float64.
        - ``target`` : ndarray of shape (n_samples, n_labels), int64 0/1, always dense.
        - ``feature_names`` : list of str.
        - ``target_names`` : list of str, in the file's attribute order (not
          the order of ``label_names``).
        - ``relation`` : str, the ARFF ``@relation`` name.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the labels cannot be located or are not 0/1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_losses.datasets import load_arff
    >>> text = '''@relation 'toy: -C 2'
    ... @attribute a {0,1}
    ... @attribute b {0,1}
    ... @attribute x numeric
    ... @data
    ... 1,0,0.5
    ... 0,1,2.0
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.arff"
    >>> _ = path.write_text(text)
    >>> bunch = load_arff(path)
    >>> bunch.target_names, bunch.target.tolist(), bunch.data.ravel().tolist()
    (['a', 'b'], [[1, 0], [0, 1]], [0.5, 2.0])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ARFF file {path} not found.")
    decoded, matrix = _decode_arff(path)
    attributes = decoded["attributes"]
    names = [name for name, _ in attributes]
    label_idx = _label_indices(
        names,
        relation=decoded["relation"],
        label_names=label_names,
        n_labels=n_labels,
        label_location=label_location,
    )
    unknown = set(drop_features) - set(names)
    if unknown:
        raise ValueError(f"drop_features not found in the ARFF file: {sorted(unknown)}")
    excluded = set(label_idx) | {names.index(n) for n in drop_features}
    feature_idx = [i for i in range(len(names)) if i not in excluded]
    strings = [names[i] for i in feature_idx if attributes[i][1] == "STRING"]
    if strings:
        raise ValueError(
            f"String attributes {strings} cannot be features; pass them in drop_features."
        )

    raw_labels = matrix[:, label_idx]
    raw_labels = raw_labels.toarray() if sp.issparse(raw_labels) else raw_labels
    if np.isnan(raw_labels).any():
        raise ValueError(f"{path} has missing label values ('?').")
    target = np.empty(raw_labels.shape, dtype=np.int64)
    for j, i in enumerate(label_idx):
        codes = _label_codes(names[i], attributes[i][1])
        column = raw_labels[:, j].astype(np.int64)
        target[:, j] = column if codes is None else codes[column]
    if not np.isin(target, (0, 1)).all():
        raise ValueError(f"{path}: label values other than 0/1 found.")

    return Bunch(
        data=matrix[:, feature_idx],
        target=target,
        feature_names=[names[i] for i in feature_idx],
        target_names=[_unescape(names[i]) for i in label_idx],
        relation=decoded["relation"],
    )


# ------------------------------------------------------------- named benchmarks


class _Dataset(NamedTuple):
    files: dict  # subset -> path relative to data_home
    xml: str = None  # Mulan label file; None for MEKA (-C n)
    drop_features: tuple = ()
    descr: str = ""


def _mulan(folder, stem, descr, *, union=True, split=True, xml=None, **kwargs):
    files = {}
    if union:
        files["all"] = f"mulan/{folder}/{stem}.arff.gz"
    if split:
        files["train"] = f"mulan/{folder}/{stem}-train.arff.gz"
        files["test"] = f"mulan/{folder}/{stem}-test.arff.gz"
    xml = f"mulan/{folder}/{xml or stem}.xml"
    return _Dataset(files=files, xml=xml, descr=descr, **kwargs)


def _corel5k():
    folder = "mulan/corel5k"
    files = {
        "all": f"{folder}/Corel5k-sparse.arff.gz",
        "train": f"{folder}/Corel5k-train-sparse.arff.gz",
        "test": f"{folder}/Corel5k-test-sparse.arff.gz",
    }
    descr = (
        "Corel5k: 5000 images (4500/500), 499 visual-word features, 374 labels. "
        "P. Duygulu et al. Object recognition as machine translation. ECCV 2002."
    )
    return _Dataset(files=files, xml=f"{folder}/Corel5k.xml", descr=descr)


_DATASETS = {
    "yeast": _mulan(
        "yeast",
        "yeast",
        "Yeast: 2417 genes (1500/917), 103 features, 14 labels. A. Elisseeff, "
        "J. Weston. A kernel method for multi-labelled classification. NIPS 2001.",
    ),
    "emotions": _mulan(
        "emotions",
        "emotions",
        "Emotions: 593 songs (391/202), 72 audio features, 6 labels. K. Trohidis "
        "et al. Multilabel classification of music into emotions. ISMIR 2008.",
    ),
    "scene": _mulan(
        "scene",
        "scene",
        "Scene: 2407 images (1211/1196; 'all' is train + test), 294 features, "
        "6 labels. M. R. Boutell et al. Learning multi-label scene "
        "classification. Pattern Recognition 37(9), 2004.",
        union=False,
    ),
    "enron": _mulan(
        "enron",
        "enron",
        "Enron: 1702 e-mails (1123/579), 1001 binary word features, 53 labels. "
        "J. Read et al. Multi-label classification using ensembles of pruned "
        "sets. ICDM 2008.",
    ),
    "genbase": _mulan(
        "genbase",
        "genbase",
        "Genbase: 662 proteins (463/199), 1185 motif features ({YES,NO} encoded "
        "YES -> 0, NO -> 1; the 'protein' ID attribute is dropped), 27 labels. "
        "S. Diplaris et al. Protein classification with multiple algorithms. "
        "PCI 2005.",
        drop_features=("protein",),
    ),
    "cal500": _mulan(
        "cal500",
        "cal500",
        "CAL500: 502 songs (no split), 68 audio features, 174 labels. D. Turnbull "
        "et al. Semantic annotation and retrieval of music and sound effects. "
        "IEEE TASLP 16(2), 2008.",
        split=False,
    ),
    "corel5k": _corel5k(),
    "bibtex": _mulan(
        "bibtex",
        "bibtex",
        "Bibtex: 7395 entries (4880/2515), 1836 binary word features, 159 tags. "
        "I. Katakis et al. Multilabel text classification for automated tag "
        "suggestion. ECML/PKDD Discovery Challenge 2008.",
    ),
    "delicious": _mulan(
        "delicious",
        "delicious",
        "Delicious: 16105 web pages (12920/3185), 500 binary word features, "
        "983 tags. G. Tsoumakas et al. Effective and efficient multilabel "
        "classification in domains with large number of labels. MMD 2008.",
    ),
    "tmc2007-500": _mulan(
        "tmc2007-500",
        "tmc2007-500",
        "TMC2007-500: 28596 aviation safety reports (21519/7077), 500 binary word "
        "features, 22 labels. A. Srivastava, B. Zane-Ulman. Discovering recurring "
        "anomalies in text reports regarding complex space systems. IEEE "
        "Aerospace Conf. 2005.",
    ),
    "flags": _mulan(
        "flags",
        "flags",
        "Flags: 194 flags (129/65), 19 features (nominal ones encoded as the "
        "index of their value), 7 colour labels. E. C. Goncalves et al. A genetic "
        "algorithm for optimizing the label ordering in multi-label classifier "
        "chains. ICTAI 2013.",
    ),
    "20ng": _mulan(
        "20ng",
        "20ng",
        "20 Newsgroups: 19300 posts (12933/6367), 1006 binary word features, "
        "20 labels (stored first in the ARFF). K. Lang. NewsWeeder: learning to "
        "filter netnews. ICML 1995.",
    ),
    "ohsumed": _mulan(
        "ohsumed",
        "ohsumed",
        "Ohsumed: medical abstracts, 23 MeSH disease labels (stored first in the "
        "ARFF). T. Joachims. Text categorization with support vector machines. "
        "ECML 1998.",
    ),
    "reuters-k500": _mulan(
        "reuters-k500",
        "reuters-k500",
        "Reuters-K500 (RCV1 subset): 6000 news stories (4014/1986), 500 real "
        "features, 103 labels (stored first in the ARFF). G. Tsoumakas, "
        "I. Vlahavas. Random k-labelsets. ECML 2007.",
    ),
    "slashdot": _mulan(
        "slashdot",
        "slashdot",
        "Slashdot: 3782 article blurbs (no split), 3125 features, 20 labels. "
        "J. Read. Scalable multi-label classification. PhD thesis, Univ. of "
        "Waikato, 2010.",
        split=False,
    ),
    "meka/enron": _Dataset(
        files={"all": "meka/Enron.arff.bz2"},
        descr="Enron, MEKA version: 1702 e-mails, 1001 features, 53 labels.",
    ),
    "meka/imdb": _Dataset(
        files={"all": "meka/Imdb.arff.bz2"},
        descr=(
            "IMDB, MEKA version: 120919 plot summaries, 1001 binary word features, "
            "28 genres. J. Read. Scalable multi-label classification. PhD thesis, "
            "Univ. of Waikato, 2010."
        ),
    ),
    "meka/music": _Dataset(
        files={"all": "meka/Music.arff.gz"},
        descr=(
            "Music, MEKA's normalised emotions variant: 592 songs, 71 features, "
            "6 labels (not identical to Mulan emotions)."
        ),
    ),
    "meka/scene": _Dataset(
        files={"all": "meka/Scene.arff.bz2"},
        descr="Scene, MEKA version: 2407 images, 294 features, 6 labels.",
    ),
    "meka/yeast": _Dataset(
        files={"all": "meka/Yeast.arff.bz2"},
        descr=(
            "Yeast, MEKA version: 2417 genes, 103 features, 14 labels; "
            "-split-number 1500 gives the train/test cut."
        ),
    ),
}


def list_multilabel_datasets(data_home=None):
    """Names of the multi-label datasets whose files are present in ``data_home``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data folder; see :func:`get_data_home`.

    Returns
    -------
    names : list of str
        Sorted names accepted by :func:`load_multilabel_dataset`.

    Examples
    --------
    >>> from sklearn_losses.datasets import list_multilabel_datasets
    >>> list_multilabel_datasets("/nonexistent")
    []
    """
    home = get_data_home(data_home)
    return sorted(
        name
        for name, spec in _DATASETS.items()
        if any((home / f).is_file() for f in spec.files.values())
    )


def _load_named_file(spec, relative, home):
    path = _require_file(home / relative, home)
    xml = _require_file(home / spec.xml, home) if spec.xml else None
    return load_arff(path, label_names=xml, drop_features=spec.drop_features)


def _concatenate(parts):
    first = parts[0]
    for part in parts[1:]:
        if (part.feature_names, part.target_names) != (
            first.feature_names,
            first.target_names,
        ):
            raise ValueError("Train and test files have different attributes.")
    if sp.issparse(first.data):
        data = sp.vstack([p.data for p in parts], format="csr")
    else:
        data = np.vstack([p.data for p in parts])
    return Bunch(
        data=data,
        target=np.vstack([p.target for p in parts]),
        feature_names=first.feature_names,
        target_names=first.target_names,
    )


def _split_by_number(bunch, name, subset):
    match = re.search(r"-split-number\s+(\d+)", bunch.relation)
    if match is None:
        raise ValueError(
            f"{name!r} ships no train/test split; use subset='all' and split it "
            "yourself (e.g. iterstrat's MultilabelStratifiedShuffleSplit)."
        )
    cut = int(match.group(1))
    rows = slice(None, cut) if subset == "train" else slice(cut, None)
    return Bunch(
        data=bunch.data[rows],
        target=bunch.target[rows],
        feature_names=bunch.feature_names,
        target_names=bunch.target_names,
    )


def load_multilabel_dataset(name, *, subset="all", data_home=None, return_X_y=False):
    """Load a Mulan or MEKA multi-label benchmark from ``data_home``.

    Mulan names: "yeast", "emotions", "scene", "enron", "genbase", "cal500",
    "corel5k", "bibtex", "delicious", "tmc2007-500", "flags", "20ng", "ohsumed",
    "reuters-k500", "slashdot". MEKA names: "meka/enron", "meka/imdb",
    "meka/music", "meka/scene", "meka/yeast". Names are case-insensitive.

    Parameters
    ----------
    name : str
        Dataset name, see above.
    subset : {"all", "train", "test"}, default="all"
        Which rows. "all" reads the union file, or concatenates train and test
        (in that order) when no union file exists (scene). MEKA files support
        "train"/"test" only when they carry ``-split-number`` (meka/yeast).
    data_home : str or path-like, default=None
        Data folder holding ``mulan/`` and ``meka/``; see :func:`get_data_home`.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        - ``data`` : ndarray, or CSR matrix for sparse ARFF files, float64.
        - ``target`` : ndarray of shape (n_samples, n_labels), int64 0/1.
        - ``feature_names`` : list of str.
        - ``target_names`` : list of str.
        - ``DESCR`` : str, size and citation.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the name or subset is unknown.
    FileNotFoundError
        If the files are not in ``data_home``.

    Examples
    --------
    >>> from sklearn_losses.datasets import load_multilabel_dataset
    >>> bunch = load_multilabel_dataset("emotions", subset="train")  # doctest: +SKIP
    >>> bunch.data.shape, bunch.target.shape  # doctest: +SKIP
    ((391, 72), (391, 6))
    """
    key = str(name).lower()
    if key not in _DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Valid names: {sorted(_DATASETS)}."
        )
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test', got {subset!r}.")
    spec = _DATASETS[key]
    home = get_data_home(data_home)
    if subset in spec.files:
        bunch = _load_named_file(spec, spec.files[subset], home)
    elif subset == "all" and {"train", "test"} <= spec.files.keys():
        bunch = _concatenate(
            [_load_named_file(spec, spec.files[s], home) for s in ("train", "test")]
        )
    elif spec.xml is None:  # MEKA: a train/test cut only via -split-number
        bunch = _load_named_file(spec, spec.files["all"], home)
        bunch = _split_by_number(bunch, name, subset)
    else:
        raise ValueError(
            f"{name!r} has no {subset!r} file; available subsets: {sorted(spec.files)}."
        )
    if return_X_y:
        return bunch.data, bunch.target
    return Bunch(
        data=bunch.data,
        target=bunch.target,
        feature_names=bunch.feature_names,
        target_names=bunch.target_names,
        DESCR=spec.descr,
    )


# ------------------------------------------------------------------ text datasets


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


def _read_trec(path):
    texts, labels = [], []
    with _open_text(path, encoding="latin-1") as f:
        for line in f:
            label, text = line.rstrip("\n").split(" ", 1)
            labels.append(label.split(":", 1)[0])
            texts.append(text)
    return texts, labels


def _read_sst2(path):
    texts, labels = [], []
    with _open_text(path) as f:
        for line in f:
            label, text = line.rstrip("\n").split(" ", 1)
            labels.append(int(label))
            texts.append(text)
    return texts, labels


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


def load_text_classification(name, *, subset="train", data_home=None):
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
    subset : str, default="train"
        Split, see the table.
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
