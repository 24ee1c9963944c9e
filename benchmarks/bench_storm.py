"""Benchmark STORM (``NoisyLabelRescaledClassifier``) under injected label noise.

For each dataset, noise setting and seed, the same network, optimizer, batch
size and number of epochs are trained

- as a plain skorch ``NeuralNet`` with the unweighted loss,
- with STORM,
- optionally (``--cleanlab``) inside cleanlab's ``CleanLearning`` (5-fold
  confident learning, prune, refit) around the plain net,

and scored on the clean test labels (accuracy; micro-F1 for multi-label). The
quality table also gives how well STORM's weights separate clean from flipped
training labels (ROC-AUC of the last epoch's weights and of their mean over
the epochs) and the fit times (CPU time of the process, so that waits for other
jobs on a shared machine do not count): after a warm-up, the plain and the
STORM fit of each seed run back to back.

The quality table has one block per ``meta_interval`` (1, the paper's
method, and 2, a meta step on every other step). A second table times one
STORM step against a plain skorch step on digits for hidden widths 256 and
1024: the default (the closed-form step of the built-in network), the
autograd double backward and forward-mode meta gradients, and
``meta_interval=2``.

Examples
--------
python benchmarks/bench_storm.py --quick
python benchmarks/bench_storm.py --seeds 0 1 2 --datasets digits yeast
"""

import argparse
import itertools
import os
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp
import skorch
import torch
from _common import (
    add_output_argument,
    limit_threads,
    load_average,
    median_seconds,
    output_path,
    time_interleaved,
    write_result,
)
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, StandardScaler

from sklearn_losses import NoisyLabelRescaledClassifier
from sklearn_losses.datasets import load_text_classification, load_yeast
from sklearn_losses.networks import MLPNetwork
from sklearn_losses.noise import inject_label_noise


# --------------------------------------------------------------------------- #
# the plain-loss baseline (also the model inside CleanLearning)
# --------------------------------------------------------------------------- #
class PlainSkorchClassifier(ClassifierMixin, BaseEstimator):
    """The same MLP as a plain skorch ``NeuralNet``: unweighted cross-entropy
    (BCE for multi-label), Adam, shuffled batches, no validation split."""

    def __init__(self, *, hidden_layer_sizes=(256,), dropout=0.1, max_epochs=10,
                 batch_size=32, lr=1e-3, random_state=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y)
        self.multilabel_ = y.ndim == 2
        if self.multilabel_:
            target, n_outputs = y.astype(np.float32), y.shape[1]
            criterion = torch.nn.BCEWithLogitsLoss
        else:
            encoder = LabelEncoder().fit(y)
            self.classes_ = encoder.classes_
            target, n_outputs = encoder.transform(y), len(self.classes_)
            criterion = torch.nn.CrossEntropyLoss
        with torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            self.net_ = skorch.NeuralNet(
                MLPNetwork(X.shape[1], n_outputs, self.hidden_layer_sizes, self.dropout),
                criterion, optimizer=torch.optim.Adam, lr=self.lr,
                max_epochs=self.max_epochs, batch_size=self.batch_size, train_split=None,
                iterator_train__shuffle=True, device="cpu", verbose=0,
            ).fit(_dense(X), target)
        return self

    def predict_proba(self, X):
        with torch.random.fork_rng():
            logits = self.net_.forward(_dense(X))
        if self.multilabel_:
            return torch.sigmoid(logits).numpy()
        return torch.softmax(logits, 1).numpy()

    def predict(self, X):
        proba = self.predict_proba(X)
        if self.multilabel_:
            return (proba >= 0.5).astype(int)
        return self.classes_[proba.argmax(1)]


def _dense(X):
    # skorch's default data loader collates rows of dense arrays only.
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float32)


# --------------------------------------------------------------------------- #
# datasets: (X_train, y_train, X_test, y_test, model settings)
# --------------------------------------------------------------------------- #
MLP = {"hidden_layer_sizes": (256,), "lr": 1e-3}
# Spec: TF-IDF features with a linear model (input dropout in the extra passes), lr 1e-2.
LINEAR = {"hidden_layer_sizes": (), "lr": 1e-2}


def _digits(epochs):
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), y_tr,
            scaler.transform(X_te).astype(np.float32), y_te, {**MLP, "max_epochs": epochs})


def _text(name, epochs):
    if name == "ag_news":  # only the test split is stored: split it
        bunch = load_text_classification(name, subset="test")
        txt_tr, txt_te, y_tr, y_te = train_test_split(
            bunch.data, bunch.target, test_size=0.3, stratify=bunch.target, random_state=0)
    else:
        train = load_text_classification(name, subset="train")
        test = load_text_classification(name, subset="test")
        txt_tr, y_tr, txt_te, y_te = train.data, train.target, test.data, test.target
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(txt_tr)
    X_tr = tfidf.transform(txt_tr).astype(np.float32)
    X_te = tfidf.transform(txt_te).astype(np.float32)
    return X_tr, y_tr, X_te, y_te, {**LINEAR, "max_epochs": epochs}


def _yeast(epochs):
    bunch = load_yeast()
    X_tr, X_te, Y_tr, Y_te = train_test_split(bunch.data, bunch.target, test_size=0.3,
                                              random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return (scaler.transform(X_tr).astype(np.float32), Y_tr,
            scaler.transform(X_te).astype(np.float32), Y_te, {**MLP, "max_epochs": epochs})


DIGITS_NOISE = [("symmetric", 0.0), ("symmetric", 0.2), ("symmetric", 0.4), ("pairflip", 0.4)]
DATASETS = {
    "digits": (lambda quick: _digits(10 if quick else 30), DIGITS_NOISE),
    "trec": (lambda quick: _text("trec", 10),
             [("symmetric", 0.2), ("symmetric", 0.4), ("pairflip", 0.4)]),
    "sst2": (lambda quick: _text("sst2", 10), [("symmetric", 0.2), ("symmetric", 0.4)]),
    "ag_news": (lambda quick: _text("ag_news", 10), [("symmetric", 0.2), ("symmetric", 0.4)]),
    "yeast": (lambda quick: _yeast(10 if quick else 30), [("multilabel", (0.2, 0.05))]),
}


# --------------------------------------------------------------------------- #
# runs
# --------------------------------------------------------------------------- #
def _score(y_true, y_pred):
    if np.ndim(y_true) == 2:
        return f1_score(y_true, y_pred, average="micro")
    return accuracy_score(y_true, y_pred)


def _auc(is_clean, scores):
    if is_clean.all() or not is_clean.any():
        return float("nan")
    return roc_auc_score(is_clean.ravel(), np.asarray(scores).ravel())


def _fits(X, y, seed, settings, storm_params=None):
    """Fit functions of the plain and the STORM model; each keeps its last model."""
    models = {}

    def plain():
        models["plain"] = PlainSkorchClassifier(random_state=seed, **settings).fit(X, y)

    def storm():
        models["storm"] = NoisyLabelRescaledClassifier(
            random_state=seed, device="cpu", **settings, **(storm_params or {})
        ).fit(X, y)

    return {"plain": plain, "storm": storm}, models


def quality_row(data, kind, rate, seeds, with_cleanlab, storm_params=None):
    """Mean ± std over seeds of accuracy, AUROC and fit times for one noise setting."""
    X_tr, y_tr, X_te, y_te, settings = data
    rows = []
    for i, seed in enumerate(seeds):
        y_noisy, is_noisy = inject_label_noise(y_tr, rate, kind=kind, random_state=seed)
        fits, models = _fits(X_tr, y_noisy, seed, settings, storm_params)
        seconds = median_seconds(time_interleaved(fits, repeats=1, warmup=int(i == 0),
                                                  clock=time.process_time))
        storm = models["storm"]
        row = {
            "plain": _score(y_te, models["plain"].predict(X_te)),
            "storm": _score(y_te, storm.predict(X_te)),
            "auc": _auc(~is_noisy, storm.sample_weights_),
            "auc_mean": _auc(~is_noisy, storm.sample_weight_mean_),
            "plain_s": seconds["plain"], "storm_s": seconds["storm"],
            "ratio": seconds["storm"] / seconds["plain"],
            "cleanlab": float("nan"), "cleanlab_auc": float("nan"),
        }
        if with_cleanlab and np.ndim(y_tr) == 1:
            from cleanlab.classification import CleanLearning

            cl = CleanLearning(PlainSkorchClassifier(random_state=seed, **settings),
                               cv_n_folds=5, seed=seed, verbose=False).fit(X_tr, y_noisy)
            row["cleanlab"] = _score(y_te, cl.predict(X_te))
            row["cleanlab_auc"] = _auc(~is_noisy, cl.label_issues_df["label_quality"])
        rows.append(row)
    return {key: [r[key] for r in rows] for key in rows[0]}


COST_VARIANTS = {
    "default": {},
    "double backward": {"meta_gradient": "double_backward"},
    "jvp": {"meta_gradient": "jvp"},
    "meta_interval=2": {"meta_interval": 2},
}


def cost_rows(data, widths, epochs, seeds, repeats):
    """CPU seconds per step of STORM (default and variants) and of the plain fit.

    Each seed runs ``repeats`` interleaved rounds of every fit and keeps the
    median; the ratios are taken per seed.
    """
    X_tr, y_tr, _, _, settings = data
    y_noisy, _ = inject_label_noise(y_tr, 0.4, random_state=0)
    steps = epochs * -(-len(y_noisy) // settings.get("batch_size", 32))
    rows = []
    for width in widths:
        base = {**settings, "hidden_layer_sizes": (width,), "max_epochs": epochs}
        ratios = {name: [] for name in COST_VARIANTS}
        per_step = {name: [] for name in ["plain", *COST_VARIANTS]}
        for i, seed in enumerate(seeds):
            fits = {"plain": _fits(X_tr, y_noisy, seed, base)[0]["plain"]}
            for name, params in COST_VARIANTS.items():
                fits[name] = _fits(X_tr, y_noisy, seed, base, params)[0]["storm"]
            seconds = median_seconds(time_interleaved(fits, repeats=repeats,
                                                      warmup=int(i == 0),
                                                      clock=time.process_time))
            for name, value in seconds.items():
                per_step[name].append(value / steps)
            for name in ratios:
                ratios[name].append(seconds[name] / seconds["plain"])
        rows.append((width, per_step, ratios))
    return rows


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _fmt(values, digits=3):
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}"


def _quality_table(results, with_cleanlab):
    head = ["dataset", "noise", "STORM meta_interval", "plain skorch", "STORM",
            "AUROC weights (last epoch)",
            "AUROC weights (mean over epochs)"]
    keys = ["plain", "storm", "auc", "auc_mean"]
    if with_cleanlab:
        head += ["cleanlab CleanLearning", "AUROC cleanlab quality"]
        keys += ["cleanlab", "cleanlab_auc"]
    head += ["plain fit (s)", "STORM fit (s)", "STORM / plain"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, kind, rate, interval), row in results:
        noise = f"{kind} {rate}" if kind != "multilabel" else f"1→0 {rate[0]}, 0→1 {rate[1]}"
        cells = [str(interval)] + [_fmt(row[k]) for k in keys]
        cells += [_fmt(row["plain_s"], 1), _fmt(row["storm_s"], 1), _fmt(row["ratio"], 2)]
        lines.append(f"| {name} | {noise} | " + " | ".join(cells) + " |")
    return lines


def _cost_table(rows):
    head = ["hidden width", "plain skorch (ms/step)"]
    for name in COST_VARIANTS:
        head += [f"STORM {name} (ms/step)", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for width, per_step, ratios in rows:
        ms = {k: np.median(v) * 1e3 for k, v in per_step.items()}
        cells = [str(width), f"{ms['plain']:.2f}"]
        for name in COST_VARIANTS:
            cells += [f"{ms[name]:.2f}", _fmt(ratios[name], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _markdown(args, command, seeds, quality, cost, loads):
    epochs = 10 if args.quick else 30
    return "\n".join([
        "## STORM: noisy-label loss rescaling (`NoisyLabelRescaledClassifier`)",
        "",
        "Test accuracy on clean labels (micro-F1 for multi-label yeast) after training on noisy "
        f"labels; mean ± std over seeds {seeds}. Same network, Adam, batch 32 and epochs for "
        f"every model: digits/yeast an MLP with 256 hidden units and dropout 0.1 ({epochs} "
        "epochs, lr 1e-3), text TF-IDF + linear (10 epochs, lr 1e-2; STORM adds input dropout "
        "0.1 in its extra passes). The plain model is a skorch `NeuralNet` with the unweighted "
        "loss. AUROC: clean vs flipped training labels (entries for yeast) scored by STORM's "
        "`sample_weights_` (last epoch) and `sample_weight_mean_` (mean over the epochs). "
        "Times: CPU (process) seconds of one fit, the plain and the STORM fit of a seed run "
        "back to back after one warm-up of each; the ratio is taken per seed.",
        "",
        *_quality_table(quality, args.cleanlab),
        "",
        f"Cost of a step, digits at 40 % symmetric noise, batch 32, {args.cost_epochs} epochs: "
        "CPU (process) time of a fit over its steps, so that waits for other jobs on the "
        f"shared cores do not count; per seed ({seeds}) the median of {args.cost_repeats} "
        "interleaved rounds of every fit, then the median over seeds (ratios: mean ± std of "
        "the per-seed ratios). STORM by default (`meta_gradient=\"auto\"`: the closed-form "
        "step of the built-in network; `meta_interval=1`), with autograd's "
        "`meta_gradient=\"double_backward\"` and `\"jvp\"`, and with `meta_interval=2`:",
        "",
        *_cost_table(cost),
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()} CPU, {os.cpu_count()} cores shared with other jobs "
        f"(load average over 1, 5, 15 min: {loads[0]} at the start, {loads[1]} at the end), "
        f"torch {torch.__version__}, one torch/BLAS thread.",
        "",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits at 40%% symmetric noise, 10 epochs, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["digits", "yeast"],
                        choices=sorted(DATASETS))
    parser.add_argument("--all-noise", action="store_true",
                        help="every noise setting of a dataset, not only the first "
                             "with noise (digits: 40%% symmetric)")
    parser.add_argument("--cleanlab", action="store_true",
                        help="add cleanlab's CleanLearning (single-label only)")
    parser.add_argument("--meta-intervals", type=int, nargs="+", default=[1, 2],
                        help="STORM's meta_interval values in the quality table")
    parser.add_argument("--cost-epochs", type=int, default=5)
    parser.add_argument("--cost-repeats", type=int, default=3,
                        help="interleaved rounds of every fit per seed in the cost table")
    add_output_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    target = output_path("storm", args.output, quick=args.quick)
    seeds = args.seeds[:1] if args.quick else args.seeds
    datasets = ["digits"] if args.quick else args.datasets
    if args.quick:
        args.cost_epochs, args.cost_repeats = 1, 1
    command = "python benchmarks/bench_storm.py " + " ".join(argv)
    quality = []
    start_load = load_average()
    with limit_threads(1):
        for name in datasets:
            make, settings = DATASETS[name]
            data = make(args.quick)
            if not args.all_noise:
                settings = [s for s in settings if s[1]][:1]
                if name == "digits":
                    settings = [("symmetric", 0.4)]
            for (kind, rate), interval in itertools.product(settings, args.meta_intervals):
                row = quality_row(data, kind, rate, seeds, args.cleanlab and interval == 1,
                                  {"meta_interval": interval})
                quality.append(((name, kind, rate, interval), row))
                print(_quality_table(quality, args.cleanlab)[-1], flush=True)
        cost = cost_rows(_digits(10), [256, 1024], args.cost_epochs, seeds, args.cost_repeats)
    loads = (start_load, load_average())
    markdown = _markdown(args, command.strip(), seeds, quality, cost, loads)
    print(markdown)
    write_result(target, markdown)


if __name__ == "__main__":
    main()
