"""GPU figures: estimator epochs against a bare loop on the same device, and GPU vs CPU.

On 100k x 256 dense rows with 20 labels (structured, so the losses are real),
batches of 512 and 4096, each estimator trains a fixed number of epochs and is
compared with the bare loop of ``_loops.py`` (same network, loss, optimiser and
batch size, data already on the device). The same fit on the CPU (all cores)
gives the GPU speed-up. A fit run under ``torch.cuda.set_sync_debug_mode("warn")``
counts the host synchronisations, which should be about one per epoch. iHOMER
is timed per instance (one row per ``partial_fit``) on both devices.

On a machine without CUDA the script says so and exits 0, unless ``--device
cpu`` asks for a CPU-only smoke run of the same code.

Usage::

    python benchmarks/bench_gpu.py                 # needs CUDA
    python benchmarks/bench_gpu.py --quick --device cpu   # smoke run of the code path
"""

import argparse
import platform
import sys
import time
import warnings

import numpy as np
import torch
from _common import add_output_argument, output_path, write_result
from _loops import bare_loop, fixed_epochs, plain_bce_loop, pu_loop

from sklearn_losses import (
    HybridLossMultiLabelClassifier,
    IHOMERClassifier,
    NoisyLabelRescaledClassifier,
    PUMultiLabelClassifier,
)


def make_data(n_rows, n_features, n_labels, seed=0):
    """Dense float32 rows whose labels are noisy linear functions of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    W = rng.normal(size=(n_features, n_labels)) / np.sqrt(n_features)
    scores = X @ W + 0.5 * rng.normal(size=(n_rows, n_labels))
    Y = (scores > np.quantile(scores, 0.8, axis=0)).astype(np.float32)
    return X, Y


def _synchronise(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _seconds(function, device, warmup=True):
    if warmup:
        function()
    _synchronise(device)
    start = time.perf_counter()
    function()
    _synchronise(device)
    return time.perf_counter() - start


def estimators(batch_size, epochs, device):
    common = dict(batch_size=batch_size, device=device, random_state=0, **fixed_epochs(epochs))
    return [
        ("hybrid", HybridLossMultiLabelClassifier(**common), bare_loop),
        ("hybrid, BCE only", HybridLossMultiLabelClassifier(
            corr_weight=0.0, contrastive_weight=0.0, pos_weighting=None, **common), bare_loop),
        ("PU-MLC", PUMultiLabelClassifier(**common), pu_loop),
        ("STORM (vs plain BCE)", NoisyLabelRescaledClassifier(**common), plain_bce_loop),
    ]


def count_syncs(estimator, X, Y):
    """Host synchronisations of one fit, from CUDA's sync debug mode."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator.fit(X, Y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def epoch_rows(X, Y, batch_sizes, epochs, device, cpu_threads):
    rows = []
    for batch_size in batch_sizes:
        for name, estimator, loop in estimators(batch_size, epochs, device):
            if name.startswith("STORM") and batch_size > 512:
                continue  # STORM's figure is defined at small batches
            fit = _seconds(lambda e=estimator: e.fit(X, Y), device) / epochs
            bare = _seconds(lambda e=estimator, f=loop, b=batch_size: f(e, X, Y, epochs, b, 0,
                                                                       device), device) / epochs
            row = {"name": name, "batch": batch_size, "fit": fit, "bare": bare}
            if device.startswith("cuda"):
                cpu = estimator.set_params(device="cpu", n_jobs=cpu_threads)
                row["cpu"] = _seconds(lambda e=cpu: e.fit(X, Y), "cpu", warmup=False) / epochs
                row["syncs"] = count_syncs(estimator.set_params(device=device), X, Y)
            rows.append(row)
            print(row, flush=True)
    return rows


def stream_rows(X, Y, n_rows, devices):
    rows = []
    for device in devices:
        learner = IHOMERClassifier(device=device, random_state=0)
        learner.partial_fit(X[:64], Y[:64])
        start = time.perf_counter()
        for i in range(64, 64 + n_rows):
            learner.partial_fit(X[i:i + 1], Y[i:i + 1])
        rows.append({"device": device, "inst_s": n_rows / (time.perf_counter() - start)})
        print(rows[-1], flush=True)
    return rows


def to_markdown(rows, stream, args, device_name, command):
    lines = [
        f"## GPU figures ({device_name})",
        "",
        f"{args.rows} x {args.features} dense rows, {args.labels} labels, {args.epochs} "
        f"epochs per timing after a warm-up fit; seconds per epoch. Command: `{command}`. "
        f"torch {torch.__version__}, host {platform.machine()}.",
        "",
        "| estimator | batch | estimator (s/epoch) | bare loop (s/epoch) | ratio | rows/s "
        "| CPU (s/epoch) | GPU speed-up | host syncs per fit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu = f"{r['cpu']:.3f} | {r['cpu'] / r['fit']:.1f}x" if "cpu" in r else " | "
        lines.append(
            f"| {r['name']} | {r['batch']} | {r['fit']:.3f} | {r['bare']:.3f} "
            f"| {r['fit'] / r['bare']:.2f} | {args.rows / r['fit']:,.0f} | {cpu} "
            f"| {r.get('syncs', '')} |"
        )
    lines += ["", "iHOMER, one row per `partial_fit`:", "", "| device | inst/s |", "|---|---|"]
    lines += [f"| {r['device']} | {r['inst_s']:,.0f} |" for r in stream]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--cpu-threads", type=int, default=-1)
    parser.add_argument("--quick", action="store_true", help="5k rows, 1 epoch")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device on this machine; nothing measured (exit 0). "
              "Use --device cpu for a smoke run of the code path.")
        return 0
    if args.quick:
        args.rows, args.epochs = 5_000, 1
    target = output_path("gpu", args.output, quick=args.quick or args.device == "cpu")
    X, Y = make_data(args.rows, args.features, args.labels)
    rows = epoch_rows(X, Y, args.batch_sizes, args.epochs, args.device, args.cpu_threads)
    devices = [args.device, "cpu"] if args.device != "cpu" else ["cpu"]
    stream = stream_rows(X[:, :103], Y[:, :14], 500 if args.quick else 2000, devices)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    command = "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_result(target, to_markdown(rows, stream, args, name, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
