"""The hybrid loss's label-correlation penalties against their masked definitions.

``correlation_alignment_loss`` standardises the batch's columns and takes one
(labels, labels) product ("align"), and expands the pairwise gaps of "smooth"
into products instead of a (batch, labels, labels) tensor. This script times a
forward and backward pass of each against the penalty written straight from
its definition (masked (labels, labels) arrays, the gap tensor), checks that
both give the same value, and writes the table.

    python benchmarks/bench_penalties.py [--quick] [--output PATH]
"""

import argparse
import platform
import time

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

from sklearn_losses.losses import correlation_alignment_loss

BATCH = 128


def masked_penalty(proba, correlation, mode, eps=1e-2):
    """Both penalties as written in their definitions."""
    off_diagonal = 1 - torch.eye(proba.shape[1], dtype=proba.dtype)
    if mode == "smooth":
        affinity = torch.relu(correlation) * off_diagonal
        gaps = (proba[:, :, None] - proba[:, None, :]) ** 2
        return (gaps * affinity / affinity.sum()).sum((1, 2)).mean()
    centred = proba - proba.mean(0)
    covariance = centred.T @ centred / len(proba)
    scale = torch.sqrt(torch.diagonal(covariance) + eps)
    gap = covariance / torch.outer(scale, scale) - correlation
    return (gap**2 * off_diagonal).sum() / off_diagonal.sum()


def _data(n_labels, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(500, n_labels, generator=g) < 0.1).float()
    correlation = torch.corrcoef(labels.T).nan_to_num()
    return torch.randn(BATCH, n_labels, generator=g), correlation


def _step(penalty, logits, correlation, mode, calls):
    def run():
        for _ in range(calls):
            x = logits.clone().requires_grad_()
            penalty(torch.sigmoid(x), correlation, mode=mode).backward()
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two label counts, one repeat")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("penalties", args.output, quick=args.quick)
    sizes = [14, 159] if args.quick else [14, 159, 947]
    repeats = 1 if args.quick else 5
    load_start = load_average()
    rows = []
    with limit_threads(1):
        for n_labels in sizes:
            logits, correlation = _data(n_labels)
            for mode in ("align", "smooth"):
                if mode == "smooth" and n_labels > 500:
                    continue  # the gap tensor alone would take 460 MB
                proba = torch.sigmoid(logits)
                ours = float(correlation_alignment_loss(proba, correlation, mode=mode))
                ref = float(masked_penalty(proba, correlation, mode))
                calls = 200 if n_labels < 100 else 20
                seconds = median_seconds(time_interleaved(
                    {"ours": _step(correlation_alignment_loss, logits, correlation, mode, calls),
                     "masked": _step(masked_penalty, logits, correlation, mode, calls)},
                    repeats=repeats, clock=time.process_time))
                ms = {k: 1e3 * v / calls for k, v in seconds.items()}
                rows.append(f"| {n_labels} | {mode} | {ms['masked']:.3f} | {ms['ours']:.3f} "
                            f"| {ms['masked'] / ms['ours']:.1f} | {abs(ours - ref):.1e} |")
    command = "python benchmarks/bench_penalties.py" + (" --quick" if args.quick else "")
    table = "\n".join([
        "## Hybrid loss: label-correlation penalties",
        "",
        f"Forward and backward of the penalty on a batch of {BATCH} rows, CPU (process) "
        "time per call, median of the interleaved repeats after a warm-up, one torch/BLAS "
        "thread; `masked` is the penalty written from its definition (the form the package "
        "used before), `ours` is `correlation_alignment_loss`. |value gap|: the two "
        "penalties' values, which agree up to float32 rounding.",
        "",
        "| labels | mode | masked (ms) | ours (ms) | speed-up | value gap |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()} CPU, torch {torch.__version__}; load average "
        f"{load_start} at the start, {load_average()} at the end.",
        "",
    ])
    write_result(target, table)


if __name__ == "__main__":
    main()
