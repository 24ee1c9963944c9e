"""Command-line entry point: ``sklearn-losses`` or ``python -m sklearn_losses``.

With no sub-command it runs the main job, the Yeast comparison of every
estimator against the baselines users would otherwise pick.
"""

import argparse
import runpy
import sys
from pathlib import Path

BENCHMARKS = {
    "hybrid": "bench_hybrid.py",
    "pu": "bench_pu.py",
    "conformal": "bench_conformal.py",
    "ihomer": "bench_ihomer.py",
    "storm": "bench_storm.py",
    "overhead": "bench_overhead.py",
}


def _benchmarks_dir():
    """The repository's ``benchmarks/`` folder (benchmarks are not installed)."""
    candidates = [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[1] / "benchmarks"]
    for path in candidates:
        if path.is_dir():
            return path
    raise SystemExit(
        "benchmarks/ not found: benchmark scripts live in the source repository; "
        "run this command from a git checkout of sklearn_losses."
    )


def _run_benchmark(args, extra):
    script = _benchmarks_dir() / BENCHMARKS[args.name]
    sys.argv = [str(script), *extra]
    runpy.run_path(str(script), run_name="__main__")


def _list_datasets(args, extra):
    from .datasets import list_multilabel_datasets

    names = list_multilabel_datasets(data_home=args.data_home)
    print("yeast (bundled with river, always available)")
    for name in names:
        print(name)


def _run_demo(args, extra):
    from ._demo import run_yeast_comparison

    run_yeast_comparison(
        output_dir=args.output, random_state=args.random_state, quick=args.quick
    )


def build_parser():
    """Return the argument parser of the ``sklearn-losses`` command."""
    parser = argparse.ArgumentParser(
        prog="sklearn-losses",
        description="Compare sklearn_losses estimators with common baselines.",
    )
    parser.add_argument("--output", default="sklearn_losses_output",
                        help="folder for the PNG plot and CSV table")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="fewer epochs, for a smoke run")
    parser.set_defaults(func=_run_demo)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the Yeast comparison (default)")
    demo.set_defaults(func=_run_demo)
    bench = sub.add_parser("bench", help="run one script from benchmarks/; "
                           "arguments after the name go to the script")
    bench.add_argument("name", choices=sorted(BENCHMARKS))
    bench.set_defaults(func=_run_benchmark)
    data = sub.add_parser("datasets", help="list the multi-label datasets found")
    data.add_argument("--data-home", default=None)
    data.set_defaults(func=_list_datasets)
    return parser


def main(argv=None):
    """Run the ``sklearn-losses`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; ``sys.argv[1:]`` when None.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.func is not _run_benchmark:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.func(args, extra)


if __name__ == "__main__":
    main()
