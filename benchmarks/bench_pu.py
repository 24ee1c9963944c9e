"""Benchmark PU-MLC (``PUMultiLabelClassifier``) on positive-unlabeled labels.

Each positive training label is kept with probability ``p`` (SCAR) and every
other entry becomes 0 ("unlabeled"). For each dataset and seed we fit

- naive: the same 2x128 MLP trained with BCE, unlabeled taken as negative,
- PU-MLC with its defaults,
- PU-MLC ablation: no adaptive temperature, no re-balancing, no MixUp,
- oracle: the naive configuration trained on the full labels,

and score macro average precision and macro-F1 of ``predict`` on the fully
labelled test labels (70/30 split, ``random_state=seed``, standardised).

Examples
--------
python benchmarks/bench_pu.py --quick
python benchmarks/bench_pu.py --seeds 0 1 2 --datasets yeast yeast_p0.1 digits synthetic
"""

import argparse
import sys
import time
import warnings

import numpy as np
from _common import add_output_argument, limit_threads, output_path, write_result
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.metrics import average_precision_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from sklearn_losses.datasets import load_multilabel_dataset, load_yeast
from sklearn_losses.noise import make_positive_unlabeled

MACHINE = "machine: 2-core CPU (shared), torch 2.13 CPU"


# --------------------------------------------------------------------------- #
# datasets: name -> (X, Y, keep_positive)
# --------------------------------------------------------------------------- #
def _digits_labels(y):
    """The spec's 6 derived labels of a digit."""
    return np.column_stack([
        y % 2 == 0,
        y >= 5,
        np.isin(y, [2, 3, 5, 7]),
        np.isin(y, [0, 4, 6, 8, 9]),
        y % 3 == 0,
        np.isin(y, [1, 7]),
    ]).astype(int)


def _load(name):
    if name in ("yeast", "yeast_p0.1"):
        X, Y = load_yeast(return_X_y=True)
        return X, Y, 0.1 if name == "yeast_p0.1" else 0.3
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X, _digits_labels(y), 0.3
    if name == "synthetic":
        X, Y = make_multilabel_classification(5000, n_features=40, n_classes=10, n_labels=2,
                                              random_state=0)
        return X, Y, 0.3
    if name in EXTRA:
        bunch = load_multilabel_dataset(name.split("_")[0])
        return bunch.data, bunch.target, float(name.split("_p")[1]) if "_p" in name else 0.3
    raise ValueError(f"Unknown dataset {name!r}; use one of {sorted(DESCRIPTIONS)}.")


DESCRIPTIONS = {
    "yeast": "Yeast (14 labels), keep 0.3",
    "yeast_p0.1": "Yeast, keep 0.1",
    "digits": "digits, 6 derived labels, keep 0.3",
    "synthetic": "make_multilabel_classification(5000, 40, 10 labels), keep 0.3",
}
# Not run by default (--datasets emotions scene ...): the other MULAN sets.
EXTRA = {
    f"{data}{suffix}": f"{data}, keep {keep}"
    for data in ("emotions", "scene")
    for suffix, keep in (("", 0.3), ("_p0.1", 0.1), ("_p0.5", 0.5))
}
DEFAULT_DATASETS = list(DESCRIPTIONS)
DESCRIPTIONS.update(EXTRA)


# --------------------------------------------------------------------------- #
# methods
# --------------------------------------------------------------------------- #
def _naive(seed, epochs):
    return HybridLossMultiLabelClassifier(pos_weighting=None, corr_weight=0.0,
                                          contrastive_weight=0.0, dropout=0.0,
                                          max_epochs=epochs, random_state=seed)


def _pu(seed, epochs, **params):
    return PUMultiLabelClassifier(max_epochs=epochs, random_state=seed,
                                  on_missing_positives="warn", **params)


METHODS = {
    "naive BCE": lambda seed, epochs: _naive(seed, epochs),
    "PU-MLC": lambda seed, epochs: _pu(seed, epochs),
    "PU-MLC ablation": lambda seed, epochs: _pu(seed, epochs, adaptive_temperature=False, gamma=0.0,
                                                mixup=False),
    "oracle BCE (full labels)": lambda seed, epochs: _naive(seed, epochs),
}


def _fit_predict(clf, X_tr, Y_fit, X_te):
    """Fit and return (proba, predictions) on X_te.

    BCE refuses a label with no positive; such a label (possible at keep 0.1)
    is left out of the naive fit and predicted 0, as it would be with BCE.
    """
    present = Y_fit.max(axis=0) == 1
    if isinstance(clf, PUMultiLabelClassifier):
        present[:] = True
    clf.fit(X_tr, Y_fit[:, present])
    proba = np.zeros((X_te.shape[0], Y_fit.shape[1]))
    proba[:, present] = clf.predict_proba(X_te)
    pred = np.zeros(proba.shape, dtype=int)
    pred[:, present] = clf.predict(X_te)
    return proba, pred


def run_one(name, seed, epochs):
    """Scores of every method on one dataset and seed: {method: (mAP, F1, seconds)}."""
    X, Y, keep = _load(name)
    X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.3, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    X_tr = scaler.transform(X_tr).astype(np.float32)
    X_te = scaler.transform(X_te).astype(np.float32)
    Y_pu, _ = make_positive_unlabeled(Y_tr, keep_positive=keep, random_state=seed)
    scored = Y_te.max(axis=0) == 1  # AP is undefined for a label absent from the test set
    scores = {}
    for method, make in METHODS.items():
        Y_fit = Y_tr if method.startswith("oracle") else Y_pu
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            proba, pred = _fit_predict(make(seed, epochs), X_tr, Y_fit, X_te)
        seconds = time.perf_counter() - start
        ap = average_precision_score(Y_te[:, scored], proba[:, scored], average="macro")
        f1 = f1_score(Y_te, pred, average="macro", zero_division=0)
        scores[method] = (ap, f1, seconds)
    return scores


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def to_markdown(results, seeds, epochs, command):
    lines = [
        "## PU-MLC (`PUMultiLabelClassifier`)",
        "",
        f"Command: `{command}`  ",
        f"{MACHINE}. Seeds {', '.join(map(str, seeds))} (mean ± std); {epochs} epochs, "
        "2x128 ReLU MLP, batch 128, Adam 1e-3; 70/30 split per seed, StandardScaler, "
        "`make_positive_unlabeled(keep_positive=p)` on the training labels only. "
        "Scores on the fully labelled test labels: macro AP of `predict_proba` and "
        "macro-F1 of `predict` (threshold 0.5). "
        "Time is wall-clock seconds per fit (with test prediction).",
        "",
        "| data | method | macro AP | macro-F1 | fit s |",
        "|---|---|---|---|---|",
    ]
    for name, per_seed in results.items():
        for method in METHODS:
            ap, f1, sec = (np.array([s[method][k] for s in per_seed]) for k in range(3))
            lines.append(f"| {DESCRIPTIONS[name]} | {method} | {_mean_std(ap)} | "
                         f"{_mean_std(f1)} | {np.mean(sec):.1f} |")
    lines += [
        "",
        "Naive = the same network with BCE and unlabeled entries taken as negatives "
        "(`HybridLossMultiLabelClassifier(pos_weighting=None, corr_weight=0, "
        "contrastive_weight=0, dropout=0)`); ablation = `adaptive_temperature=False, gamma=0, "
        "mixup=False` (plain per-label VPU). A label left with no observed positive "
        "(possible at keep 0.1) is predicted 0 by the naive model.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, 10 epochs (Yeast and digits unless --datasets)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS,
                        choices=list(DESCRIPTIONS))
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("pu", args.output, quick=args.quick)
    with limit_threads(1):
        _run(args, target)


def _run(args, target):
    seeds, epochs, datasets = args.seeds, 60, args.datasets
    if args.quick:
        seeds, epochs = seeds[:1], 10
        if datasets == DEFAULT_DATASETS:
            datasets = ["yeast", "digits"]
    results = {}
    for name in datasets:
        results[name] = []
        for seed in seeds:
            results[name].append(run_one(name, seed, epochs))
            print(f"# {name} seed {seed}: " + ", ".join(
                f"{m} {ap:.3f}/{f1:.3f}" for m, (ap, f1, _) in results[name][-1].items()),
                file=sys.stderr, flush=True)
    command = "python " + " ".join(["benchmarks/bench_pu.py", *sys.argv[1:]])
    markdown = to_markdown(results, seeds, epochs, command)
    print(markdown)
    write_result(target, markdown)


if __name__ == "__main__":
    main()
