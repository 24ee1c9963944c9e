"""scikit-learn transformer that embeds texts with a sentence-transformers model."""

import os

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._engine import (
    Integral,
    Interval,
    _fit_context,
    resolve_device,
    resolve_n_threads,
    torch_threads,
)
from ._model import PACKAGED_MODEL, load_model, resolve_model

__all__ = ["SentenceEmbedder", "check_texts"]


def check_texts(X):
    """Return ``X`` as a list of str, or raise a ValueError saying what is wrong.

    Parameters
    ----------
    X : sequence of str
        A list, tuple, 1-D array or pandas Series of texts.

    Returns
    -------
    texts : list of str
    """
    if isinstance(X, (str, bytes)):
        raise ValueError(
            "Expected a 1-D sequence of texts, got a single string; wrap it in a list: [text]."
        )
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(
            f"Expected a 1-D sequence of texts, got an array of shape {shape}. Pass one text "
            "column (e.g. df['text'], or the column name as a string in a ColumnTransformer)."
        )
    try:
        texts = list(X)
    except TypeError as error:
        raise ValueError(
            f"Expected a 1-D sequence of texts, got {type(X).__name__}."
        ) from error
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"Expected a 1-D sequence of texts, but item {i} is {type(text).__name__} "
                f"({text!r}); fill or drop missing texts first."
            )
    if not texts:
        raise ValueError("Found an empty sequence of texts; at least one text is required.")
    return texts


def _embedding_dimension(model):
    # sentence-transformers 6 renamed get_sentence_embedding_dimension (now deprecated).
    getter = getattr(model, "get_embedding_dimension", None)
    return int(getter() if getter else model.get_sentence_embedding_dimension())


class SentenceEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed texts with a sentence-transformers model, as a scikit-learn transformer.

    Each text becomes one dense vector (the model's pooled sentence embedding),
    computed in batches on ``device``. Nothing is learnt: ``fit`` loads the model
    and records its width, so the transformer can open a
    :class:`~sklearn.pipeline.Pipeline` or be one view of a
    :class:`~sklearn.pipeline.FeatureUnion`. The loaded model is not pickled;
    an unpickled or cloned transformer reloads it from ``model`` when first used.

    Needs the ``text`` extra: ``pip install 'sklearn-losses[text]'``.

    Parameters
    ----------
    model : str or path-like, default="all-MiniLM-L6-v2"
        A local model folder or a sentence-transformers model name. The
        default (also written ``"sentence-transformers/all-MiniLM-L6-v2"``)
        resolves to the offline copy of the ``text`` extra, see
        :func:`packaged_model_path`; other names are loaded by
        sentence-transformers (from its cache, or the hub when online).
    batch_size : int, default=64
        Texts per forward pass.
    normalize_embeddings : bool, default=False
        Scale each embedding to unit length.
    n_jobs : int, default=None
        CPU threads torch uses while embedding (restored after). None means 1,
        -1 all cores.
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available, as the estimators do.
    verbose : int, default=0
        1 shows a progress bar over the batches (and the model loading).

    Attributes
    ----------
    model_path_ : str
        Folder or name the model was loaded from.
    device_ : str
        Device the model runs on.
    n_features_out_ : int
        Embedding width.
    n_features_in_ : int
        Always 1: one text per row.

    See Also
    --------
    make_text_views : Several text views (TF-IDF and embeddings) and their widths.

    Examples
    --------
    >>> from sklearn_losses.text import SentenceEmbedder
    >>> embedder = SentenceEmbedder(device="cpu")
    >>> E = embedder.fit_transform(["I love this!", "This is awful."])
    >>> E.shape, E.dtype
    ((2, 384), dtype('float32'))
    """

    _parameter_constraints = {
        "model": [str, os.PathLike],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize_embeddings": ["boolean"],
        "n_jobs": [Integral, None],
        "device": [str],
        "verbose": ["verbose"],
    }

    def __init__(self, *, model=PACKAGED_MODEL, batch_size=64, normalize_embeddings=False,
                 n_jobs=None, device="auto", verbose=0):
        self.model = model
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.n_jobs = n_jobs
        self.device = device
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the model and record its embedding width; nothing is learnt.

        Parameters
        ----------
        X : sequence of str
            Texts (only checked).
        y : None
            Ignored.

        Returns
        -------
        self : SentenceEmbedder
            The loaded transformer.
        """
        check_texts(X)
        self.n_features_out_ = _embedding_dimension(self._load())
        self.n_features_in_ = 1
        return self

    @property
    def _n_features_out(self):
        # Read by ClassNamePrefixFeaturesOutMixin for get_feature_names_out.
        return self.n_features_out_

    def transform(self, X):
        """Embed texts.

        Parameters
        ----------
        X : sequence of str
            A list, tuple, 1-D array or pandas Series of texts.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, `n_features_out_`), dtype float32
            One row per text.
        """
        check_is_fitted(self, "n_features_out_")
        texts = check_texts(X)
        with torch_threads(resolve_n_threads(self.n_jobs)):
            embeddings = self._loaded_model().encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize_embeddings,
                convert_to_numpy=True,
                show_progress_bar=bool(self.verbose),
            )
        return np.asarray(embeddings, dtype=np.float32)

    def _load(self):
        self.model_path_ = resolve_model(self.model)
        self.device_ = resolve_device(self.device)
        self._model = load_model(self.model_path_, self.device_, self.verbose)
        return self._model

    def _loaded_model(self):
        if getattr(self, "_model", None) is None:
            # Unpickled, maybe on another machine: resolve the model and the
            # device again (a packaged copy moves with its site-packages).
            return self._load()
        return self._model

    def __getstate__(self):
        # The weights are read back from `model_path_`, so a pickle stays small.
        state = super().__getstate__()
        state.pop("_model", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags
