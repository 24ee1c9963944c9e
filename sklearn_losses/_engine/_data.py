"""Training data held as tensors, batched by index, and the validation split.

Dense features are placed on the training device once and batches are
gathered there with an index tensor: no per-row Python objects, no DataLoader
worker, no host-device copy per batch. Sparse features and sparse targets stay
CSR matrices on the host and only the rows of a batch are densified.
"""

import numpy as np
import scipy.sparse as sp
import torch
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

__all__ = [
    "BatchIterator",
    "DeviceDataset",
    "StratifiedValidationSplit",
    "dense_rows",
    "stratification_targets",
]


def dense_rows(X, rows):
    """Rows ``rows`` of a dense array or CSR matrix, as float32 ndarray.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Features.
    rows : ndarray of int
        Row indices.

    Returns
    -------
    block : ndarray of shape (len(rows), n_features), dtype float32
    """
    # Indexing by row numbers copies, so the block is writable even when X
    # is read-only (as torch needs to share it).
    block = X[rows]
    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


class DeviceDataset(torch.utils.data.Dataset):
    """Features, targets and sample weights of a fit, as tensors on ``device``.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Features; dense ones are copied to ``device`` once.
    Y : ndarray or CSR matrix of shape (n_samples, n_outputs)
        Training targets; dense ones are copied to ``device`` once, sparse
        ones stay on the host and are densified one batch at a time.
    sample_weight : ndarray of shape (n_samples,)
        Per-sample weights.
    device : str
        Training device.

    Attributes
    ----------
    Y : Tensor or None
        Dense targets on ``device``; None when they are kept sparse.
    Y_host : ndarray or CSR matrix
        ``Y`` on the host, for stratified splitting and per-label summaries.
    """

    def __init__(self, X, Y, sample_weight, device):
        self.device = device
        self.sparse = sp.issparse(X)
        self.X = X.tocsr() if self.sparse else _to_device(X, device)
        if sp.issparse(Y):
            self.Y_host, self.Y = sp.csr_matrix(Y, dtype=np.float32), None
        else:
            self.Y_host = np.asarray(Y, dtype=np.float32)
            self.Y = _to_device(self.Y_host, device)
        self.w = _to_device(np.asarray(sample_weight, dtype=np.float32), device)
        self.row_ids = torch.arange(self.Y_host.shape[0], device=device)

    @property
    def sparse_targets(self):
        """Whether the targets are kept as a sparse matrix on the host."""
        return self.Y is None

    @property
    def index_device(self):
        """Where batch indices should live: the host when sparse rows are
        picked there, else the training device (gathered there)."""
        return "cpu" if self.sparse or self.sparse_targets else self.device

    def __len__(self):
        return self.row_ids.shape[0]

    def __getitem__(self, i):
        # Only for tools that index a dataset row by row; training never does.
        return self.take(torch.as_tensor([i], device=self.index_device))

    def take(self, index):
        """One batch: ``(X, {"y": Y, "w": w, "idx": rows})`` on the device.

        Parameters
        ----------
        index : LongTensor of shape (batch,)
            Row indices, on :attr:`index_device`.

        Returns
        -------
        batch : tuple
            Features and a dict of targets, weights and the rows' indices in
            the data given to ``fit`` (a validation split keeps them).
        """
        rows = None
        if self.index_device == "cpu":
            # Sparse rows are picked on the host, where the index lives, so
            # reading it needs no synchronisation with the device.
            rows = index.cpu().numpy()
            index = index.to(self.device, non_blocking=True)
        X = self._host_rows(self.X, rows) if self.sparse else self.X[index]
        Y = self._host_rows(self.Y_host, rows) if self.sparse_targets else self.Y[index]
        return X, {"y": Y, "w": self.w[index], "idx": self.row_ids[index]}

    def _host_rows(self, matrix, rows):
        """Rows of a host CSR matrix, densified and copied to the device."""
        block = torch.from_numpy(dense_rows(matrix, rows))
        # Pinned host memory makes the copy asynchronous; only CUDA has it.
        if str(self.device).startswith("cuda"):
            block = block.pin_memory()
        return block.to(self.device, non_blocking=True)

    def subset(self, rows):
        """A dataset of the rows ``rows`` (ndarray of int), on the same device."""
        index = torch.as_tensor(rows, device=self.device)
        part = DeviceDataset.__new__(DeviceDataset)
        part.device, part.sparse = self.device, self.sparse
        part.X = self.X[rows] if self.sparse else self.X[index]
        part.Y_host = self.Y_host[rows]
        part.Y = None if self.sparse_targets else self.Y[index]
        part.w, part.row_ids = self.w[index], self.row_ids[index]
        return part


def _to_device(array, device):
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        # A read-only buffer (joblib's memmaps) must not back a tensor: torch
        # calls writing to it undefined and warns. The copy is what CUDA makes anyway.
        return torch.tensor(array, device=device)
    return torch.from_numpy(array).to(device)


class BatchIterator:
    """Iterates over a :class:`DeviceDataset` in batches drawn by index.

    Parameters
    ----------
    dataset : DeviceDataset
        The data.
    batch_size : int
        Rows per batch (capped at the data size).
    shuffle : bool, default=False
        Draw a new permutation every epoch from ``generator``.
    drop_last : bool, default=False
        Skip a last batch smaller than ``batch_size`` (when there is more than
        one batch).
    generator : torch.Generator, default=None
        CPU generator of the permutations, so shuffling never touches torch's
        global RNG.
    """

    def __init__(self, dataset, batch_size, *, shuffle=False, drop_last=False, generator=None):
        self.dataset = dataset
        self.batch_size = min(batch_size, len(dataset))
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self):
        n, size = len(self.dataset), self.batch_size
        return n // size if self.drop_last else -(-n // size)

    def __iter__(self):
        n = len(self.dataset)
        device = self.dataset.index_device
        if self.shuffle:
            # One host-to-device copy per epoch.
            order = torch.randperm(n, generator=self.generator).to(device)
        else:
            order = torch.arange(n, device=device)
        for k in range(len(self)):
            yield self.dataset.take(order[k * self.batch_size:(k + 1) * self.batch_size])


def stratification_targets(Y):
    """What iterstrat's stratified splitters read for the targets ``Y``.

    Parameters
    ----------
    Y : ndarray or sparse matrix of shape (n_samples, n_labels)
        Encoded targets; ``-1`` and NaN (unknown) count as negative.

    Returns
    -------
    strata : ndarray of shape (n_samples, max(n_labels, 2)), dtype bool
        The positives, one byte per entry (a sparse ``Y`` is never made
        float). iterstrat wants two or more columns, so a binary target's one
        column is paired with its complement.
    """
    strata = (Y == 1).toarray() if sp.issparse(Y) else np.asarray(Y) == 1
    return np.hstack([strata, ~strata]) if strata.shape[1] == 1 else strata


class StratifiedValidationSplit:
    """skorch ``train_split``: hold out a fraction of rows, stratified per label.

    Multi-label targets are split by iterative stratification, so every label
    keeps about its share of positives in both parts; with fewer than two
    positives a label cannot be stratified and lands where it falls.

    Parameters
    ----------
    fraction : float
        Share of rows held out.
    seed : int
        Seed of the split.
    """

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = min(max(1, int(round(self.fraction * n))), n - 1)
        splitter = MultilabelStratifiedShuffleSplit(
            n_splits=1, test_size=n_valid, random_state=self.seed
        )
        strata = stratification_targets(dataset.Y_host)
        train, valid = next(splitter.split(np.zeros((n, 1)), strata))
        return dataset.subset(np.sort(train)), dataset.subset(np.sort(valid))
