import bz2
import gzip
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sklearn_losses.datasets import (
    get_data_home,
    list_multilabel_datasets,
    load_arff,
    load_goemotions,
    load_multilabel_dataset,
    load_text_classification,
    load_yeast,
)

# --------------------------------------------------------------------- load_yeast


def test_load_yeast_arrays():
    bunch = load_yeast()
    assert bunch.data.shape == (2417, 103)
    assert bunch.data.dtype == np.float64
    assert bunch.target.shape == (2417, 14)
    assert set(np.unique(bunch.target)) == {0, 1}
    assert bunch.feature_names[0] == "Att1" and len(bunch.feature_names) == 103
    assert bunch.target_names == [f"Class{i}" for i in range(1, 15)]
    assert bunch.frame is None
    assert "Yeast" in bunch.DESCR
    assert bunch.target.sum(axis=1).mean() == pytest.approx(4.237, abs=1e-3)


def test_load_yeast_as_frame_and_return_X_y():
    bunch = load_yeast(as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (2417, 103)
    assert isinstance(bunch.target, pd.DataFrame) and bunch.target.shape == (2417, 14)
    assert bunch.frame.shape == (2417, 117)
    assert list(bunch.target.columns) == bunch.target_names
    X, Y = load_yeast(return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data.to_numpy())
    np.testing.assert_array_equal(Y, bunch.target.to_numpy())


# -------------------------------------------------------- shared Mulan/MEKA files

# name: (n_all, n_train, n_test, n_features, n_labels, cardinality); None = no split.
# Shapes from ../shared/data/README.md (ohsumed measured: not in the README table).
EXPECTED = {
    "emotions": (593, 391, 202, 72, 6, 1.868),
    "yeast": (2417, 1500, 917, 103, 14, 4.237),
    "scene": (2407, 1211, 1196, 294, 6, 1.074),
    "enron": (1702, 1123, 579, 1001, 53, 3.378),
    "genbase": (662, 463, 199, 1185, 27, 1.252),
    "cal500": (502, None, None, 68, 174, 26.044),
    "corel5k": (5000, 4500, 500, 499, 374, 3.522),
    "bibtex": (7395, 4880, 2515, 1836, 159, 2.402),
    "delicious": (16105, 12920, 3185, 500, 983, 19.02),
    "tmc2007-500": (28596, 21519, 7077, 500, 22, 2.158),
    "flags": (194, 129, 65, 19, 7, 3.392),
    "20ng": (19300, 12933, 6367, 1006, 20, 1.029),
    "ohsumed": (13929, 9301, 4628, 1002, 23, 1.663),
    "reuters-k500": (6000, 4014, 1986, 500, 103, 1.462),
    "slashdot": (3782, None, None, 3125, 20, 1.181),
    "meka/music": (592, None, None, 71, 6, 1.87),
    "meka/enron": (1702, None, None, 1001, 53, 3.378),
    "meka/scene": (2407, None, None, 294, 6, 1.074),
    "meka/yeast": (2417, 1500, 917, 103, 14, 4.237),
    "meka/imdb": (120919, None, None, 1001, 28, 2.0),
}
SPARSE = {"enron", "corel5k", "bibtex", "delicious", "tmc2007-500", "20ng", "ohsumed",
          "reuters-k500", "slashdot", "meka/enron", "meka/imdb"}
# More than a few seconds per dataset (all three subsets) on a loaded 2-core CPU.
SLOW = {"delicious", "tmc2007-500", "20ng", "ohsumed", "bibtex", "meka/imdb"}


def _params(names):
    return [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names
    ]


@pytest.mark.parametrize("name", _params(EXPECTED))
def test_shared_dataset_shapes(name, shared_data):
    n_all, n_train, n_test, n_features, n_labels, cardinality = EXPECTED[name]
    subsets = {"all": n_all, "train": n_train, "test": n_test}
    for subset, n_samples in subsets.items():
        if n_samples is None:
            continue
        start = time.perf_counter()
        bunch = load_multilabel_dataset(name, subset=subset, data_home=shared_data)
        elapsed = time.perf_counter() - start
        print(f"{name} {subset}: {elapsed:.2f}s")
        assert bunch.data.shape == (n_samples, n_features), subset
        assert bunch.target.shape == (n_samples, n_labels), subset
        assert bunch.target.dtype == np.int64
        assert set(np.unique(bunch.target)) <= {0, 1}
        assert sp.issparse(bunch.data) == (name in SPARSE)
        assert bunch.data.dtype == np.float64
        assert len(bunch.feature_names) == n_features
        assert len(bunch.target_names) == n_labels
        if subset == "all":
            mean = bunch.target.sum(axis=1).mean()
            assert mean == pytest.approx(cardinality, abs=2e-3)


def test_meka_without_split_rejects_train(shared_data):
    with pytest.raises(ValueError, match="no train/test split"):
        load_multilabel_dataset("meka/music", subset="train", data_home=shared_data)


def test_mulan_without_split_rejects_train(shared_data):
    with pytest.raises(ValueError, match="has no 'train' file"):
        load_multilabel_dataset("cal500", subset="train", data_home=shared_data)


def test_names_are_case_insensitive(shared_data):
    bunch = load_multilabel_dataset("Meka/Music", data_home=shared_data)
    assert bunch.target.shape == (592, 6)


def test_yeast_mulan_equals_river(shared_data):
    river = load_yeast()
    mulan = load_multilabel_dataset("yeast", data_home=shared_data)
    np.testing.assert_array_equal(mulan.data, river.data)
    np.testing.assert_array_equal(mulan.target, river.target)
    assert mulan.target_names == river.target_names


def test_list_multilabel_datasets(shared_data):
    names = list_multilabel_datasets(shared_data)
    assert set(names) == set(EXPECTED)


def test_env_var_sets_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SKLEARN_LOSSES_DATA", str(tmp_path))
    assert get_data_home() == tmp_path
    monkeypatch.delenv("SKLEARN_LOSSES_DATA")
    assert get_data_home().name == "sklearn_losses_data"


# ------------------------------------------------------------ hand-written ARFF

LABELS_LAST = """% a comment
@relation toy
@attribute f1 numeric
@attribute 'f 2' {a,b,c}
@attribute "it\\'s" {0,1}
@attribute L2 {0,1}
@data
0.5,b,1,0
1.5,a,0,1
-2,c,1,1
"""

LABELS_FIRST = """@relation toy
@attribute "it\\'s" {0,1}
@attribute L2 {0,1}
@attribute f1 numeric
@attribute 'f 2' {a,b,c}
@data
1,0,0.5,b
0,1,1.5,a
1,1,-2,c
"""

SPARSE_LAST = """@relation toy
@attribute f1 numeric
@attribute 'f 2' {a,b,c}
@attribute "it\\'s" {0,1}
@attribute L2 {0,1}
@data
{0 0.5,1 b,2 1}
{0 1.5,3 1}
{0 -2,1 c,2 1,3 1}
"""

XML = """<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="L2"></label>
<label name="it's"></label>
</labels>
"""


def _write(path, text):
    path.write_text(text)
    return path


def test_labels_located_by_name_first_or_last(tmp_path):
    xml = _write(tmp_path / "toy.xml", XML)
    last = load_arff(_write(tmp_path / "last.arff", LABELS_LAST), label_names=xml)
    first = load_arff(_write(tmp_path / "first.arff", LABELS_FIRST), label_names=xml)
    np.testing.assert_array_equal(last.target, [[1, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(first.target, last.target)
    np.testing.assert_array_equal(first.data, last.data)
    # nominal features are encoded as the index of their value
    np.testing.assert_array_equal(last.data, [[0.5, 1], [1.5, 0], [-2, 2]])
    assert last.target_names == first.target_names == ["it's", "L2"]
    assert last.feature_names == ["f1", "f 2"]


def test_sparse_equals_dense(tmp_path):
    dense = load_arff(_write(tmp_path / "d.arff", LABELS_LAST), label_names=["L2", "it's"])
    sparse = load_arff(_write(tmp_path / "s.arff", SPARSE_LAST), label_names=["L2", "it's"])
    assert sp.issparse(sparse.data) and sparse.data.format == "csr"
    assert isinstance(sparse.target, np.ndarray)
    np.testing.assert_array_equal(sparse.data.toarray(), dense.data)
    np.testing.assert_array_equal(sparse.target, dense.target)


@pytest.mark.parametrize("opener,suffix", [(gzip.open, ".gz"), (bz2.open, ".bz2")])
def test_compressed_files(tmp_path, opener, suffix):
    path = tmp_path / f"toy.arff{suffix}"
    with opener(path, "wt") as f:
        f.write(LABELS_LAST)
    bunch = load_arff(path, n_labels=2)
    np.testing.assert_array_equal(bunch.target, [[1, 0], [0, 1], [1, 1]])


@pytest.mark.parametrize("c_option,expected_features", [("2", ["f1", "f 2"]),
                                                          ("-2", ["f1", "f 2"])])
def test_meka_c_option(tmp_path, c_option, expected_features):
    text = LABELS_FIRST if c_option == "2" else LABELS_LAST
    text = text.replace("@relation toy", f"@relation 'toy: -C {c_option}'")
    bunch = load_arff(_write(tmp_path / "m.arff", text))
    assert bunch.feature_names == expected_features
    np.testing.assert_array_equal(bunch.target, [[1, 0], [0, 1], [1, 1]])


def test_drop_features(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    bunch = load_arff(path, n_labels=2, drop_features=["f 2"])
    assert bunch.feature_names == ["f1"]


# ----------------------------------------------------------------------- errors


def test_missing_label_names_are_named(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        load_arff(path, label_names=["L2", "nope"])


def test_wrong_label_count(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    with pytest.raises(ValueError, match="n_labels=3 but 2 label names"):
        load_arff(path, label_names=["L2", "it's"], n_labels=3)
    meka = _write(tmp_path / "m.arff", LABELS_LAST.replace("toy", "'toy: -C -2'"))
    with pytest.raises(ValueError, match="contradicts"):
        load_arff(meka, n_labels=3)
    with pytest.raises(ValueError, match="n_labels=9"):
        load_arff(path, n_labels=9)


def test_labels_not_located(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    with pytest.raises(ValueError, match="Cannot tell which attributes are labels"):
        load_arff(path)
    with pytest.raises(ValueError, match="label_location"):
        load_arff(path, n_labels=2, label_location="middle")


def test_non_binary_labels(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    with pytest.raises(ValueError, match="labels must be 0/1"):
        load_arff(path, label_names=["f 2"])


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_arff(tmp_path / "absent.arff")
    with pytest.raises(FileNotFoundError, match="SKLEARN_LOSSES_DATA"):
        load_multilabel_dataset("yeast", data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_goemotions(data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_text_classification("trec", data_home=tmp_path)


def test_unknown_names_and_subsets(tmp_path):
    with pytest.raises(ValueError, match="Valid names: .*'yeast'"):
        load_multilabel_dataset("yeest", data_home=tmp_path)
    with pytest.raises(ValueError, match="subset must be"):
        load_multilabel_dataset("yeast", subset="val", data_home=tmp_path)
    with pytest.raises(ValueError, match="Valid names: .*'trec'"):
        load_text_classification("imdb", data_home=tmp_path)
    with pytest.raises(ValueError, match=r"ag_news subset must be one of \['test'\], got 'train'"):
        load_text_classification("ag_news", subset="train", data_home=tmp_path)
    with pytest.raises(ValueError, match="subset must be one of"):
        load_goemotions(subset="validation", data_home=tmp_path)


# ------------------------------------------------------------------ text sets


def test_goemotions(shared_data):
    bunch = load_goemotions(subset="dev", data_home=shared_data)
    assert len(bunch.data) == 5426 and isinstance(bunch.data[0], str)
    assert bunch.target.shape == (5426, 28)
    assert bunch.target_names[0] == "admiration" and bunch.target_names[-1] == "neutral"
    assert len(set(bunch.ids)) == 5426
    assert bunch.target.sum(axis=1).mean() == pytest.approx(1.176, abs=1e-3)
    assert bunch.target.sum(axis=1).min() >= 1


@pytest.mark.parametrize(
    "name,subset,n_samples,n_classes",
    [("trec", "train", 5452, 6), ("trec", "test", 500, 6), ("sst2", "train", 6920, 2),
     ("sst2", "dev", 872, 2), ("sst2", "test", 1821, 2), ("ag_news", "test", 7600, 4)],
)
def test_text_classification(shared_data, name, subset, n_samples, n_classes):
    bunch = load_text_classification(name, subset=subset, data_home=shared_data)
    assert len(bunch.data) == len(bunch.target) == n_samples
    assert len(bunch.target_names) == n_classes
    assert set(np.unique(bunch.target)) == set(range(n_classes))
    assert all(isinstance(t, str) and t for t in bunch.data)


@pytest.mark.parametrize("name,n_samples", [("trec", 5452), ("sst2", 6920), ("ag_news", 7600)])
def test_default_text_subset_is_train_or_the_only_split(shared_data, name, n_samples):
    assert len(load_text_classification(name, data_home=shared_data).data) == n_samples


def test_default_text_subset_exists_for_every_set(tmp_path):
    # Without the files the default subset gets as far as reading them.
    for name in ("trec", "sst2", "ag_news"):
        with pytest.raises(FileNotFoundError, match=str(tmp_path)):
            load_text_classification(name, data_home=tmp_path)


# ------------------------------------------------------- malformed and corrupt files


def test_duplicated_label_name_in_xml_is_refused(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    xml = _write(tmp_path / "dup.xml", XML.replace('"it\'s"', '"L2"'))
    with pytest.raises(ValueError, match=r"\['L2'\] are listed more than once"):
        load_arff(path, label_names=xml)


def test_xml_naming_every_attribute_is_refused(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    with pytest.raises(ValueError, match="no feature is left"):
        load_arff(path, label_names=["f1", "f 2", "it's", "L2"])


@pytest.mark.parametrize("text", ["<labels><label name='a'>", "<labels></labels>"])
def test_malformed_xml_is_refused(tmp_path, text):
    path = _write(tmp_path / "d.arff", LABELS_LAST)
    xml = _write(tmp_path / "bad.xml", text)
    with pytest.raises(ValueError, match="bad.xml"):
        load_arff(path, label_names=xml)


def _truncated_gzip(path):
    with gzip.open(path, "wt") as f:
        f.write(LABELS_LAST * 50)
    path.write_bytes(path.read_bytes()[:-40])


def _not_compressed(path):
    path.write_bytes(b"this is not gzip data at all")


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
@pytest.mark.parametrize("damage", [_truncated_gzip, _not_compressed])
def test_corrupt_compressed_file_names_the_path(tmp_path, suffix, damage):
    path = tmp_path / f"broken.arff{suffix}"
    damage(path)
    with pytest.raises(ValueError, match="Cannot read ARFF file .*broken.arff"):
        load_arff(path, n_labels=2)


def test_truncated_row_names_the_path(tmp_path):
    path = _write(tmp_path / "cut.arff", LABELS_LAST[:-4])  # last row loses two values
    with pytest.raises(ValueError, match="cut.arff"):
        load_arff(path, n_labels=2)


def test_missing_label_value_is_refused(tmp_path):
    path = _write(tmp_path / "d.arff", LABELS_LAST.replace("1.5,a,0,1", "1.5,a,?,1"))
    with pytest.raises(ValueError, match=r"missing label values \('\?'\)"):
        load_arff(path, n_labels=2)


def test_sparse_rows_with_no_entries_are_kept(tmp_path):
    # An all-zero row is "{}"; the last one must still count as a row.
    path = _write(tmp_path / "s.arff", SPARSE_LAST + "{}\n{}\n")
    bunch = load_arff(path, n_labels=2)
    assert bunch.data.shape == (5, 2) and bunch.target.shape == (5, 2)
    np.testing.assert_array_equal(bunch.target[3:], 0)


# --------------------------------------------------------------------- streaming


def _dense_arff(n_rows, n_features):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, n_features)).round(6)
    Y = rng.integers(0, 2, size=(n_rows, 2))
    header = "@relation 'big: -C -2'\n" + "".join(
        f"@attribute x{i} numeric\n" for i in range(n_features)
    ) + "@attribute a {0,1}\n@attribute b {0,1}\n@data\n"
    rows = "\n".join(",".join([*map(repr, x.tolist()), *map(str, y)]) for x, y in zip(X, Y))
    return header + rows + "\n", X, Y


def test_rows_are_packed_in_chunks(tmp_path, monkeypatch):
    from sklearn_losses.datasets import _arff

    text, X, Y = _dense_arff(50, 3)
    path = _write(tmp_path / "big.arff", text)
    monkeypatch.setattr(_arff, "_CHUNK_VALUES", 7)  # 1 row a chunk, and a partial last one
    bunch = load_arff(path)
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, Y)


def test_loading_peak_memory_is_a_small_multiple_of_the_text(tmp_path, monkeypatch):
    import tracemalloc

    from sklearn_losses.datasets import _arff

    text, _, _ = _dense_arff(6000, 20)
    path = _write(tmp_path / "big.arff", text)
    # A small chunk, so that the file is many chunks long, as a large file is.
    monkeypatch.setattr(_arff, "_CHUNK_VALUES", 2000)
    tracemalloc.start()
    try:
        load_arff(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Holding the whole text and a list of Python floats (the loader before it
    # streamed) peaked at 6.2x the text here; streaming needs the arrays twice
    # (one concatenation) and one chunk: 1.9x.
    assert peak < 2.5 * len(text)


# ------------------------------------------------------------------- fetching


def test_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_multilabel_dataset("emotions", data_home=tmp_path)
    message = str(error.value)
    assert "fetch_multilabel_dataset('emotions'" in message
    assert "https://github.com/tsoumakas/mulan/tree/" in message


def test_plain_arff_files_are_read_too(tmp_path, shared_data):
    folder = tmp_path / "mulan" / "flags"
    folder.mkdir(parents=True)
    for name in ("flags.arff", "flags-train.arff", "flags-test.arff"):
        with gzip.open(shared_data / "mulan" / "flags" / f"{name}.gz", "rb") as f:
            (folder / name).write_bytes(f.read())
    (folder / "flags.xml").write_bytes((shared_data / "mulan/flags/flags.xml").read_bytes())
    assert list_multilabel_datasets(tmp_path) == ["flags"]
    assert load_multilabel_dataset("flags", data_home=tmp_path).data.shape == (194, 19)


def _offline(url, timeout=None):
    import urllib.error

    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_fetch_offline_names_the_source_and_the_folder(tmp_path, monkeypatch):
    from sklearn_losses.datasets import _mulan, fetch_multilabel_dataset

    monkeypatch.setattr(_mulan, "urlopen", _offline)
    with pytest.raises(ConnectionError) as error:
        fetch_multilabel_dataset("emotions", data_home=tmp_path)
    message = str(error.value)
    assert "https://github.com/tsoumakas/mulan/tree/" in message
    assert str(tmp_path / "mulan" / "emotions") in message
    assert "emotions.xml" in message and "SKLEARN_LOSSES_DATA" in message
    assert not list((tmp_path / "mulan" / "emotions").iterdir())  # no partial file left


def test_fetch_reads_present_files_without_the_network(shared_data, monkeypatch):
    from sklearn_losses.datasets import _mulan, fetch_multilabel_dataset

    monkeypatch.setattr(_mulan, "urlopen", _offline)
    X, Y = fetch_multilabel_dataset("flags", shared_data, subset="test", return_X_y=True)
    assert X.shape == (65, 19) and Y.shape == (65, 7)


def test_fetch_downloads_into_the_loader_layout(tmp_path, shared_data, monkeypatch):
    """Serve the shared files, uncompressed, at the source URLs; check what lands where."""
    import io

    from sklearn_losses.datasets import _mulan, fetch_multilabel_dataset

    requested = []

    def serve(url, timeout=None):
        requested.append(url)
        name = url.rsplit("/", 1)[-1]
        stored = shared_data / "mulan" / "genbase" / name
        if not stored.exists():
            stored = stored.with_name(name + ".gz")
            return io.BytesIO(gzip.decompress(stored.read_bytes()))
        return io.BytesIO(stored.read_bytes())

    monkeypatch.setattr(_mulan, "urlopen", serve)
    bunch = fetch_multilabel_dataset("genbase", data_home=tmp_path)
    expected = load_multilabel_dataset("genbase", data_home=shared_data)
    np.testing.assert_array_equal(bunch.data, expected.data)
    np.testing.assert_array_equal(bunch.target, expected.target)
    assert len(requested) == 4
    source = "https://raw.githubusercontent.com/tsoumakas/mulan/"
    assert all(url.startswith(source) for url in requested)
    assert sorted(p.name for p in (tmp_path / "mulan" / "genbase").iterdir()) == [
        "genbase-test.arff.gz", "genbase-train.arff.gz", "genbase.arff.gz", "genbase.xml"
    ]
    fetch_multilabel_dataset("genbase", data_home=tmp_path)
    assert len(requested) == 4  # present files are not downloaded again


def _online(host="raw.githubusercontent.com"):
    import socket

    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _online(), reason="needs network access to raw.githubusercontent.com")
def test_fetch_from_the_source_repository(tmp_path):
    from sklearn_losses.datasets import fetch_multilabel_dataset

    bunch = fetch_multilabel_dataset("flags", data_home=tmp_path)
    assert bunch.data.shape == (194, 19) and bunch.target.shape == (194, 7)
    assert (tmp_path / "mulan" / "flags" / "flags.arff.gz").is_file()
