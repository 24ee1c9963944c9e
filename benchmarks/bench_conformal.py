"""Benchmark ``ConformalLabelPowersetClassifier``: validity, set sizes, and speed.

Three tables, all with one BLAS and one torch thread:

1. **Real data.** Yeast (14 labels) and Enron e-mail (text, bag of words; the 35
   labels with at least 20 positives). Per dataset and seed: a random 60/40
   train/test split; a quarter of the training rows calibrates. Two wrapped
   models: per-label logistic regression and ``HybridLossMultiLabelClassifier``.
   Per significance ``eps``: exact-match accuracy of the point prediction, the
   label-set error with its 99% band (``metrics.error_rate_band``), mean and
   median set size (``predict_set_summary``, counted up to ``max_sets``), and the
   mean number of labels surely in (intersection), possibly in (union) and
   undecided.
2. **Efficient against naive.** ``make_multilabel_classification(n_features=40,
   n_labels=2, length=200)``, per-label logistic regression on 1000 rows, 1000
   calibration rows, 300 test samples, eps = 0.1. Both methods are timed in
   interleaved rounds after a warm-up and must return identical sets.
3. **Many labels.** The same generator with 50 to 200 labels, documents of 1000
   words and 4 features per label, so the model is sharp; time per emitted
   label-set at eps = 0.05, 0.1 and 0.2, with the wrapped model's own time apart.

Examples
--------
python benchmarks/bench_conformal.py --quick
python benchmarks/bench_conformal.py --seeds 0 1 2
"""

import argparse
import sys
import warnings
from functools import partial

import numpy as np
from _common import (
    add_output_argument,
    limit_threads,
    load_average,
    median_seconds,
    output_path,
    time_interleaved,
    write_result,
)
from sklearn.datasets import make_multilabel_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_losses import HybridLossMultiLabelClassifier
from sklearn_losses.conformal import ConformalLabelPowersetClassifier, ConformalSetTruncatedWarning
from sklearn_losses.datasets import load_multilabel_dataset, load_yeast
from sklearn_losses.metrics import error_rate_band

MACHINE = "machine: 2-core CPU shared with other jobs, 1 BLAS + 1 torch thread"
SIGNIFICANCES = (0.05, 0.1, 0.2)


def _logistic():
    return MultiOutputClassifier(LogisticRegression(max_iter=1000))


def _hybrid(seed):
    return HybridLossMultiLabelClassifier(max_epochs=60, random_state=seed)


MODELS = {"logistic": lambda seed: _logistic(), "hybrid": _hybrid}


def _load(name):
    if name == "yeast":
        X, Y = load_yeast(return_X_y=True)
        return np.asarray(X, dtype=float), np.asarray(Y)
    bunch = load_multilabel_dataset(name)
    X = bunch.data.toarray() if hasattr(bunch.data, "toarray") else np.asarray(bunch.data)
    Y = np.asarray(bunch.target.toarray() if hasattr(bunch.target, "toarray") else bunch.target)
    return X.astype(float), Y[:, Y.sum(axis=0) >= 20]


def _real_rows(name, model_name, seeds):
    X, Y = _load(name)
    per_eps = {eps: [] for eps in SIGNIFICANCES}
    for seed in seeds:
        X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.4, random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        clf = ConformalLabelPowersetClassifier(MODELS[model_name](seed), random_state=seed)
        clf.fit(X_train, Y_train)
        exact = np.mean((clf.predict(X_test) == Y_test).all(axis=1))
        p_true = clf.predict_p_values(X_test, Y_test, paired=True)
        summaries = clf.predict_set_summary(X_test, significance=list(SIGNIFICANCES))
        for eps, summary in zip(SIGNIFICANCES, summaries):
            low, high = error_rate_band(len(X_test), clf.n_calibration_, eps)
            per_eps[eps].append([
                exact, np.mean(p_true <= eps), low, high, np.mean(summary.n_sets),
                np.median(summary.n_sets), np.mean(summary.n_sets_is_lower_bound),
                summary.intersection.sum(axis=1).mean(), summary.union.sum(axis=1).mean(),
                summary.n_uncertain.mean(),
            ])
    label = f"{name} ({X.shape[0]}x{X.shape[1]}, L={Y.shape[1]}, n_cal={clf.n_calibration_})"
    return [
        f"| {label} | {model_name} | {eps} | {r[0]:.3f} | {r[1]:.3f} | [{r[2]:.3f}, {r[3]:.3f}] "
        f"| {r[4]:.0f} | {r[5]:.0f} | {r[6]:.2f} | {r[7]:.1f} | {r[8]:.1f} | {r[9]:.1f} |"
        for eps, r in ((eps, np.mean(rows, axis=0)) for eps, rows in per_eps.items())
    ]


def real_data_table(datasets, seeds):
    lines = [
        "| dataset | model | eps | exact match | label-set error | 99% band | mean set size "
        "| median set size | share > max_sets | surely in | possibly in | undecided |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in datasets:
        for model_name in MODELS:
            lines += _real_rows(name, model_name, seeds)
            print("\n".join(lines[-len(SIGNIFICANCES):]), flush=True)
    return lines


def _synthetic(n_labels, n_features, n_fit, n_test, length=200, seed=0):
    """A frozen per-label logistic model, 1000 calibration rows, and test rows.

    Longer documents (``length``) carry more words per label, so the same model
    predicts them more sharply.
    """
    X, Y = make_multilabel_classification(
        n_samples=n_fit + 1000 + n_test, n_features=n_features, n_classes=n_labels,
        n_labels=2, length=length, allow_unlabeled=True, random_state=seed,
    )
    fit, cal = slice(0, n_fit), slice(n_fit, n_fit + 1000)
    # Keep labels both positive and negative in the fitting and calibration rows.
    varied = [(Y[part].sum(axis=0) > 0) & (Y[part].sum(axis=0) < len(Y[part])) for part in
              (fit, cal)]
    Y = Y[:, varied[0] & varied[1]]
    model = FrozenEstimator(_logistic().fit(X[fit], Y[fit]))
    return model, X[cal], Y[cal], X[n_fit + 1000:], Y[n_fit + 1000:]


def _sets_per_sample(clf, X, eps):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConformalSetTruncatedWarning)
        return clf.predict_sets(X, significance=eps, return_truncated=True)


def naive_table(label_counts, n_test, repeats):
    lines = [
        "| L | exact match | mean set size | median set size | naive ms/sample "
        "| efficient ms/sample | speed-up | identical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n_labels in label_counts:
        model, X_cal, Y_cal, X_test, Y_test = _synthetic(n_labels, 40, 1000, n_test)
        clfs = {
            method: ConformalLabelPowersetClassifier(model, method=method).fit(X_cal, Y_cal)
            for method in ("naive", "efficient")
        }
        sets = {m: clf.predict_sets(X_test, significance=0.1) for m, clf in clfs.items()}
        identical = all(np.array_equal(a, b) for a, b in zip(sets["naive"], sets["efficient"]))
        seconds = median_seconds(time_interleaved(
            {m: partial(c.predict_sets, X_test, significance=0.1) for m, c in clfs.items()},
            repeats=repeats,
        ))
        sizes = [len(s) for s in sets["efficient"]]
        exact = np.mean((clfs["efficient"].predict(X_test) == Y_test).all(axis=1))
        ms = {m: 1e3 * s / n_test for m, s in seconds.items()}
        lines.append(
            f"| {Y_test.shape[1]} | {exact:.3f} | {np.mean(sizes):.1f} | {np.median(sizes):.0f} "
            f"| {ms['naive']:.2f} | {ms['efficient']:.3f} | {ms['naive'] / ms['efficient']:.1f}x "
            f"| {identical} |"
        )
        print(lines[-1], flush=True)
    return lines


def many_labels_table(label_counts, n_test, repeats):
    lines = [
        "| L | exact match | eps | mean set size | median set size | cut at max_sets "
        "| predict_proba ms/sample | predict_sets ms/sample | us per set (sets only) "
        "| sets/s (sets only) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n_labels in label_counts:
        model, X_cal, Y_cal, X_test, Y_test = _synthetic(
            n_labels, 4 * n_labels, 4000, n_test, length=1000
        )
        clf = ConformalLabelPowersetClassifier(model).fit(X_cal, Y_cal)
        exact = np.mean((clf.predict(X_test) == Y_test).all(axis=1))
        for eps in (0.05, 0.1, 0.2):
            sets, cut = _sets_per_sample(clf, X_test, eps)
            seconds = median_seconds(time_interleaved(
                {"sets": partial(_sets_per_sample, clf, X_test, eps),
                 "proba": partial(clf.predict_proba, X_test)},
                repeats=repeats,
            ))
            n_sets = sum(len(s) for s in sets)
            # The wrapped model's predict_proba is part of predict_sets; the
            # enumeration's own cost is the difference.
            own = seconds["sets"] - seconds["proba"]
            # Within timing noise the difference can be zero or negative: no figure then.
            per_set, rate = ((f"{1e6 * own / max(n_sets, 1):.2f}", f"{n_sets / own:,.0f}")
                             if own > 0 else ("n/a", "n/a"))
            lines.append(
                f"| {Y_test.shape[1]} | {exact:.3f} | {eps} | {n_sets / n_test:.1f} "
                f"| {np.median([len(s) for s in sets]):.0f} | {cut.mean():.2f} "
                f"| {1e3 * seconds['proba'] / n_test:.3f} | {1e3 * seconds['sets'] / n_test:.3f} "
                f"| {per_set} | {rate} |"
            )
            print(lines[-1], flush=True)
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, Yeast only, small tables")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["yeast", "enron"])
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("conformal", args.output, quick=args.quick)
    seeds = args.seeds[:1] if args.quick else args.seeds
    datasets = args.datasets[:1] if args.quick else args.datasets
    command = " ".join(sys.argv[1:] if argv is None else argv)
    with limit_threads(1):
        lines = [
            "## Conformal label-powerset classifier (LP-ICP)", "",
            f"Command: `python benchmarks/bench_conformal.py {command}`", "",
            f"{MACHINE}; load average (1, 5, 15 min) at the start: {load_average()}", "",
            "### Validity and set sizes on real data", "",
            "60/40 train/test, a quarter of train calibrates, Euclidean score, seeds "
            f"{seeds}, averaged over seeds. Set sizes from `predict_set_summary` "
            "(exact up to max_sets=10,000, counted as 10,001 beyond). 'Surely in' and "
            "'possibly in' count the labels in the intersection and union of each set.", "",
        ]
        lines += real_data_table(datasets, seeds)
        n_test = 100 if args.quick else 300
        lines += [
            "", "### Efficient against naive enumeration", "",
            f"Per-label logistic regression, n_cal=1000, {n_test} test samples, eps=0.1, "
            "median of interleaved repeats after a warm-up; sets asserted identical.", "",
        ]
        lines += naive_table([10, 14] if args.quick else [10, 12, 14, 16], n_test,
                             2 if args.quick else 3)
        lines += [
            "", "### Many labels", "",
            "Per-label logistic regression on 4000 rows with 4 features per label and "
            "documents of 1000 words, "
            f"n_cal=1000, {n_test} test samples, max_sets=10,000. `method='naive'` "
            "refuses more than 20 labels. 'Sets only' is predict_sets time minus "
            "predict_proba time; for sets of about one member it measures the "
            "per-sample overhead, not a per-set cost.", "",
        ]
        lines += many_labels_table([50] if args.quick else [50, 100, 200], n_test,
                                   2 if args.quick else 3)
    lines += ["", f"Load average (1, 5, 15 min) at the end: {load_average()}"]
    write_result(target, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
