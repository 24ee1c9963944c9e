"""Text features: sentence embeddings as a transformer, and stacked text views."""

from ._embedder import SentenceEmbedder, check_texts
from ._model import PACKAGED_MODEL, packaged_model_path, resolve_model
from ._views import make_text_views

__all__ = [
    "PACKAGED_MODEL",
    "SentenceEmbedder",
    "check_texts",
    "make_text_views",
    "packaged_model_path",
    "resolve_model",
]
