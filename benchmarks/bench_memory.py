"""Memory of a fit with a large sparse label matrix: kept sparse vs given dense.

The batch estimators keep a sparse ``Y`` as CSR and densify it one batch at a
time. This script fits each of them once on a random ``n x L`` label matrix
(every label positive at least once) given as CSR, and once given as a dense
array, and records the peak of NumPy's allocations during ``fit``
(``tracemalloc``; torch's own allocations are not traced). STORM runs with
``weight_granularity="sample"``: per-label weights are ``n x L`` by design.

A small fit first imports and warms up everything, so the peaks are the data's.

Usage::

    python benchmarks/bench_memory.py             # 20,000 x 2,000 labels at 0.1 %
    python benchmarks/bench_memory.py --quick     # 5,000 x 500, not comparable
"""

import argparse
import os
import platform
import sys
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp
from _common import add_output_argument, limit_threads, output_path, write_result
from sklearn.base import clone

from sklearn_losses import (
    HybridLossMultiLabelClassifier,
    NoisyLabelRescaledClassifier,
    PUMultiLabelClassifier,
)

ESTIMATORS = {
    "HybridLossMultiLabelClassifier": (HybridLossMultiLabelClassifier, {}),
    "PUMultiLabelClassifier": (PUMultiLabelClassifier, {}),
    "NoisyLabelRescaledClassifier": (NoisyLabelRescaledClassifier,
                                     {"weight_granularity": "sample"}),
}


def make_data(n_rows, n_labels, density, seed):
    """Gaussian features and a random CSR label matrix with no empty label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 20)).astype(np.float32)
    n_positive = max(int(n_rows * n_labels * density), n_labels)
    rows = rng.integers(0, n_rows, size=n_positive)
    cols = np.concatenate([np.arange(n_labels), rng.integers(0, n_labels, n_positive - n_labels)])
    Y = sp.csr_matrix((np.ones(n_positive, np.float32), (rows, cols)), shape=(n_rows, n_labels))
    Y.data[:] = 1  # repeated (row, label) pairs were summed
    return X, Y


def peak_fit(estimator, X, Y):
    """Peak traced NumPy memory (bytes) and seconds of one ``fit``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        estimator.fit(X, Y)
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - start
    finally:
        tracemalloc.stop()


def run(n_rows, n_labels, density, seed):
    X, Y = make_data(n_rows, n_labels, density, seed)
    warm_X, warm_Y = X[:200], (X[:200, :3] > 0).astype(int)
    rows = []
    for name, (cls, params) in ESTIMATORS.items():
        estimator = cls(max_epochs=1, batch_size=1024, random_state=seed, **params)
        estimator.fit(warm_X, warm_Y)
        sparse_peak, sparse_s = peak_fit(clone(estimator), X, Y)
        dense_peak, dense_s = peak_fit(clone(estimator), X, Y.toarray())
        rows.append((name, sparse_peak, dense_peak, sparse_s, dense_s))
    return Y, rows


def _markdown(Y, rows, args, command):
    mib = 2**20
    lines = [
        "| estimator | peak, sparse Y (MiB) | peak, dense Y (MiB) | dense / sparse "
        "| fit, sparse (s) | fit, dense (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, sparse_peak, dense_peak, sparse_s, dense_s in rows:
        lines.append(f"| {name} | {sparse_peak / mib:.1f} | {dense_peak / mib:.1f} "
                     f"| {dense_peak / sparse_peak:.1f} | {sparse_s:.1f} | {dense_s:.1f} |")
    n, n_labels = Y.shape
    header = (
        f"{n} x {n_labels} labels, {Y.nnz} positives ({args.density:.2%}), 20 features; "
        f"one epoch, batch 1024; peak of NumPy allocations during `fit` (tracemalloc, "
        f"torch's not traced); the dense float32 matrix alone is {n * n_labels * 4 / mib:.0f} "
        f"MiB. Fit times are under tracemalloc, one thread, and only indicative.\n"
        f"Command: `{command}`. Machine: {platform.processor() or platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end.\n\n"
    )
    return "## Memory of a large sparse label matrix\n\n" + header + "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--labels", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="5,000 x 500 labels")
    add_output_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.labels = 5_000, 500
    target = output_path("memory", args.output, quick=args.quick)
    command = " ".join(["python benchmarks/bench_memory.py", *argv])
    with limit_threads(1):
        Y, rows = run(args.rows, args.labels, args.density, args.seed)
    table = _markdown(Y, rows, args, command)
    print(table)
    write_result(target, table)


if __name__ == "__main__":
    main()
