"""Framework overhead: estimator fit time vs a bare hand-written torch loop, on the CPU.

For each torch-backed estimator, the bare loop (``_loops.py``) trains the *same*
network with the *same* loss, optimiser, learning rate, epochs and batch size on
the same float32 tensors. The ratio ``estimator / bare`` is what the
scikit-learn interface costs. A plain ``skorch.NeuralNet`` fit of the hybrid
network with BCE is shown too: skorch's default DataLoader path is the bar to
beat, not the goal.

STORM's estimator does a meta-learning step per batch that a plain loop does not,
so its row compares against plain training of the same network and is labelled as
such: it measures the method's cost, not framework overhead.

All fits are warmed up once, then timed in interleaved rounds (median of the
rounds), with one torch and BLAS thread.

Usage::

    python benchmarks/bench_overhead.py            # Yeast, 30 epochs, batch 128, 5 rounds
    python benchmarks/bench_overhead.py --quick    # 5 epochs, 2 rounds, not comparable
"""

import argparse
import platform
import sys

import numpy as np
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
from _loops import PlainBCE, bare_loop, fixed_epochs, plain_bce_loop, pu_loop
from sklearn.preprocessing import StandardScaler

from sklearn_losses import (
    HybridLossMultiLabelClassifier,
    NoisyLabelRescaledClassifier,
    PUMultiLabelClassifier,
)
from sklearn_losses.datasets import load_yeast


def _plain_skorch(estimator, X, Y, epochs, batch_size, seed):
    torch.manual_seed(seed)
    net = skorch.NeuralNet(
        estimator._build_module(X.shape[1], Y.shape[1]), PlainBCE, optimizer=torch.optim.AdamW,
        lr=estimator.lr, max_epochs=epochs, batch_size=batch_size, train_split=None,
        device="cpu", verbose=0,
    )
    return net.fit(X, Y)


def cases(epochs, batch_size, seed):
    """(name, reference, estimator, loop) rows of the table."""
    common = dict(batch_size=batch_size, device="cpu", random_state=seed, **fixed_epochs(epochs))
    return [
        ("HybridLossMultiLabelClassifier", "same net + hybrid loss",
         HybridLossMultiLabelClassifier(**common), bare_loop),
        ("HybridLossMultiLabelClassifier, BCE only", "same net + BCE",
         HybridLossMultiLabelClassifier(corr_weight=0.0, contrastive_weight=0.0,
                                        pos_weighting=None, **common), bare_loop),
        ("PUMultiLabelClassifier", "same net + PU-MLC loss + MixUp",
         PUMultiLabelClassifier(**common), pu_loop),
        ("NoisyLabelRescaledClassifier", "plain BCE loop (method cost, incl. meta step)",
         NoisyLabelRescaledClassifier(**common), plain_bce_loop),
    ]


def run(epochs, batch_size, seed, repeats):
    X, Y = load_yeast(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    Y = Y.astype(np.float32)
    rows = []
    for name, reference, estimator, loop in cases(epochs, batch_size, seed):
        functions = {
            "fit": lambda e=estimator: e.fit(X, Y),
            "bare": lambda e=estimator, f=loop: f(e, X, Y, epochs, batch_size, seed),
        }
        if name.endswith("BCE only"):
            functions["skorch"] = lambda e=estimator: _plain_skorch(e, X, Y, epochs,
                                                                    batch_size, seed)
        rows.append((name, reference, median_seconds(time_interleaved(functions,
                                                                      repeats=repeats))))
    return rows


def _markdown(rows, args, command, loads):
    lines = [
        "| estimator | bare loop | estimator fit (s) | bare loop (s) | ratio | plain skorch (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, reference, t in rows:
        skorch_seconds = f"{t['skorch']:.2f}" if "skorch" in t else ""
        lines.append(f"| {name} | {reference} | {t['fit']:.2f} | {t['bare']:.2f} "
                     f"| {t['fit'] / t['bare']:.2f} | {skorch_seconds} |")
    header = (
        f"Yeast (2417 x 103, 14 labels), {args.epochs} epochs, batch {args.batch_size}, "
        f"one warm-up then the median of {args.repeats} interleaved rounds, one torch/BLAS "
        f"thread, CPU.\nCommand: `{command}`. Machine: "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}; load "
        f"average (1, 5, 15 min) {loads[0]} at the start, {loads[1]} at the end.\n\n"
    )
    return "## Framework overhead (CPU)\n\n" + header + "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="5 epochs, 2 rounds")
    add_output_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 5, 2
    target = output_path("overhead", args.output, quick=args.quick)
    command = " ".join(["python benchmarks/bench_overhead.py", *argv])
    load_before = load_average()
    with limit_threads(1):
        rows = run(args.epochs, args.batch_size, args.seed, args.repeats)
    table = _markdown(rows, args, command, (load_before, load_average()))
    print(table)
    write_result(target, table)


if __name__ == "__main__":
    main()
