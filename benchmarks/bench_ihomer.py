"""Prequential (test-then-train) benchmark of IHOMERClassifier against river.

Every stream is read once in row order, one row per call: each row is
predicted, then learned (``predict`` then ``partial_fit`` of a 1-row array
for IHOMERClassifier, ``predict_one`` then ``learn_one`` of a dict for
river). That is how stream users drive a learner. The river baseline is
binary relevance, ``StandardScaler | PerOutputClassifier(LogisticRegression())``
(BR-LR); it gets sparse dicts for sparse data, its natural input.

Three tables:

1. **Throughput**, one thread: rows are materialised before timing (1-row
   arrays for IHOMER, dicts for river), each learner warms up on a throwaway
   copy, and the timed passes alternate between learners (median of
   ``--repeats``). inst/s counts predict + learn.
2. **The paper's table** (Neves et al., ECAI 2025): subset accuracy and
   micro-F1 of iHOMER and MLHAT as published, beside ours (plus macro-F1,
   the paper's weak point) and river BR-LR.
3. **Label clustering**: IHOMER's label tree against one global cluster
   (``max_clusters=1``) and against singletons (local: the benchmark replaces
   the tree's partition by one cluster per label) on larger label spaces, with the resident memory
   after 10 % of the stream and at its end (flat memory: a stream learner's
   state must not grow), the pickled model size, and how the labels ended up
   (cluster sizes, which predictor each label uses).

Usage::

    python benchmarks/bench_ihomer.py --quick            # Yeast only, to /tmp
    python benchmarks/bench_ihomer.py                    # writes results/ihomer.md
    python benchmarks/bench_ihomer.py --paper yeast enron --clustering bibtex
"""

import argparse
import functools
import pickle
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp
import torch
from _common import (
    add_output_argument,
    limit_threads,
    load_average,
    median_seconds,
    output_path,
    resident_mb,
    time_interleaved,
    write_result,
)
from sklearn.metrics import f1_score

from sklearn_losses import IHOMERClassifier
from sklearn_losses.datasets import load_multilabel_dataset, load_yeast

# Neves et al. (ECAI 2025), results CSVs of github.com/larasneves/iHomer:
# (subset accuracy, micro-F1) of iHOMER and of MLHAT.
PAPER = {
    "yeast": ((0.142, 0.608), (0.131, 0.598)),
    "emotions": ((0.160, 0.463), (0.136, 0.445)),
    "enron": ((0.049, 0.395), (0.091, 0.436)),
    "20ng": ((0.601, 0.699), (0.526, 0.662)),
}


def load_stream(name):
    """``(X, Y)`` of a named stream, rows in file order."""
    data = load_yeast() if name == "yeast" else load_multilabel_dataset(name)
    return data.data, np.asarray(data.target)


def _ihomer_rows(X):
    """One float32 1-row array per instance (dense, as a stream delivers it)."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return [row[None] for row in X.astype(np.float32)]


def _river_rows(X):
    if sp.issparse(X):
        X = X.tocsr()
        return [dict(zip(X.indices[a:b].tolist(), X.data[a:b].tolist()))
                for a, b in zip(X.indptr[:-1], X.indptr[1:])]
    return [dict(enumerate(row.tolist())) for row in np.asarray(X)]


def _singletons(n_labels, min_cluster_size=1):
    return tuple((label,) for label in range(n_labels))


def run_ihomer(rows, Y, params, memory=None, local=False):
    """One-row-per-call prequential pass; returns the predictions and the model.

    ``memory``, a list, receives the resident memory after 10 % of the rows
    and at the end. ``local=True`` is the local baseline: the label tree's
    partition is replaced by singletons (every label its own cluster, from
    the first restructure on, after 100 rows).
    """
    model = IHOMERClassifier(**params)
    preds = np.zeros(Y.shape, dtype=np.int8)
    labels = [y[None] for y in Y]
    model.partial_fit(rows[0], labels[0])
    if local:
        model.label_tree_.partition = functools.partial(_singletons, Y.shape[1])
    for i in range(1, len(rows)):
        preds[i] = model.predict(rows[i])[0]
        model.partial_fit(rows[i], labels[i])
        if memory is not None and i in (len(rows) // 10, len(rows) - 1):
            memory.append(resident_mb())
    return preds, model


def _br_lr():
    from river import compose, linear_model, multioutput, preprocessing

    return compose.Pipeline(
        preprocessing.StandardScaler(),
        multioutput.PerOutputClassifier(linear_model.LogisticRegression()),
    )


def run_river(rows, Y, memory=None):
    model = _br_lr()
    preds = np.zeros(Y.shape, dtype=np.int8)
    targets = [dict(enumerate(y.astype(bool).tolist())) for y in Y]
    for i, (x, y) in enumerate(zip(rows, targets)):
        if i:
            pred = model.predict_one(x) or {}
            preds[i] = [pred.get(j, False) for j in range(Y.shape[1])]
        model.learn_one(x, y)
        if memory is not None and i in (len(rows) // 10, len(rows) - 1):
            memory.append(resident_mb())
    return preds, model


def scores(Y, P):
    """Metrics over every tested row (row 0 is only learned)."""
    Y, P = Y[1:], P[1:]
    return {
        "example_f1": f1_score(Y, P, average="samples", zero_division=1),
        "micro_f1": f1_score(Y, P, average="micro", zero_division=0),
        "macro_f1": f1_score(Y, P, average="macro", zero_division=0),
        "subset_accuracy": float((Y == P).all(axis=1).mean()),
    }


def throughput(name, repeats):
    """Median inst/s of IHOMER and river BR-LR, timed passes interleaved."""
    X, Y = load_stream(name)
    ours, theirs = _ihomer_rows(X), _river_rows(X)
    out = {}

    def ihomer():
        out["ihomer"] = run_ihomer(ours, Y, {"random_state": 0})[0]

    def river():
        out["river"] = run_river(theirs, Y)[0]

    seconds = median_seconds(time_interleaved({"ihomer": ihomer, "river": river},
                                              repeats=repeats, warmup=1))
    return [(name, label, len(Y) / seconds[key], scores(Y, out[key]))
            for key, label in (("ihomer", "IHOMERClassifier"), ("river", "BR-LR (river)"))]


def timed(function):
    """Run once; return its result and the seconds it took."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def paper_rows(name, with_river):
    X, Y = load_stream(name)
    rows = _ihomer_rows(X)
    (preds, model), seconds = timed(lambda: run_ihomer(rows, Y, {"random_state": 0}))
    out = [(name, "IHOMERClassifier", len(Y) / seconds, scores(Y, preds),
            f"{model.n_clusters_} clusters")]
    if with_river:
        river_input = _river_rows(X)
        (preds, _), seconds = timed(lambda: run_river(river_input, Y))
        out.append((name, "BR-LR (river)", len(Y) / seconds, scores(Y, preds), ""))
    return out


def _describe(model):
    """Clusters and the predictor each label ends with (why clustering helps or not)."""
    sizes = np.bincount([len(c) for c in model.label_partition_])
    modes = np.bincount(model.learners_.snap_label_mode, minlength=4)
    return (f"{model.n_clusters_} clusters ({sizes[1:3].sum()} of size 1-2, largest "
            f"{len(sizes) - 1}), {model.n_restructures_} restructures; labels by predictor "
            f"kNN/BR/LP/pure: {'/'.join(map(str, modes))}")


def _memory(memory, model):
    return (f"RSS {memory[0]:.0f} -> {memory[1]:.0f} MiB from 10 % of the stream to its "
            f"end, model {len(pickle.dumps(model)) / 2**20:.1f} MiB pickled")


def clustering_rows(name, with_river):
    X, Y = load_stream(name)
    rows = _ihomer_rows(X)
    out = []
    for label, params, local in (("IHOMERClassifier", {}, False),
                                 ("global: max_clusters=1", {"max_clusters": 1}, False),
                                 ("local: singleton clusters", {}, True)):
        memory = []
        (preds, model), seconds = timed(lambda p=params, m=memory, s=local: run_ihomer(
            rows, Y, {"random_state": 0, **p}, m, local=s))
        out.append((name, label, len(Y) / seconds, scores(Y, preds),
                    f"{_describe(model)}; {_memory(memory, model)}"))
        print(_row(out[-1]), flush=True)
    if with_river:
        river_input, memory = _river_rows(X), []
        (preds, model), seconds = timed(lambda: run_river(river_input, Y, memory))
        out.append((name, "BR-LR (river)", len(Y) / seconds, scores(Y, preds),
                    f"predicts {preds[1:].sum() / Y[1:].sum():.0%} as many positives as "
                    f"there are; {_memory(memory, model)}"))
        print(_row(out[-1]), flush=True)
    return out


def _row(row):
    name, label, rate, metrics, *note = row
    cells = [name, label] + [f"{metrics[m]:.3f}" for m in
                             ("example_f1", "micro_f1", "macro_f1", "subset_accuracy")]
    return "| " + " | ".join(cells + [f"{rate:,.0f}", *(note or [""])]) + " |"


def _paper_row(row):
    name, label, rate, metrics, *_ = row
    (i_sub, i_mic), (m_sub, m_mic) = PAPER[name]
    cells = [name, label, f"{metrics['subset_accuracy']:.3f} / {metrics['micro_f1']:.3f}",
             f"{metrics['macro_f1']:.3f}", f"{i_sub:.3f} / {i_mic:.3f}",
             f"{m_sub:.3f} / {m_mic:.3f}", f"{rate:,.0f}"]
    return "| " + " | ".join(cells) + " |"


HEAD = ("| stream | model | example-F1 | micro-F1 | macro-F1 | subset acc. | inst/s | notes |\n"
        "|---|---|---|---|---|---|---|---|")


def markdown(speed, paper, clusters, command, loads):
    lines = [
        "## iHOMER: prequential multi-label stream learning, one row per call",
        "",
        "Every row is predicted, then learned (`predict` + `partial_fit` of one row; "
        "river: `predict_one` + `learn_one`). Metrics over every row but the first. "
        "IHOMERClassifier defaults, `random_state=0`; it learns in steps of "
        "`batch_size=16` rows whatever the call size.",
        "",
    ]
    if speed:
        lines += ["### Throughput, one thread (median of interleaved passes)", "", HEAD,
                  *[_row(r) for r in speed], ""]
    if paper:
        lines += ["### Beside the paper (Neves et al., ECAI 2025)", "",
                  "Paper columns as published (iHOMER's repository CSVs); one pass, "
                  "subset accuracy / micro-F1.", "",
                  "| stream | model | ours: subset / micro-F1 | ours: macro-F1 | "
                  "paper iHOMER | paper MLHAT | inst/s |",
                  "|---|---|---|---|---|---|---|", *[_paper_row(r) for r in paper], ""]
    if clusters:
        lines += ["### Label clustering against one global cluster and singletons", "", HEAD,
                  *[_row(r) for r in clusters], ""]
    lines += [f"Command: `{command}`", "",
              f"Machine: 2-core CPU shared with other jobs, one thread, torch "
              f"{torch.__version__.split('+')[0]} CPU, Python {platform.python_version()}; load "
              f"average (1, 5, 15 min) {loads[0]} at the start, {loads[1]} at the end.",
              ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="throughput on Yeast only, one repeat")
    parser.add_argument("--speed", nargs="*", default=["yeast", "enron"])
    parser.add_argument("--paper", nargs="*", default=["yeast", "emotions", "enron", "20ng"])
    parser.add_argument("--clustering", nargs="*",
                        default=["bibtex", "corel5k", "delicious"])
    parser.add_argument("--river-paper", nargs="*", default=["yeast", "emotions", "enron"],
                        help="paper-table streams that also run river BR-LR")
    parser.add_argument("--river-clustering", nargs="*", default=["bibtex", "corel5k"],
                        help="clustering-table streams that also run river BR-LR")
    parser.add_argument("--repeats", type=int, default=3)
    add_output_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.speed, args.paper, args.clustering, args.repeats = ["yeast"], [], [], 1
    target = output_path("ihomer", args.output, quick=args.quick)
    speed, paper, clusters = [], [], []
    load_before = load_average()
    with limit_threads(1):
        for name in args.speed:
            speed += throughput(name, args.repeats)
            print(*map(_row, speed[-2:]), sep="\n", flush=True)
        for name in args.paper:
            rows = paper_rows(name, name in args.river_paper)
            print(*map(_paper_row, rows), sep="\n", flush=True)
            paper += rows
        for name in args.clustering:
            clusters += clustering_rows(name, name in args.river_clustering)
    command = " ".join(["python benchmarks/bench_ihomer.py", *sys.argv[1:]])
    write_result(target, markdown(speed, paper, clusters, command,
                                  (load_before, load_average())))


if __name__ == "__main__":
    main()
