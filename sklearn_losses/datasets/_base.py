"""Where the file-based loaders look, and how they open files."""

import bz2
import gzip
import os
from pathlib import Path

_ENV_VAR = "SKLEARN_LOSSES_DATA"


def get_data_home(data_home=None):
    """Return the folder the file-based loaders read from.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to use. When None, the environment variable
        ``SKLEARN_LOSSES_DATA`` is used, else ``~/sklearn_losses_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder (it is not created and may not exist).

    Examples
    --------
    >>> from sklearn_losses.datasets import get_data_home
    >>> str(get_data_home("/tmp/my_data"))
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(_ENV_VAR, Path("~") / "sklearn_losses_data")
    return Path(data_home).expanduser()


def _require_file(path, data_home, hint=""):
    """Return ``path``, or raise a FileNotFoundError saying where to put it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"Dataset file {path} not found (looked in data_home={data_home}). Pass "
            f"data_home=... or set the {_ENV_VAR} environment variable to the folder "
            f"that holds mulan/, meka/, goemotions/, ...{hint}"
        )
    return path


def _open_text(path, encoding="utf-8"):
    """Open a plain, ``.gz`` or ``.bz2`` file in text mode."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding)
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding=encoding)
    return open(path, encoding=encoding)
