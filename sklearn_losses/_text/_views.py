"""Several views of the same texts, stacked side by side for the hybrid
classifier's Bi-LSTM (``module="bilstm"``, ``view_sizes``)."""

from sklearn.base import clone
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["make_text_views"]


def make_text_views(embedders=(), *, n_components=384, tfidf=("word", "char"), random_state=None):
    """Build stacked text views and return them with their widths.

    Each view maps raw texts to a dense block of columns: TF-IDF over word
    1-2-grams or character 2-5-grams (``char_wb``), reduced by
    :class:`~sklearn.decomposition.TruncatedSVD` to ``n_components`` columns,
    and the embeddings of each sentence embedder. Every block is standardised so
    that no view dominates by its scale. The views are concatenated by a
    :class:`~sklearn.pipeline.FeatureUnion` in the order of ``view_sizes``, ready
    for ``HybridLossMultiLabelClassifier(module="bilstm", view_sizes=view_sizes)``,
    which reads each block as one step of its Bi-LSTM.

    Parameters
    ----------
    embedders : sequence of transformers, default=()
        Sentence embedders (e.g. :class:`SentenceEmbedder`), one view each,
        after the TF-IDF views. Each is cloned; the widths are read by fitting
        a clone on one text, which loads its model.
    n_components : int, default=384
        Width of each TF-IDF view after SVD; 384 matches all-MiniLM-L6-v2.
        Must be smaller than the TF-IDF vocabulary of the training texts.
    tfidf : sequence of {"word", "char"}, default=("word", "char")
        Which TF-IDF views to build, in order; empty for embeddings only.
    random_state : int, RandomState instance or None, default=None
        Seeds the SVDs.

    Returns
    -------
    views : sklearn.pipeline.FeatureUnion
        Unfitted union named ``"word"``, ``"char"``, ``"embedding0"``, ...
    view_sizes : list of int
        Width of each view, in column order.

    See Also
    --------
    SentenceEmbedder : Sentence embeddings as a scikit-learn transformer.

    Examples
    --------
    >>> from sklearn_losses.text import SentenceEmbedder, make_text_views
    >>> views, sizes = make_text_views([SentenceEmbedder(device="cpu")], n_components=8,
    ...                                random_state=0)
    >>> sizes
    [8, 8, 384]
    >>> texts = [f"text number {i} is {'good' if i % 2 else 'bad'}" for i in range(20)]
    >>> views.fit_transform(texts).shape
    (20, 400)
    """
    analyzers = {"word": ("word", (1, 2)), "char": ("char_wb", (2, 5))}
    unknown = [name for name in tfidf if name not in analyzers]
    if unknown or len(set(tfidf)) != len(tfidf):
        raise ValueError(
            f"tfidf={tuple(tfidf)!r} must list distinct views among {tuple(analyzers)}."
        )
    if not tfidf and not embedders:
        raise ValueError("No views: pass at least one embedder or one tfidf view.")
    parts, sizes = [], []
    for name in tfidf:
        analyzer, ngram_range = analyzers[name]
        vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range,
                                     sublinear_tf=True, min_df=2)
        svd = TruncatedSVD(n_components, random_state=random_state)
        parts.append((name, make_pipeline(vectorizer, svd, StandardScaler())))
        sizes.append(int(n_components))
    for i, embedder in enumerate(embedders):
        width = clone(embedder).fit(["width"]).n_features_out_
        parts.append((f"embedding{i}", make_pipeline(clone(embedder), StandardScaler())))
        sizes.append(int(width))
    return FeatureUnion(parts), sizes
