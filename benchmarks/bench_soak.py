"""Streaming soak: IHOMERClassifier over the full MEKA IMDB stream.

Test-then-train in batches of 64 rows over all 120,919 plot summaries (1001
binary word features, 28 genres), sampling the process's resident memory and
the model's state along the way. A learner fit for unbounded streams must keep
both flat as instances accumulate.

Usage::

    SKLEARN_LOSSES_DATA=../shared/data python benchmarks/bench_soak.py
    python benchmarks/bench_soak.py --rows 20000        # a shorter soak
"""

import argparse
import pickle
import platform
import time

import numpy as np
import torch
from _common import (
    add_output_argument,
    limit_threads,
    output_path,
    resident_mb,
    write_result,
)
from sklearn.metrics import f1_score

from sklearn_losses import IHOMERClassifier
from sklearn_losses.datasets import load_multilabel_dataset


def soak(X, Y, batch_size, checkpoints, seed):
    model = IHOMERClassifier(random_state=seed)
    rows, window_true, window_pred = [], [], []
    start = time.perf_counter()
    next_checkpoint = 0
    for begin in range(0, X.shape[0], batch_size):
        X_batch, Y_batch = X[begin:begin + batch_size], Y[begin:begin + batch_size]
        if begin:
            window_pred.append(model.predict(X_batch))
            window_true.append(Y_batch)
        model.partial_fit(X_batch, Y_batch)
        seen = begin + X_batch.shape[0]
        if next_checkpoint < len(checkpoints) and seen >= checkpoints[next_checkpoint]:
            Y_true, Y_pred = np.vstack(window_true), np.vstack(window_pred)
            rows.append({
                "seen": seen,
                "rss_mb": resident_mb(),
                "model_kb": len(pickle.dumps(model)) / 1024,
                "clusters": model.n_clusters_,
                "example_f1": f1_score(Y_true, Y_pred, average="samples", zero_division=1),
                "seconds": time.perf_counter() - start,
            })
            window_true, window_pred = [], []
            next_checkpoint += 1
    return rows


def _markdown(rows, args, n_rows):
    lines = [
        "| instances seen | RSS (MiB) | pickled model (KiB) | label clusters "
        "| example-F1 since last row | elapsed (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seen']:,} | {r['rss_mb']:.0f} | {r['model_kb']:.0f} | {r['clusters']} "
            f"| {r['example_f1']:.3f} | {r['seconds']:.0f} |"
        )
    growth = rows[-1]["rss_mb"] - rows[1]["rss_mb"] if len(rows) > 1 else 0.0
    command = "python benchmarks/bench_soak.py" + (
        f" --rows {args.rows}" if args.rows else ""
    )
    return (
        f"MEKA IMDB, {n_rows:,} rows in stream order, test-then-train in batches of "
        f"{args.batch_size}, seed {args.seed}. RSS growth from the second checkpoint to "
        f"the last: {growth:+.0f} MiB.\n"
        f"Command: `{command}`. Machine: {platform.machine()} 2-core CPU (shared), "
        f"torch {torch.__version__} CPU, one thread.\n\n" + "\n".join(lines) + "\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="stop after this many rows")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    add_output_argument(parser)
    args = parser.parse_args()
    # A run cut short by --rows is a smoke test: it never replaces the committed soak.
    target = output_path("soak", args.output, quick=args.rows is not None)
    with limit_threads(1):
        _run(args, target)


def _run(args, target):
    data = load_multilabel_dataset("meka/imdb", data_home=args.data_home)
    X, Y = data.data, data.target
    if args.rows:
        X, Y = X[: args.rows], Y[: args.rows]
    checkpoints = np.linspace(X.shape[0] / args.checkpoints, X.shape[0], args.checkpoints)
    rows = soak(X, Y, args.batch_size, checkpoints.astype(int), args.seed)
    table = _markdown(rows, args, X.shape[0])
    print(table)
    write_result(target, "## Streaming soak (iHOMER on IMDB)\n\n" + table)


if __name__ == "__main__":
    main()
