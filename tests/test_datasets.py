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
    with pytest.raises(ValueError, match="subset must be one of"):
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
