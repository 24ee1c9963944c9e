"""CPU kernel choices behind STORM's features and PU-MLC's temperature.

Three small computations run once or twice per training step, so which torch
kernel does them shows in a fit. This script times each as the package writes
it against the direct torch call it replaced, at the sizes the estimators meet,
checks that both give the same values, and times one STORM featurisation:

- the mean and std of a unit's loss and confidence over STORM's passes
  (``torch.std_mean`` over the short passes dimension against
  ``_std_mean_over_passes``, which writes them out beyond 64 units);
- the group sums of STORM's feature table (``members.T @ X`` against
  ``_group_sums``: ``(X.T @ members).T``, made contiguous);
- PU-MLC's logit spread over the batch (``torch.std`` against the weighted
  formula ``_weighted_spread`` uses in every fit).

    python benchmarks/bench_kernels.py [--quick] [--output PATH]
"""

import argparse
import platform
import time
from functools import partial

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

from sklearn_losses._pu._loss import _weighted_spread
from sklearn_losses._storm._features import FeatureMemory, _group_sums, _std_mean_over_passes

N_PASSES = 3


def _calls(function, n):
    def run():
        for _ in range(n):
            function()
    return run


def _time_pair(direct, ours, calls, repeats):
    """Microseconds per call of both, interleaved, and their largest value gap."""
    gap = max(float((a - b).abs().max()) for a, b in zip(_as_tuple(direct()),
                                                          _as_tuple(ours())))
    seconds = median_seconds(time_interleaved(
        {"direct": _calls(direct, calls), "ours": _calls(ours, calls)},
        repeats=repeats, clock=time.process_time))
    return 1e6 * seconds["direct"] / calls, 1e6 * seconds["ours"] / calls, gap


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _row(case, direct, ours, gap):
    return f"| {case} | {direct:.0f} | {ours:.0f} | {direct / ours:.2f} | {gap:.1e} |"


def passes_rows(units, calls, repeats):
    rows = []
    for n in units:
        g = torch.Generator().manual_seed(n)
        statistics = torch.rand(N_PASSES, n, 2, generator=g)
        direct = partial(torch.std_mean, statistics, dim=0)
        ours = partial(_std_mean_over_passes, statistics)
        rows.append(_row(f"std and mean over {N_PASSES} passes, {n} units",
                         *_time_pair(direct, ours, calls, repeats)))
    return rows


def group_rows(shapes, calls, repeats):
    rows = []
    for groups, n_rows in shapes:
        g = torch.Generator().manual_seed(groups)
        ids = torch.randint(groups, (n_rows,), generator=g)
        # A column slice of a wider table, as the feature table is read.
        X = torch.rand(n_rows, 19, generator=g)[:, :6]
        members = (ids[:, None] == torch.arange(groups)).float()
        direct = partial(torch.mm, members.T, X)
        ours = partial(_group_sums, X, members)
        rows.append(_row(f"group sums, {groups} groups x {n_rows} rows x 6 columns",
                         *_time_pair(direct, ours, calls, repeats)))
    return rows


def spread_rows(shapes, calls, repeats):
    rows = []
    for n, labels in shapes:
        g = torch.Generator().manual_seed(labels)
        logits = torch.randn(n, labels, generator=g)
        weight = torch.ones(n)
        direct = partial(torch.std, logits, dim=0, unbiased=False)
        ours = partial(_weighted_spread, logits, weight)
        rows.append(_row(f"logit spread, {n} rows x {labels} labels",
                         *_time_pair(direct, ours, calls, repeats)))
    return rows


def featurize_rows(settings, calls, repeats):
    """One featurisation of a batch, as in a STORM step (the memory full)."""
    rows = []
    for name, n_groups, units, size, per_label in settings:
        g = torch.Generator().manual_seed(units)
        memory = FeatureMemory(n_groups, size)
        loss, confidence = torch.rand(2, N_PASSES, units, generator=g)
        correct = torch.rand(N_PASSES, units, generator=g) > 0.3
        if per_label:
            labels = n_groups // 2
            value = torch.rand(units // labels, labels, generator=g) > 0.7
            groups = (2 * torch.arange(labels) + value.long()).reshape(-1)
        else:
            groups = torch.randint(n_groups, (units,), generator=g)
        featurize = partial(memory.featurize, loss, confidence, correct, groups)
        seconds = median_seconds(time_interleaved({"f": _calls(featurize, calls)},
                                                  repeats=repeats, warmup=2,
                                                  clock=time.process_time))
        rows.append(f"| {name} | {units} | {1e6 * seconds['f'] / calls:.0f} |")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few calls, one repeat")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("kernels", args.output, quick=args.quick)
    calls, repeats = (20, 1) if args.quick else (200, 5)
    load_start = load_average()
    with limit_threads(1):
        kernel_rows = [
            *passes_rows([32, 448, 1792], calls, repeats),
            *group_rows([(21, 353), (29, 1153), (57, 5377)], calls, repeats),
            *spread_rows([(128, 14), (128, 159), (256, 983)], calls, repeats),
        ]
        features = featurize_rows([
            ("digits: 10 classes, batch 32, memory 32", 10, 32, 32, False),
            ("Yeast per label: 14 labels, batch 32, memory 32", 28, 448, 32, True),
            ("Yeast per label: 14 labels, batch 128, memory 128", 28, 1792, 128, True),
        ], max(calls // 10, 2), repeats)
    command = "python benchmarks/bench_kernels.py" + (" --quick" if args.quick else "")
    write_result(target, "\n".join([
        "## CPU kernels behind STORM's features and PU-MLC's temperature",
        "",
        "CPU (process) time per call in microseconds, median of interleaved repeats after a "
        "warm-up, one torch/BLAS thread. `direct`: the torch call the package used before; "
        "`ours`: the package's function now (`_std_mean_over_passes` keeps "
        "`torch.std_mean` up to 64 units, `_group_sums`, `_weighted_spread`). Gap: the "
        "largest difference between the two results (float32 rounding).",
        "",
        "| computation | direct (µs) | ours (µs) | speed-up | gap |",
        "|---|---|---|---|---|",
        *kernel_rows,
        "",
        "One STORM featurisation of a batch (`FeatureMemory.featurize`, memory full), the "
        "package as it is:",
        "",
        "| setting | units | µs per call |",
        "|---|---|---|",
        *features,
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()} CPU, torch {torch.__version__}; load average "
        f"{load_start} at the start, {load_average()} at the end.",
        "",
    ]))


if __name__ == "__main__":
    main()
