"""Tests of the weights-only persistence path, ``sklearn_losses.persistence``."""

import io

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from test_common import _small_estimators

from sklearn_losses import (
    ConformalLabelPowersetClassifier,
    HybridLossMultiLabelClassifier,
    IHOMERClassifier,
)
from sklearn_losses.networks import MLPNetwork
from sklearn_losses.persistence import load, save

TORCH_ESTIMATORS = _small_estimators()[:3]


def _ids(estimator):
    return type(estimator).__name__


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(
        n_samples=120, n_features=6, n_classes=4, n_labels=2, random_state=0
    )
    return X, Y


def _round_trip(estimator, **load_kwargs):
    buffer = io.BytesIO()
    save(estimator, buffer)
    buffer.seek(0)
    return load(buffer, **load_kwargs)


@pytest.mark.parametrize(
    "target", ["indicator", "frame", "binary", "classes"], ids=str
)
@pytest.mark.parametrize("estimator", TORCH_ESTIMATORS, ids=_ids)
def test_round_trip_predicts_identically(estimator, target, data):
    X, Y = data
    y = {
        "indicator": Y,
        "frame": pd.DataFrame(Y, columns=["w", "x", "y", "z"]),
        "binary": Y[:, 0],
        "classes": np.array(["a", "b", "c", "d"])[Y.argmax(axis=1)],
    }[target]
    fitted = clone(estimator).set_params(max_epochs=3).fit(X, y)
    restored = _round_trip(fitted)
    assert type(restored) is type(fitted)
    assert restored.get_params() == fitted.get_params()
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.label_names_, fitted.label_names_)
    assert len(restored.history_) == len(fitted.history_)
    if hasattr(fitted, "sample_weights_"):
        np.testing.assert_array_equal(restored.sample_weights_, fitted.sample_weights_)
        pd.testing.assert_frame_equal(restored.label_issues_, fitted.label_issues_)
        assert restored.rescaler_ is restored.net_.rescaler_


def test_file_is_read_weights_only(tmp_path, data, monkeypatch):
    X, Y = data
    fitted = HybridLossMultiLabelClassifier(max_epochs=2, random_state=0).fit(X, Y)
    path = tmp_path / "model.pt"
    save(fitted, path)
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load(path)
    assert calls == [True]
    # The payload itself is plain: torch's own weights-only reader accepts it.
    payload = original(path, weights_only=True)
    assert payload["class"] == "sklearn_losses.HybridLossMultiLabelClassifier"


class _RunsCode:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _RunsCode.ran = True
    return {}


def test_a_pickle_payload_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": _RunsCode()}, path)
    with pytest.raises(ValueError, match="not a weights-only"):
        load(path)
    assert not _RunsCode.ran


@pytest.mark.parametrize(
    "class_path",
    ["sklearn.linear_model.LogisticRegression", "os.system", "sklearn_losses.IHOMERClassifier"],
)
def test_a_class_outside_the_allow_list_is_refused(tmp_path, class_path):
    path = tmp_path / "other.pt"
    torch.save({"format": 1, "class": class_path, "params": {}, "attributes": {},
                "network": {}}, path)
    with pytest.raises(ValueError, match="rebuilds only"):
        load(path)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"callbacks": [("noop", object())]}, "Parameter 'callbacks'"),
        ({"module": MLPNetwork(6, 4), "contrastive_weight": 0.0}, "Parameter 'module'"),
        ({"meta_learner": MultiOutputClassifier(LogisticRegression())},
         "Parameter 'meta_learner'"),
    ],
)
def test_parameters_that_need_code_are_refused(params, match, data):
    X, Y = data
    fitted = HybridLossMultiLabelClassifier(max_epochs=1, random_state=0, **params)
    if "callbacks" in params:
        fitted.set_params(callbacks=None).fit(X, Y).set_params(**params)
    else:
        fitted.fit(X, Y)
    with pytest.raises(ValueError, match=match + ".*pickle"):
        save(fitted, io.BytesIO())


@pytest.mark.parametrize(
    "estimator",
    [IHOMERClassifier(random_state=0), _small_estimators()[-1]],
    ids=_ids,
)
def test_estimators_without_torch_weights_name_the_alternative(estimator, data):
    X, Y = data
    with pytest.raises(ValueError, match="skops"):
        save(clone(estimator).fit(X, Y), io.BytesIO())
    assert isinstance(_small_estimators()[-1], ConformalLabelPowersetClassifier)


def test_unfitted_estimators_and_foreign_objects_are_refused():
    with pytest.raises(ValueError, match="not fitted"):
        save(HybridLossMultiLabelClassifier(), io.BytesIO())
    with pytest.raises(ValueError, match="estimators of sklearn_losses only"):
        save(torch.nn.Linear(2, 2), io.BytesIO())


def test_a_loaded_estimator_refits_afresh_but_does_not_continue(data):
    X, Y = data
    fitted = HybridLossMultiLabelClassifier(max_epochs=2, random_state=0).fit(X, Y)
    restored = _round_trip(fitted)
    restored.set_params(warm_start=True)
    with pytest.raises(ValueError, match="warm_start=False"):
        restored.fit(X, Y)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    restored.set_params(warm_start=False).fit(X, Y)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_round_trip_after_a_sparse_label_fit(data):
    import scipy.sparse as sp

    X, Y = data
    fitted = clone(TORCH_ESTIMATORS[2]).set_params(weight_granularity="sample")
    fitted.fit(X, sp.csr_matrix(Y))
    restored = _round_trip(fitted)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    pd.testing.assert_frame_equal(restored.label_issues_, fitted.label_issues_)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_a_model_saved_for_cuda_loads_on_the_cpu_with_a_warning(data):
    X, Y = data
    fitted = HybridLossMultiLabelClassifier(max_epochs=1, random_state=0).fit(X, Y)
    fitted.set_params(device="cuda")  # as if it had been trained on a GPU
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        restored = _round_trip(fitted)
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert _round_trip(fitted, device="cpu").get_params()["device"] == "cpu"
    # A device asked for at load time must exist: no silent fallback.
    for device in ["cuda", "tpu", "CPU"]:
        with pytest.raises(ValueError, match=f"device={device!r}"):
            _round_trip(fitted, device=device)


def test_a_torch_device_parameter_round_trips(data):
    X, Y = data
    fitted = HybridLossMultiLabelClassifier(max_epochs=1, device=torch.device("cpu"),
                                            random_state=0).fit(X, Y)
    restored = _round_trip(fitted)
    assert restored.get_params()["device"] == torch.device("cpu")
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
