"""Default estimators against scikit-learn's defaults, at several training sizes.

What a new user gets without tuning: ``HybridLossMultiLabelClassifier()`` against
``MLPClassifier()`` and per-label ``LogisticRegression`` on full labels, and
``PUMultiLabelClassifier()`` against the same peers trained naively (unlabeled
read as negative) when only 30 % of the positives are kept. Every sparse text
set of the shared data plus yeast, emotions and scene; 300 and 700 training
rows and the whole training part; three seeds.

Macro average precision is taken over the test labels with a positive; macro-F1
over all kept labels. Labels never positive in a training sample are dropped
for every model alike (the torch estimators refuse them, which is right).

Rows are cached in a JSON-lines file, so a long run can be split over several
calls (``--sets``, ``--sizes``) and the table rebuilt from the cache
(``--table-only``).

Usage::

    python benchmarks/bench_defaults.py               # everything, 3 seeds
    python benchmarks/bench_defaults.py --sets yeast enron --sizes 300
    python benchmarks/bench_defaults.py --quick       # smoke run, not comparable
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from _common import add_output_argument, limit_threads, output_path, write_result
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier, PUMultiLabelClassifier
from sklearn_losses.datasets import load_multilabel_dataset
from sklearn_losses.noise import make_positive_unlabeled

TEXT_SETS = ["enron", "bibtex", "delicious", "tmc2007-500", "20ng", "ohsumed",
             "reuters-k500", "slashdot"]
DENSE_SETS = ["yeast", "emotions", "scene"]
SIZES = ["300", "700", "full"]
KEEP_POSITIVE = 0.3


def _load(name):
    """Train and test parts; a 70/30 split where the set ships none."""
    try:
        X_tr, Y_tr = load_multilabel_dataset(name, subset="train", return_X_y=True)
        X_te, Y_te = load_multilabel_dataset(name, subset="test", return_X_y=True)
    except ValueError:
        X, Y = load_multilabel_dataset(name, return_X_y=True)
        X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.3, random_state=0)
    if not sp.issparse(X_tr):
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    return X_tr, np.asarray(Y_tr), X_te, np.asarray(Y_te)


def _sample(X, Y, size, seed):
    if size == "full" or int(size) >= X.shape[0]:
        return X, Y
    rows = np.random.default_rng(seed).choice(X.shape[0], int(size), replace=False)
    return X[rows], Y[rows]


def _scores(model, X_te, Y_te, labels):
    proba = model.predict_proba(X_te)
    if isinstance(proba, list):  # OneVsRest never returns a list; MLP never either
        proba = np.column_stack([p[:, 1] for p in proba])
    Y = Y_te[:, labels]
    present = Y.sum(axis=0) > 0
    ap = average_precision_score(Y[:, present], proba[:, present], average="macro")
    f1 = f1_score(Y, (proba >= 0.5).astype(int), average="macro", zero_division=0)
    return float(ap), float(f1)


def _fit_score(model, X, Y, X_te, Y_te, labels):
    start = time.perf_counter()
    model.fit(X, Y)
    seconds = time.perf_counter() - start
    ap, f1 = _scores(model, X_te, Y_te, labels)
    return {"map": ap, "f1": f1, "seconds": seconds}


def _peers(seed):
    return {
        "mlp": MLPClassifier(random_state=seed),
        "logreg": OneVsRestClassifier(LogisticRegression(solver="liblinear")),
    }


def run_one(name, size, seed, data):
    """All models on one (set, size, seed); returns a dict of results."""
    X_tr, Y_tr, X_te, Y_te = data
    X, Y = _sample(X_tr, Y_tr, size, seed)
    labels = np.flatnonzero(Y.sum(axis=0) > 0)
    row = {"set": name, "size": size, "seed": seed, "n_train": X.shape[0],
           "n_labels": int(labels.size)}
    Y = Y[:, labels]
    row["hybrid"] = _fit_score(HybridLossMultiLabelClassifier(random_state=seed),
                               X, Y, X_te, Y_te, labels)
    for peer, model in _peers(seed).items():
        row[peer] = _fit_score(model, X, Y, X_te, Y_te, labels)
    Y_pu, _ = make_positive_unlabeled(Y, keep_positive=KEEP_POSITIVE, random_state=seed)
    observed = np.flatnonzero(Y_pu.sum(axis=0) > 0)
    pu_labels = labels[observed]
    Y_pu = Y_pu[:, observed]
    row["n_labels_pu"] = int(observed.size)
    row["pu"] = _fit_score(PUMultiLabelClassifier(random_state=seed),
                           X, Y_pu, X_te, Y_te, pu_labels)
    for peer, model in _peers(seed).items():
        row[f"naive_{peer}"] = _fit_score(model, X, Y_pu, X_te, Y_te, pu_labels)
    return row


def _mean(rows, model, metric):
    return float(np.mean([r[model][metric] for r in rows]))


def _capped(row):
    """A numeric size at or above the training part repeats the "full" cell."""
    return row["size"] != "full" and row["n_train"] < int(row["size"])


def _groups(rows):
    groups = {}
    for row in rows:
        if _capped(row):
            continue
        groups.setdefault((row["set"], row["size"]), []).append(row)
    order = {name: i for i, name in enumerate(TEXT_SETS + DENSE_SETS)}
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99),
                                                  SIZES.index(kv[0][1])))


def _win(a, b):
    # "Matches" allows for seed noise of a few thousandths.
    return a >= b - 0.005


def build_table(rows, command):
    """Markdown tables and win counts from the cached rows."""
    full = ["| set | rows | labels | seeds | hybrid mAP | MLP mAP | LR mAP | hybrid F1 "
            "| MLP F1 | LR F1 | hybrid ≥ MLP (mAP, F1) | LR still best |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    pu = ["| set | rows | labels | PU mAP | naive MLP mAP | naive LR mAP | PU F1 "
          "| naive MLP F1 | naive LR F1 | PU > naive MLP (mAP) | LR still best |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    wins = {"hybrid_map": 0, "hybrid_f1": 0, "hybrid_both": 0, "pu_map": 0}
    groups = _groups(rows)
    for (name, _), group in groups:
        m = {k: {metric: _mean(group, k, metric) for metric in ("map", "f1")}
             for k in ("hybrid", "mlp", "logreg", "pu", "naive_mlp", "naive_logreg")}
        h_map, h_f1 = _win(m["hybrid"]["map"], m["mlp"]["map"]), _win(m["hybrid"]["f1"],
                                                                    m["mlp"]["f1"])
        wins["hybrid_map"] += h_map
        wins["hybrid_f1"] += h_f1
        wins["hybrid_both"] += h_map and h_f1
        pu_win = m["pu"]["map"] > m["naive_mlp"]["map"]
        wins["pu_map"] += pu_win
        lr_best = m["logreg"]["map"] > max(m["hybrid"]["map"], m["mlp"]["map"])
        lr_pu_best = m["naive_logreg"]["map"] > m["pu"]["map"]
        n_train = group[0]["n_train"]
        full.append(
            f"| {name} | {n_train} | {group[0]['n_labels']} | {len(group)} "
            f"| {m['hybrid']['map']:.3f} | {m['mlp']['map']:.3f} | {m['logreg']['map']:.3f} "
            f"| {m['hybrid']['f1']:.3f} | {m['mlp']['f1']:.3f} | {m['logreg']['f1']:.3f} "
            f"| {'yes' if h_map else 'no'}, {'yes' if h_f1 else 'no'} "
            f"| {'LR' if lr_best else ''} |"
        )
        pu.append(
            f"| {name} | {n_train} | {group[0]['n_labels_pu']} "
            f"| {m['pu']['map']:.3f} | {m['naive_mlp']['map']:.3f} "
            f"| {m['naive_logreg']['map']:.3f} | {m['pu']['f1']:.3f} "
            f"| {m['naive_mlp']['f1']:.3f} | {m['naive_logreg']['f1']:.3f} "
            f"| {'yes' if pu_win else 'no'} | {'LR' if lr_pu_best else ''} |"
        )
    n = len(groups)
    summary = (
        f"Over {n} (set, size) cells: default hybrid matches or beats default "
        f"`MLPClassifier` in macro AP on {wins['hybrid_map']}, in macro-F1 on "
        f"{wins['hybrid_f1']}, in both on {wins['hybrid_both']} "
        f"({100 * wins['hybrid_both'] / max(n, 1):.0f} %); default PU-MLC beats naive "
        f"`MLPClassifier` in macro AP on {wins['pu_map']} "
        f"({100 * wins['pu_map'] / max(n, 1):.0f} %). \"Matches\" allows 0.005 for "
        "seed noise. \"LR still best\" marks cells where per-label logistic regression "
        "has the best macro AP."
    )
    return "\n".join([
        "## Defaults against scikit-learn's defaults",
        "",
        f"Command: `{command}` (one torch/BLAS thread, CPU).",
        "",
        summary,
        "",
        "### Full labels: `HybridLossMultiLabelClassifier()` vs `MLPClassifier()` and "
        "per-label `LogisticRegression`",
        "",
        *full,
        "",
        f"### {int(KEEP_POSITIVE * 100)} % of positives kept: `PUMultiLabelClassifier()` vs "
        "the same peers trained with unlabeled = negative",
        "",
        *pu,
        "",
    ])


def _read_cache(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=TEXT_SETS + DENSE_SETS)
    parser.add_argument("--sizes", nargs="+", default=SIZES, choices=SIZES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="yeast and enron, 300 rows, 1 seed")
    parser.add_argument("--table-only", action="store_true",
                        help="rebuild the table from the cache without fitting")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.sets, args.sizes, args.seeds = ["yeast", "enron"], ["300"], 1
    target = output_path("defaults", args.output, quick=args.quick)
    cache = target.with_suffix(".jsonl")
    rows = _read_cache(cache)
    done = {(r["set"], r["size"], r["seed"]) for r in rows}
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    with limit_threads(1):
        for name in [] if args.table_only else args.sets:
            data = _load(name)
            for size in args.sizes:
                if size != "full" and int(size) >= data[0].shape[0]:
                    continue  # the "full" cell covers it
                for seed in range(args.seeds):
                    if (name, size, seed) in done:
                        continue
                    row = run_one(name, size, seed, data)
                    rows.append(row)
                    with cache.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"{name} {size} seed {seed}: hybrid {row['hybrid']['map']:.3f} "
                          f"mlp {row['mlp']['map']:.3f} lr {row['logreg']['map']:.3f} | pu "
                          f"{row['pu']['map']:.3f} naive {row['naive_mlp']['map']:.3f}",
                          flush=True)
    command = "python benchmarks/bench_defaults.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv)
    write_result(target, build_table(rows, command.strip()))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
