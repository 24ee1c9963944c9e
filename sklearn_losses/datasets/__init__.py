"""Loaders for the multi-label and text datasets used by the examples and benchmarks.

`load_yeast` reads the copy of Yeast bundled with river, so it needs no download.
The other loaders read files from a data folder (``data_home``): the Mulan and MEKA
ARFF files, GoEmotions, TREC, SST-2 and AG News, laid out as ``mulan/<name>/``,
``meka/``, ``goemotions/``, ``trec/``, ``sst2/`` and ``ag_news/``. ``data_home``
defaults to the environment variable ``SKLEARN_LOSSES_DATA``, else
``~/sklearn_losses_data``. `fetch_multilabel_dataset` downloads a Mulan or MEKA
set into that folder when its files are missing.

One private module per source: ``_bundled`` (river's Yeast), ``_arff`` (the ARFF
reader), ``_mulan`` (the named Mulan/MEKA sets), ``_text`` (text sets).
"""

from ._arff import load_arff
from ._base import get_data_home
from ._bundled import load_yeast
from ._mulan import fetch_multilabel_dataset, list_multilabel_datasets, load_multilabel_dataset
from ._text import load_goemotions, load_text_classification

__all__ = [
    "fetch_multilabel_dataset",
    "get_data_home",
    "list_multilabel_datasets",
    "load_arff",
    "load_goemotions",
    "load_multilabel_dataset",
    "load_text_classification",
    "load_yeast",
]
