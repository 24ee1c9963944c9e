"""The hybrid classifier on sparse TF-IDF features, unscaled and scaled.

The networks learn slowly from features far below 1 in magnitude, as
``MLPClassifier`` does. This script fits the default
``HybridLossMultiLabelClassifier`` on reuters-k500's TF-IDF rows as they come
and behind the two scalers that keep a sparse matrix sparse
(``StandardScaler(with_mean=False)``, ``MaxAbsScaler``), with per-label
logistic regression beside them, on ``bench_defaults.py``'s split and
subsamples, and scores macro average precision and macro-F1 on the test rows.

    python benchmarks/bench_scaling.py [--quick] [--output PATH]
"""

import argparse
import platform

import numpy as np
import torch
from _common import add_output_argument, limit_threads, load_average, output_path, write_result
from bench_defaults import _fit_score, _load, _peers, _sample
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier

DATASET = "reuters-k500"


def _models(seed):
    return {
        "hybrid, unscaled": HybridLossMultiLabelClassifier(random_state=seed),
        "StandardScaler(with_mean=False) + hybrid": make_pipeline(
            StandardScaler(with_mean=False), HybridLossMultiLabelClassifier(random_state=seed)),
        "MaxAbsScaler + hybrid": make_pipeline(
            MaxAbsScaler(), HybridLossMultiLabelClassifier(random_state=seed)),
        "per-label LogisticRegression": _peers(seed)["logreg"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 rows, one seed")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("scaling", args.output, quick=args.quick)
    sizes, seeds = ([300], [0]) if args.quick else ([300, 700], [0, 1, 2])
    X_tr, Y_tr, X_te, Y_te = _load(DATASET)
    load_start = load_average()
    rows = []
    with limit_threads(1):
        for size in sizes:
            scores = {}
            for seed in seeds:
                X, Y = _sample(X_tr, Y_tr, size, seed)
                labels = np.flatnonzero(Y.sum(axis=0) > 0)
                for name, model in _models(seed).items():
                    scores.setdefault(name, []).append(
                        _fit_score(model, X, Y[:, labels], X_te, Y_te, labels))
            for name, runs in scores.items():
                ap = [r["map"] for r in runs]
                f1 = [r["f1"] for r in runs]
                rows.append(f"| {size} | {name} | {np.mean(ap):.3f} ± {np.std(ap):.3f} "
                            f"| {np.mean(f1):.3f} ± {np.std(f1):.3f} |")
    row_norm = float(X_tr.multiply(X_tr).sum(axis=1).mean())
    command = "python benchmarks/bench_scaling.py" + (" --quick" if args.quick else "")
    write_result(target, "\n".join([
        f"## Feature scale: the hybrid classifier on {DATASET}'s TF-IDF",
        "",
        f"Training rows of {DATASET} have a mean squared norm of {row_norm:.3f}. Default "
        "models, `bench_defaults.py`'s split and subsamples, labels positive in the subsample; "
        f"macro AP and macro-F1 on the test rows, mean ± std over seeds {seeds}; one "
        "torch/BLAS thread.",
        "",
        "| training rows | model | macro AP | macro-F1 |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Command: `SKLEARN_LOSSES_DATA=../shared/data {command}`  ",
        f"Machine: {platform.machine()} CPU, torch {torch.__version__}; load average "
        f"{load_start} at the start, {load_average()} at the end.",
        "",
    ]))


if __name__ == "__main__":
    main()
