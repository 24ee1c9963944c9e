"""Framework overhead: estimator fit time vs a bare hand-written torch loop.

For each torch-backed estimator, the bare loop trains the *same* network
(``estimator._build_module``) with the *same* loss (``estimator._build_criterion``),
optimiser, learning rate, epochs and batch size on the same float32 tensors, with
none of the estimator's validation, skorch callbacks or history. The ratio
``estimator / bare`` is what the scikit-learn interface costs.

STORM's estimator does a meta-learning step per batch that a plain loop does not,
so its row compares against plain training of the same network and is labelled as
such: it measures the method's cost, not framework overhead.

Usage::

    python benchmarks/bench_overhead.py            # Yeast, 30 epochs, batch 128
    python benchmarks/bench_overhead.py --quick    # 5 epochs
"""

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from sklearn_losses import (
    HybridLossMultiLabelClassifier,
    NoisyLabelRescaledClassifier,
    PUMultiLabelClassifier,
)
from sklearn_losses._engine._base import _as_logits
from sklearn_losses.datasets import load_yeast
from sklearn_losses.losses import pumlc_mixup_penalty

RESULTS = Path(__file__).resolve().parent / "results" / "overhead.md"


def _bare_loop(estimator, X, Y, epochs, batch_size, seed, penalty=None):
    """Train the estimator's network and loss with a minimal torch loop.

    ``penalty(module, X_batch, logits, Y_batch)`` adds a per-batch term that needs
    the module (PU-MLC's MixUp).
    """
    torch.manual_seed(seed)
    module = estimator._build_module(X.shape[1], Y.shape[1])
    weight = np.ones(len(X), dtype=np.float32)
    criterion = estimator._build_criterion(Y, weight)
    optimizer_class, optimizer_kwargs = estimator._optimizer()
    optimizer = optimizer_class(module.parameters(), lr=estimator.lr, **optimizer_kwargs)
    X_t, Y_t, w_t = torch.from_numpy(X), torch.from_numpy(Y), torch.from_numpy(weight)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            output = module(X_t[batch])
            loss = criterion(output, Y_t[batch], weight=w_t[batch])
            if penalty is not None:
                loss = loss + penalty(module, X_t[batch], _as_logits(output), Y_t[batch])
            loss.backward()
            optimizer.step()
    return module


def _pu_loop(estimator, X, Y, epochs, batch_size, seed):
    def mixup(module, X_batch, logits, Y_batch):
        penalty = pumlc_mixup_penalty(module, X_batch, logits, Y_batch, estimator.mixup_alpha)
        return estimator.mixup_weight * penalty

    return _bare_loop(estimator, X, Y, epochs, batch_size, seed, penalty=mixup)


def _plain_bce_loop(estimator, X, Y, epochs, batch_size, seed):
    """Plain BCE training of the estimator's network (the STORM reference)."""
    torch.manual_seed(seed)
    module = estimator._build_module(X.shape[1], Y.shape[1])
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss_fn(_as_logits(module(X_t[batch])), Y_t[batch]).backward()
            optimizer.step()
    return module


def _timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def run(epochs, batch_size, seed):
    X, Y = load_yeast(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    Y = Y.astype(np.float32)
    common = dict(max_epochs=epochs, batch_size=batch_size, device="cpu", random_state=seed)
    cases = [
        ("HybridLossMultiLabelClassifier", HybridLossMultiLabelClassifier(**common),
         _bare_loop, "same net + hybrid loss"),
        ("PUMultiLabelClassifier", PUMultiLabelClassifier(**common), _pu_loop,
         "same net + PU-MLC loss + MixUp"),
        ("NoisyLabelRescaledClassifier", NoisyLabelRescaledClassifier(**common),
         _plain_bce_loop, "plain BCE loop (method cost, incl. meta step)"),
    ]
    rows = []
    for name, estimator, loop, reference in cases:
        fit_seconds = _timed(estimator.fit, X, Y)
        bare_seconds = _timed(loop, estimator, X, Y, epochs, batch_size, seed)
        rows.append((name, reference, fit_seconds, bare_seconds))
    return rows


def _markdown(rows, args):
    lines = [
        "| estimator | bare loop | estimator fit (s) | bare loop (s) | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, reference, fit_seconds, bare_seconds in rows:
        lines.append(
            f"| {name} | {reference} | {fit_seconds:.2f} | {bare_seconds:.2f} "
            f"| {fit_seconds / bare_seconds:.2f} |"
        )
    command = "python benchmarks/bench_overhead.py" + (" --quick" if args.quick else "")
    header = (
        f"Yeast (2417 x 103, 14 labels), {args.epochs} epochs, batch {args.batch_size}, "
        f"one run, torch threads = {torch.get_num_threads()}.\n"
        f"Command: `{command}`. Machine: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}.\n\n"
    )
    return header + "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="5 epochs")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 5
    torch.set_num_threads(args.threads)
    table = _markdown(run(args.epochs, args.batch_size, args.seed), args)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("## Framework overhead\n\n" + table)


if __name__ == "__main__":
    main()
