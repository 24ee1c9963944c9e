"""Tests for sklearn_losses.text: the sentence embedder and stacked text views."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline

from sklearn_losses import HybridLossMultiLabelClassifier
from sklearn_losses.text import SentenceEmbedder, make_text_views, packaged_model_path

TEXTS = [
    "Thank you so much, this made my day!",
    "I can't believe how rude that was.",
    "Wow, I did not expect that at all.",
    "This is the saddest thing I've read all week.",
    "ok",
]


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("sentence_transformers")
    return SentenceEmbedder(device="cpu").fit(TEXTS)


def test_embeddings_are_float32_rows_and_deterministic(embedder):
    first = embedder.transform(TEXTS)
    assert first.shape == (len(TEXTS), 384) and first.dtype == np.float32
    assert embedder.n_features_out_ == 384 and embedder.device_ == "cpu"
    np.testing.assert_array_equal(embedder.transform(TEXTS), first)
    # A text's embedding does not depend on its neighbours.
    np.testing.assert_allclose(embedder.transform(TEXTS[1:3]), first[1:3], atol=1e-5)
    # Different texts, different vectors; similar meanings are closer.
    unit = first / np.linalg.norm(first, axis=1, keepdims=True)
    similar = embedder.transform(["Thanks a lot, I really appreciate it!"])[0]
    similar /= np.linalg.norm(similar)
    assert np.argmax(unit @ similar) == 0


def test_batched_equals_unbatched(embedder):
    batched = embedder.transform(TEXTS)
    one_by_one = clone(embedder).set_params(batch_size=1).fit(TEXTS).transform(TEXTS)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)


def test_normalize_embeddings_gives_unit_rows(embedder):
    normalized = clone(embedder).set_params(normalize_embeddings=True).fit(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(normalized.transform(TEXTS), axis=1), 1, atol=1e-5)


def test_accepts_tuple_array_and_series(embedder):
    pd = pytest.importorskip("pandas")
    expected = embedder.transform(TEXTS)
    for X in (tuple(TEXTS), np.array(TEXTS, dtype=object), pd.Series(TEXTS)):
        np.testing.assert_allclose(embedder.transform(X), expected, atol=1e-6)


@pytest.mark.parametrize(
    "X, match",
    [
        ("a single text", "single string"),
        (np.array([["a"], ["b"]]), r"shape \(2, 1\)"),
        (["fine", None], "item 1 is NoneType"),
        (["fine", 3.0], "item 1 is float"),
        ([], "empty"),
        (7, "got int"),
    ],
)
def test_bad_input_is_a_clear_error(embedder, X, match):
    with pytest.raises(ValueError, match=match):
        embedder.transform(X)
    with pytest.raises(ValueError, match=match):
        clone(embedder).fit(X)


def test_bad_parameters_are_rejected():
    pytest.importorskip("sentence_transformers")
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEmbedder(batch_size=0).fit(TEXTS)
    with pytest.raises(ValueError, match="device"):
        SentenceEmbedder(device="gpu").fit(TEXTS)


def test_missing_text_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'sklearn-losses\[text\]'"):
        SentenceEmbedder().fit(TEXTS)


def test_transform_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SentenceEmbedder().transform(TEXTS)


def test_packaged_model_resolves_offline(embedder):
    folder = packaged_model_path()
    assert embedder.model_path_ == str(folder)
    for name in ("sentence-transformers/all-MiniLM-L6-v2", str(folder)):
        assert SentenceEmbedder(model=name, device="cpu").fit(TEXTS).model_path_ == str(folder)


def test_pickle_is_small_and_reloads_the_model(embedder):
    expected = embedder.transform(TEXTS)
    blob = pickle.dumps(embedder)
    assert len(blob) < 10_000  # the 90 MB of weights are not in it
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.transform(TEXTS), expected)
    assert clone(embedder).get_params() == embedder.get_params()


def test_feature_names_and_pandas_output(embedder):
    names = embedder.get_feature_names_out()
    assert names[0] == "sentenceembedder0" and len(names) == 384
    frame = clone(embedder).set_output(transform="pandas").fit_transform(TEXTS)
    assert list(frame.columns) == list(names)


def test_make_text_views_sizes_match_the_output(embedder):
    views, sizes = make_text_views([embedder], n_components=3, random_state=0)
    assert sizes == [3, 3, 384]
    assert views.fit_transform(TEXTS * 2).shape == (10, sum(sizes))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tfidf=("words",)), "distinct views"),
        (dict(tfidf=("word", "word")), "distinct views"),
        (dict(tfidf=()), "No views"),
    ],
)
def test_make_text_views_rejects_bad_views(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_text_views(**kwargs)


def test_stacked_view_hybrid_beats_a_trivial_baseline(shared_data, embedder):
    """One Pipeline from raw GoEmotions comments: TF-IDF word + char views and
    MiniLM embeddings feed the hybrid classifier's Bi-LSTM."""
    from sklearn_losses.datasets import load_goemotions

    train = load_goemotions(subset="train", data_home=shared_data)
    test = load_goemotions(subset="test", data_home=shared_data)
    labels = [train.target_names.index(n) for n in ("admiration", "gratitude", "love")]

    def subset(bunch, n):
        keep = np.flatnonzero(bunch.target[:, labels].any(axis=1))[:n]
        return [bunch.data[i] for i in keep], bunch.target[np.ix_(keep, labels)]

    X_train, Y_train = subset(train, 300)
    X_test, Y_test = subset(test, 100)
    views, sizes = make_text_views([embedder], n_components=16, random_state=0)
    hybrid = HybridLossMultiLabelClassifier(
        module="bilstm", view_sizes=sizes, hidden_layer_sizes=(32,), batch_size=64,
        max_epochs=30, random_state=0,
    )
    model = make_pipeline(views, hybrid).fit(X_train, Y_train)
    dummy = DummyClassifier(strategy="stratified", random_state=0).fit(X_train, Y_train)
    ours = f1_score(Y_test, model.predict(X_test), average="macro")
    baseline = f1_score(Y_test, dummy.predict(X_test), average="macro")
    assert ours > baseline + 0.2, (ours, baseline)  # measured: 0.79 against 0.45


def test_scikit_learn_checks_and_parameter_validation():
    """scikit-learn's common checks feed 2-D numeric arrays, which a text
    transformer does not take (scikit-learn skips its own vectorizers the same
    way): the one check that applies is cloning. Parameter validation runs
    before the input is read, so scikit-learn's check of it applies as is."""
    from sklearn.utils.estimator_checks import check_estimator, check_param_validation

    embedder = SentenceEmbedder(device="cpu")
    with pytest.warns(UserWarning, match="Can't test estimator SentenceEmbedder"):
        check_estimator(embedder)
    check_param_validation("SentenceEmbedder", embedder)
