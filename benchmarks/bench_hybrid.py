"""Benchmark the hybrid loss (``HybridLossMultiLabelClassifier``) and its ablation.

For each dataset and seed, a 70/30 split is drawn with iterative stratification
and the features are standardised. The same MLP (2 x 128, AdamW, batch 128,
threshold 0.5) is trained with

- plain BCE (no positive weights, no auxiliary terms),
- + sqrt positive weights,
- + correlation alignment,
- + correlation smoothing (instead of alignment),
- the full hybrid loss (weights + alignment + contrastive term),

and the full hybrid with the two parts of the paper's recipe beyond the loss:
per-label F1-optimal thresholds tuned on a 10 % validation split
(``threshold="tune"``) and the out-of-fold meta-learner view
(``meta_learner=``, per-label logistic regression, 5 iteratively stratified
folds), alone and together.

Peers users would pick: binary relevance with logistic regression, the same
with imbalanced-learn oversampling of each label's positives in front of it
(``RandomOverSampler`` or ``SMOTE`` in an ``imblearn.pipeline.Pipeline``, one
per label, the usual answer to rare labels), and sklearn's ``MLPClassifier``.
Scores: macro-F1, micro-F1, sample Jaccard, macro-AP (threshold-free),
G-mean (imblearn's ``geometric_mean_score`` per label, i.e.
sqrt(sensitivity * specificity), averaged over labels), minrec and rare spec
(imblearn's sensitivity and specificity averaged over the 30 % rarest labels),
gap (mean off-diagonal |corr(P_test) - corr(Y_test)|) and fit seconds.

Examples
--------
python benchmarks/bench_hybrid.py --quick
python benchmarks/bench_hybrid.py --seeds 0 1 2 --datasets yeast
"""

import argparse
import sys
import time
import warnings

import numpy as np
from _common import (
    add_output_argument,
    limit_threads,
    load_average,
    output_path,
    write_result,
)
from imblearn.metrics import geometric_mean_score, sensitivity_score, specificity_score
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, jaccard_score
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier
from sklearn_losses.datasets import load_multilabel_dataset, load_yeast

ABLATION = {
    "BCE": {"pos_weighting": None, "corr_weight": 0.0, "contrastive_weight": 0.0},
    "+sqrt weights": {"pos_weighting": "sqrt", "corr_weight": 0.0, "contrastive_weight": 0.0},
    "+corr align": {"pos_weighting": "sqrt", "corr_weight": 1.0, "corr_mode": "align",
                    "contrastive_weight": 0.0},
    "+corr smooth": {"pos_weighting": "sqrt", "corr_weight": 1.0, "corr_mode": "smooth",
                     "contrastive_weight": 0.0},
    "hybrid": {},
}
# The estimator clones its meta learner, so one instance serves every run.
META = MultiOutputClassifier(LogisticRegression(max_iter=1000))
EXTENSIONS = {
    "hybrid, threshold=tune": {"threshold": "tune"},
    "hybrid + meta(LogReg)": {"meta_learner": META},
    "hybrid + meta(LogReg), tune": {"meta_learner": META, "threshold": "tune"},
}
SAMPLERS = {"ROS": RandomOverSampler, "SMOTE": SMOTE}
PEERS = ["MultiOutput(LogReg)", "MultiOutput(ROS+LogReg)", "MultiOutput(SMOTE+LogReg)",
         "MLPClassifier(128,128)"]
METRICS = ["macro-F1", "micro-F1", "Jaccard", "macro-AP", "G-mean", "minrec", "rare spec",
           "gap", "fit s"]


def _load(name):
    if name == "yeast":
        return load_yeast(return_X_y=True)
    bunch = load_multilabel_dataset(name)
    return np.asarray(bunch.data, dtype=np.float64), bunch.target


def _split(X, Y, seed):
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.3, random_state=seed)
    train, test = next(splitter.split(X, Y))
    scaler = StandardScaler().fit(X[train])
    return scaler.transform(X[train]), Y[train], scaler.transform(X[test]), Y[test]


def _oversampled_logreg(sampler, seed):
    """Binary relevance, each label's positives oversampled before its own
    logistic regression (imblearn samplers take single-label y only)."""
    steps = [("sample", SAMPLERS[sampler](random_state=seed)),
             ("logreg", LogisticRegression(max_iter=1000))]
    return MultiOutputClassifier(Pipeline(steps))


def _make(name, seed, epochs):
    if name == "MultiOutput(LogReg)":
        return MultiOutputClassifier(LogisticRegression(max_iter=1000))
    if name.startswith("MultiOutput("):
        return _oversampled_logreg(name[len("MultiOutput("):].split("+")[0], seed)
    if name == "MLPClassifier(128,128)":
        return MLPClassifier((128, 128), max_iter=epochs, random_state=seed)
    params = ABLATION.get(name, EXTENSIONS.get(name))
    return HybridLossMultiLabelClassifier(max_epochs=epochs, random_state=seed, **params)


def _proba(model, X):
    proba = model.predict_proba(X)
    if isinstance(proba, list):  # MultiOutputClassifier: one (n, 2) array per label
        proba = np.column_stack([p[:, 1] for p in proba])
    return proba


def correlation_gap(proba, Y):
    """Mean off-diagonal absolute difference of the two label correlation matrices."""
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(np.nan_to_num(np.corrcoef(proba.T)) - np.nan_to_num(np.corrcoef(Y.T)))
    off_diagonal = ~np.eye(Y.shape[1], dtype=bool)
    return diff[off_diagonal].mean()


def _per_label(metric, Y_test, Y_pred, labels):
    """A binary imblearn metric of each label in ``labels``, averaged."""
    return np.mean([metric(Y_test[:, j], Y_pred[:, j]) for j in labels])


def score(Y_test, Y_pred, proba, rare):
    every = range(Y_test.shape[1])
    return {
        "macro-F1": f1_score(Y_test, Y_pred, average="macro", zero_division=0),
        "micro-F1": f1_score(Y_test, Y_pred, average="micro", zero_division=0),
        "Jaccard": jaccard_score(Y_test, Y_pred, average="samples", zero_division=1),
        "macro-AP": average_precision_score(Y_test, proba, average="macro"),
        "G-mean": _per_label(geometric_mean_score, Y_test, Y_pred, every),
        "minrec": _per_label(sensitivity_score, Y_test, Y_pred, rare),
        "rare spec": _per_label(specificity_score, Y_test, Y_pred, rare),
        "gap": correlation_gap(proba, Y_test),
    }


def run_one(name, data, seed, epochs):
    X_tr, Y_tr, X_te, Y_te = data
    n_rare = max(1, int(round(0.3 * Y_tr.shape[1])))
    rare = np.argsort(Y_tr.mean(axis=0), kind="stable")[:n_rare]
    model = _make(name, seed, epochs)
    start = time.perf_counter()
    model.fit(X_tr, Y_tr)
    seconds = time.perf_counter() - start
    row = score(Y_te, np.asarray(model.predict(X_te)), _proba(model, X_te), rare)
    row["fit s"] = seconds
    return row


def _cell(values):
    values = np.asarray(values)
    return f"{values.mean():.3f} ± {values.std():.3f}"


def _table(dataset, results):
    lines = [f"### {dataset}", "", "| method | " + " | ".join(METRICS) + " |",
             "|---" * (len(METRICS) + 1) + "|"]
    for method, rows in results.items():
        cells = [_cell([row[m] for row in rows]) for m in METRICS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 10 epochs, yeast only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["yeast", "emotions", "scene"])
    parser.add_argument("--epochs", type=int, default=60)
    add_output_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.datasets, args.epochs = [0], ["yeast"], 10
    target = output_path("hybrid", args.output, quick=args.quick)
    with limit_threads(1):
        _run(args, target, argv)


def _run(args, target, argv):
    # MLPClassifier gets the same epoch budget as the torch rows, so it stops unconverged.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    command = "python benchmarks/bench_hybrid.py " + " ".join(sys.argv[1:] if argv is None
                                                              else argv)
    header = [
        "## Hybrid loss (`HybridLossMultiLabelClassifier`)", "",
        f"Mean ± std over seeds {args.seeds}; 70/30 split per seed (iterative stratification), "
        f"standardised features. Torch rows: MLP 2 x 128, dropout 0.2, AdamW (lr 1e-3, wd 1e-4), "
        f"batch 128, {args.epochs} epochs, threshold 0.5 unless the row says `tune` (F1-optimal "
        "per label on a stratified 10 % validation split). `meta(LogReg)`: "
        "`meta_learner=MultiOutputClassifier(LogisticRegression(max_iter=1000))`, its "
        "out-of-fold probabilities (5 iteratively stratified folds) one more input view. "
        f"`MLPClassifier((128, 128))` runs `max_iter={args.epochs}`; binary relevance uses "
        "`LogisticRegression(max_iter=1000)`, the ROS/SMOTE rows put imblearn's "
        "`RandomOverSampler`/`SMOTE` in front of it in an `imblearn.pipeline.Pipeline`, one "
        "per label. macro-AP: average precision of `predict_proba`, macro over labels. "
        "G-mean: imblearn's `geometric_mean_score` (sqrt(sensitivity x specificity)) per "
        "label, averaged. minrec / rare spec: imblearn's sensitivity / specificity averaged "
        "over the 30 % rarest training labels. gap: mean off-diagonal "
        "|corr(P_test) − corr(Y_test)|. fit s: wall-clock seconds of `fit` (shared CPU, noisy).",
        "", f"Command: `{command}`", "",
        "machine: 2-core CPU shared with other jobs, one torch/BLAS thread, torch 2.13 CPU; "
        f"load average (1, 5, 15 min) at the start: {load_average()}", "",
    ]
    sections = []
    for dataset in args.datasets:
        X, Y = _load(dataset)
        splits = {seed: _split(X, Y, seed) for seed in args.seeds}
        results = {}
        for method in [*ABLATION, *EXTENSIONS, *PEERS]:
            results[method] = [run_one(method, splits[seed], seed, args.epochs)
                               for seed in args.seeds]
            print(f"{dataset} {method}: done", file=sys.stderr, flush=True)
        title = f"{dataset} ({X.shape[0]} x {X.shape[1]}, {Y.shape[1]} labels)"
        sections.append(_table(title, results) + f"\nload average at the end: {load_average()}\n")
        text = "\n".join(header) + "\n" + "\n".join(sections)
        print(sections[-1])
        write_result(target, text)


if __name__ == "__main__":
    main()
