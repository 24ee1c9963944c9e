"""The named Mulan and MEKA benchmarks: where their files live, load and fetch them.

Each dataset is a set of ARFF files (plus a label XML for Mulan) under
``data_home``, laid out as ``mulan/<name>/`` and ``meka/``. The files come from
the public repositories named in ``_Source`` (a pinned commit each), which
:func:`fetch_multilabel_dataset` downloads from.
"""

import gzip
import http.client
import re
import shutil
import urllib.error
from typing import NamedTuple
from urllib.request import urlopen

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

from ._arff import load_arff
from ._base import _require_file, get_data_home

# Seconds to wait for the download server before calling the machine offline.
_TIMEOUT = 30


class _Source(NamedTuple):
    """A folder of a public GitHub repository, at a pinned commit."""

    repo: str
    commit: str
    folder: str

    @property
    def page(self):
        return f"https://github.com/{self.repo}/tree/{self.commit}/{self.folder}"

    def url(self, filename):
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.folder}/{filename}"


def _mulan_repo(folder):
    commit = "43f6389095ad71984264db4387a8074b22bc7d4a"
    return _Source("tsoumakas/mulan", commit, f"data/multi-label/{folder}")


# Every file path below was checked to exist at these commits (2026-11-28).
# 20ng, ohsumed, reuters-k500 and slashdot are not in Mulan's repository; Boomer
# kept Mulan-format copies (removed from its later history, hence the commit).
_BOOMER = _Source("mrapp-ke/Boomer", "fe3f6edd82bef77f13050b845482c70c2d07401e", "data")
_MEKA = _Source("Waikato/meka", "f9ffe231e06ebaa75b4a95c5cdeb737419731621", "src/main/data")


class _Dataset(NamedTuple):
    files: dict  # subset -> path relative to data_home
    xml: str = None  # Mulan label file; None for MEKA (-C n)
    drop_features: tuple = ()
    descr: str = ""
    source: _Source = _MEKA  # where fetch_multilabel_dataset downloads the files


def _mulan(folder, stem, descr, *, union=True, split=True, source=None, **kwargs):
    files = {}
    if union:
        files["all"] = f"mulan/{folder}/{stem}.arff.gz"
    if split:
        files["train"] = f"mulan/{folder}/{stem}-train.arff.gz"
        files["test"] = f"mulan/{folder}/{stem}-test.arff.gz"
    xml = f"mulan/{folder}/{stem}.xml"
    source = source or _mulan_repo(folder)
    return _Dataset(files=files, xml=xml, descr=descr, source=source, **kwargs)


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
    return _Dataset(
        files=files, xml=f"{folder}/Corel5k.xml", descr=descr, source=_mulan_repo("corel5k")
    )


def _meka(filename, descr):
    return _Dataset(files={"all": f"meka/{filename}"}, descr=descr)


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
        source=_mulan_repo("tmc2007"),
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
        source=_BOOMER,
    ),
    "ohsumed": _mulan(
        "ohsumed",
        "ohsumed",
        "Ohsumed: medical abstracts, 23 MeSH disease labels (stored first in the "
        "ARFF). T. Joachims. Text categorization with support vector machines. "
        "ECML 1998.",
        source=_BOOMER,
    ),
    "reuters-k500": _mulan(
        "reuters-k500",
        "reuters-k500",
        "Reuters-K500 (RCV1 subset): 6000 news stories (4014/1986), 500 real "
        "features, 103 labels (stored first in the ARFF). G. Tsoumakas, "
        "I. Vlahavas. Random k-labelsets. ECML 2007.",
        source=_BOOMER,
    ),
    "slashdot": _mulan(
        "slashdot",
        "slashdot",
        "Slashdot: 3782 article blurbs (no split), 3125 features, 20 labels. "
        "J. Read. Scalable multi-label classification. PhD thesis, Univ. of "
        "Waikato, 2010.",
        split=False,
        source=_BOOMER,
    ),
    "meka/enron": _meka(
        "Enron.arff.bz2",
        "Enron, MEKA version: 1702 e-mails, 1001 features, 53 labels.",
    ),
    "meka/imdb": _meka(
        "Imdb.arff.bz2",
        (
            "IMDB, MEKA version: 120919 plot summaries, 1001 binary word features, "
            "28 genres. J. Read. Scalable multi-label classification. PhD thesis, "
            "Univ. of Waikato, 2010."
        ),
    ),
    "meka/music": _meka(
        "Music.arff.gz",
        (
            "Music, MEKA's normalised emotions variant: 592 songs, 71 features, "
            "6 labels (not identical to Mulan emotions)."
        ),
    ),
    "meka/scene": _meka(
        "Scene.arff.bz2",
        "Scene, MEKA version: 2407 images, 294 features, 6 labels.",
    ),
    "meka/yeast": _meka(
        "Yeast.arff.bz2",
        (
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
        if any(_stored(home / f) is not None for f in spec.files.values())
    )


def _spec(name):
    key = str(name).lower()
    if key not in _DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Valid names: {sorted(_DATASETS)}.")
    return key, _DATASETS[key]


def _source_name(relative):
    """The file's name in its source repository, where no file is gzipped."""
    return relative.rsplit("/", 1)[-1].removesuffix(".gz")


def _stored(path):
    """``path``, or the same file without ``.gz`` as downloaded by hand, or None."""
    candidates = [path, path.with_suffix("")] if path.suffix == ".gz" else [path]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _where_to_get(key, spec):
    return (
        f" Download the files with fetch_multilabel_dataset({key!r}, data_home=...), "
        f"or by hand from {spec.source.page}."
    )


def _load_named_file(key, spec, relative, home):
    hint = _where_to_get(key, spec)
    path = _stored(home / relative) or _require_file(home / relative, home, hint)
    xml = None
    if spec.xml:
        xml = _stored(home / spec.xml) or _require_file(home / spec.xml, home, hint)
    return load_arff(path, label_names=xml, drop_features=spec.drop_features)


def _with_rows(bunch, data, target):
    return Bunch(
        data=data,
        target=target,
        feature_names=bunch.feature_names,
        target_names=bunch.target_names,
    )


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
    return _with_rows(first, data, np.vstack([p.target for p in parts]))


def _split_by_number(bunch, name, subset):
    match = re.search(r"-split-number\s+(\d+)", bunch.relation)
    if match is None:
        raise ValueError(
            f"{name!r} ships no train/test split; use subset='all' and split it "
            "yourself (e.g. iterstrat's MultilabelStratifiedShuffleSplit)."
        )
    cut = int(match.group(1))
    rows = slice(None, cut) if subset == "train" else slice(cut, None)
    return _with_rows(bunch, bunch.data[rows], bunch.target[rows])


def load_multilabel_dataset(name, *, subset="all", data_home=None, return_X_y=False):
    """Load a Mulan or MEKA multi-label benchmark from ``data_home``.

    Mulan names: "yeast", "emotions", "scene", "enron", "genbase", "cal500",
    "corel5k", "bibtex", "delicious", "tmc2007-500", "flags", "20ng", "ohsumed",
    "reuters-k500", "slashdot". MEKA names: "meka/enron", "meka/imdb",
    "meka/music", "meka/scene", "meka/yeast". Names are case-insensitive.

    Nothing is downloaded: :func:`fetch_multilabel_dataset` gets missing files.
    A file may also be stored uncompressed (``emotions.arff`` for
    ``emotions.arff.gz``), as it is when downloaded by hand.

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

    (data, target) : tuple of (ndarray or CSR matrix, ndarray)
        Returned instead of the Bunch when ``return_X_y`` is True.

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
    key, spec = _spec(name)
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test', got {subset!r}.")
    home = get_data_home(data_home)
    if subset in spec.files:
        bunch = _load_named_file(key, spec, spec.files[subset], home)
    elif subset == "all" and {"train", "test"} <= spec.files.keys():
        bunch = _concatenate(
            [_load_named_file(key, spec, spec.files[s], home) for s in ("train", "test")]
        )
    elif spec.xml is None:  # MEKA: a train/test cut only via -split-number
        bunch = _load_named_file(key, spec, spec.files["all"], home)
        bunch = _split_by_number(bunch, name, subset)
    else:
        raise ValueError(
            f"{name!r} has no {subset!r} file; available subsets: {sorted(spec.files)}."
        )
    if return_X_y:
        return bunch.data, bunch.target
    bunch = _with_rows(bunch, bunch.data, bunch.target)
    bunch.DESCR = spec.descr
    return bunch


def _download(url, target):
    """Stream ``url`` into ``target``, gzipping it when only ``target`` is gzipped."""
    partial = target.with_name(target.name + ".part")
    compress = target.suffix == ".gz" and not url.endswith(".gz")
    try:
        with urlopen(url, timeout=_TIMEOUT) as response:
            with (gzip.open if compress else open)(partial, "wb") as out:
                shutil.copyfileobj(response, out)
    except BaseException:
        partial.unlink(missing_ok=True)  # never leave half a file to be read later
        raise
    # Renamed only when complete, so an interrupted download is fetched again.
    partial.replace(target)


def fetch_multilabel_dataset(name, data_home=None, *, subset="all", return_X_y=False):
    """Load a Mulan or MEKA benchmark, downloading its files first if they are missing.

    The files are taken from the public repository each dataset is kept in (Mulan's,
    MEKA's, or Boomer's copies of four Mulan-format sets), at a pinned commit, and
    stored in ``data_home`` in the layout :func:`load_multilabel_dataset` reads
    (``mulan/<name>/`` or ``meka/``). Files already there are not downloaded again.

    Parameters
    ----------
    name : str
        Dataset name; see :func:`load_multilabel_dataset`.
    data_home : str or path-like, default=None
        Folder to store the files in; see :func:`get_data_home`. Created if needed.
    subset : {"all", "train", "test"}, default="all"
        Which rows; see :func:`load_multilabel_dataset`.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As returned by :func:`load_multilabel_dataset`.

    (data, target) : tuple of (ndarray or CSR matrix, ndarray)
        Returned instead of the Bunch when ``return_X_y`` is True.

    Raises
    ------
    ConnectionError
        If a file is missing and cannot be downloaded (e.g. offline). The message
        names the source and the folder to put the files in by hand.
    ValueError
        If the name or subset is unknown.

    See Also
    --------
    load_multilabel_dataset : Load the files without any network access.

    Examples
    --------
    >>> from sklearn_losses.datasets import fetch_multilabel_dataset
    >>> X, Y = fetch_multilabel_dataset("flags", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, Y.shape  # doctest: +SKIP
    ((194, 19), (194, 7))
    """
    key, spec = _spec(name)
    home = get_data_home(data_home)
    relatives = [*spec.files.values(), *([spec.xml] if spec.xml else [])]
    for relative in relatives:
        target = home / relative
        if _stored(target) is not None:
            continue
        url = spec.source.url(_source_name(relative))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _download(url, target)
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
                ConnectionError) as error:
            raise ConnectionError(
                f"Could not download {url} for dataset {key!r}: {error}. Without network "
                f"access, get the files from {spec.source.page} and put them in "
                f"{target.parent} as {[r.rsplit('/', 1)[-1] for r in relatives]} (plain "
                ".arff files without .gz are read too), or set data_home or the "
                "SKLEARN_LOSSES_DATA environment variable to a folder that holds them."
            ) from error
    return load_multilabel_dataset(key, subset=subset, data_home=home, return_X_y=return_X_y)

