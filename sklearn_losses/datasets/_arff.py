"""A reader for multi-label ARFF files: Mulan (labels named in an XML file) and MEKA.

The file is parsed row by row and the rows are packed into NumPy (dense) or CSR
(sparse) arrays as they come, so the whole text and a list of Python floats are
never held at once.
"""

import array
import itertools
import math
import os
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import arff
import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

from ._base import _open_text

# Values parsed into Python lists before they are packed into one float64 block:
# large enough that NumPy does the copying, small enough to stay near 2 MiB.
_CHUNK_VALUES = 1 << 16


def _unescape(name):
    # ARFF names may escape quotes (``Swainson\'s Thrush``) where the Mulan XML
    # does not; compare names with the escapes removed.
    return name.replace("\\'", "'").replace('\\"', '"')


def _read_label_xml(path):
    """Label names of a Mulan XML file, in document order (nested labels included)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"Label file {path} is not valid XML: {error}") from error
    names = [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "label"]
    if not names or None in names:
        raise ValueError(
            f"Label file {path} must hold <label name=\"...\"/> elements, each with a name."
        )
    return names


def _first_data_row_is_sparse(path):
    """Whether the first data row of an ARFF file uses the ``{index value}`` form."""
    with _open_text(path) as f:
        for line in f:
            if re.match(r"\s*@data\b", line, flags=re.IGNORECASE):
                break
        else:
            raise ValueError("not an ARFF file: no @data section found.")
        for line in f:
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
        repeated = sorted({n for n in label_names if label_names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"Label names {repeated} are listed more than once; each label must be "
                "named once (check the Mulan XML file)."
            )
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


def _columns(header, *, label_names, n_labels, label_location, drop_features):
    """``(feature_idx, label_idx)``: the attribute indices of features and labels."""
    attributes = header["attributes"]
    names = [name for name, _ in attributes]
    label_idx = _label_indices(
        names,
        relation=header["relation"],
        label_names=label_names,
        n_labels=n_labels,
        label_location=label_location,
    )
    unknown = set(drop_features) - set(names)
    if unknown:
        raise ValueError(f"drop_features not found in the ARFF file: {sorted(unknown)}")
    excluded = set(label_idx) | {names.index(n) for n in drop_features}
    feature_idx = [i for i in range(len(names)) if i not in excluded]
    if not feature_idx:
        raise ValueError(
            f"all {len(names)} attributes are labels or dropped, so no feature "
            "is left. Check that the label list (or Mulan XML) names only the labels."
        )
    strings = [names[i] for i in feature_idx if attributes[i][1] == "STRING"]
    if strings:
        raise ValueError(
            f"String attributes {strings} cannot be features; pass them in drop_features."
        )
    return feature_idx, label_idx


def _integer_labels(values):
    """Raw label values as int64, refusing missing ones."""
    if np.isnan(values).any():
        raise ValueError("missing label values ('?') found.")
    return values.astype(np.int64)


def _pack_dense(rows, n_attributes, feature_idx, label_idx):
    """Features (float64) and raw labels (int64) of dense rows, a chunk at a time."""
    # A chunk holds about _CHUNK_VALUES Python floats (~32 bytes each) at once.
    size = max(1, _CHUNK_VALUES // n_attributes)
    empty = np.empty((0, n_attributes))
    features, labels = [empty[:, feature_idx]], [_integer_labels(empty[:, label_idx])]
    rows = iter(rows)
    for chunk in iter(lambda: list(itertools.islice(rows, size)), []):
        block = np.array(chunk, dtype=np.float64)
        features.append(block[:, feature_idx])
        labels.append(_integer_labels(block[:, label_idx]))
    return np.concatenate(features), np.concatenate(labels)


def _pack_sparse(rows, n_attributes, feature_idx, label_idx):
    """Features (CSR, float64) and raw labels (dense int64) of ``{column: value}`` rows."""
    feature_column = {c: j for j, c in enumerate(feature_idx)}
    label_column = {c: j for j, c in enumerate(label_idx)}
    # array.array holds 8 bytes a value where a list of Python floats takes ~32.
    indptr, indices, values = array.array("q", [0]), array.array("i"), array.array("d")
    label_rows, label_cols, label_values = array.array("q"), array.array("q"), array.array("d")
    for n_rows, row in enumerate(rows):
        for column, value in sorted(row.items()):
            value = math.nan if value is None else value
            if column in feature_column:
                indices.append(feature_column[column])
                values.append(value)
            elif column in label_column:
                label_rows.append(n_rows)
                label_cols.append(label_column[column])
                label_values.append(value)
        indptr.append(len(indices))
    n_rows = len(indptr) - 1
    data = sp.csr_matrix(
        (np.frombuffer(values), np.frombuffer(indices, dtype=np.int32),
         np.frombuffer(indptr, dtype=np.int64)),
        shape=(n_rows, len(feature_idx)),
    )
    labels = np.zeros((n_rows, len(label_idx)), dtype=np.int64)
    labels[np.frombuffer(label_rows, dtype=np.int64),
           np.frombuffer(label_cols, dtype=np.int64)] = _integer_labels(np.frombuffer(label_values))
    return data, labels


def _stream_arff(path, **columns):
    sparse = _first_data_row_is_sparse(path)
    with _open_text(path) as f:
        # The *_GEN types parse the header now and yield data rows on demand.
        decoded = arff.load(
            f, encode_nominal=True, return_type=arff.LOD_GEN if sparse else arff.DENSE_GEN
        )
        feature_idx, label_idx = _columns(decoded, **columns)
        pack = _pack_sparse if sparse else _pack_dense
        data, labels = pack(decoded["data"], len(decoded["attributes"]), feature_idx, label_idx)
    return decoded, feature_idx, label_idx, data, labels


def _read_arff(path, **columns):
    """Header, column split, features and raw labels of an ARFF file, streamed."""
    try:
        return _stream_arff(path, **columns)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError, arff.ArffException) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        # A truncated or corrupt file fails deep in gzip/bz2/zlib or the parser
        # (BadGzipFile and bz2's "Invalid data stream" are OSErrors); name the file.
        raise ValueError(f"Cannot read ARFF file {path}: {error!r}") from error
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


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
        If the labels cannot be located, are named twice, leave no feature, are
        missing or are not 0/1; or if the file is truncated or corrupt (the
        message names the file).

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
    decoded, feature_idx, label_idx, data, target = _read_arff(
        path,
        label_names=label_names,
        n_labels=n_labels,
        label_location=label_location,
        drop_features=drop_features,
    )
    attributes = decoded["attributes"]
    names = [name for name, _ in attributes]
    for j, i in enumerate(label_idx):
        codes = _label_codes(names[i], attributes[i][1])
        if codes is not None:  # a nominal label: map the value's index to its 0/1
            target[:, j] = codes[target[:, j]]
    # min/max rather than np.isin, which sorts a copy of the whole target.
    if target.size and (target.min() < 0 or target.max() > 1):
        raise ValueError(f"{path}: label values other than 0/1 found.")

    return Bunch(
        data=data,
        target=target,
        feature_names=[names[i] for i in feature_idx],
        target_names=[_unescape(names[i]) for i in label_idx],
        relation=decoded["relation"],
    )
