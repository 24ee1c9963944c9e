"""Command-line entry point: ``sklearn-losses`` or ``python -m sklearn_losses``.

With no sub-command it runs the main job, the Yeast comparison of every
estimator against the baselines users would otherwise pick.
"""

import argparse
import os
import runpy
import sys
from pathlib import Path

# The benchmark scripts sit beside the package in a source checkout; they are
# not installed. Only this folder is searched: never the current directory, so
# running the command in an untrusted folder cannot run that folder's code.
BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def available_benchmarks():
    """Map each benchmark name to its script: ``bench_<name>.py`` in ``BENCHMARKS_DIR``.

    Returns
    -------
    scripts : dict of str to pathlib.Path
        Empty when the package was installed without its source checkout.

    Examples
    --------
    >>> from sklearn_losses.__main__ import available_benchmarks
    >>> all(path.name == f"bench_{name}.py" for name, path in available_benchmarks().items())
    True
    """
    return {
        path.stem.removeprefix("bench_"): path
        for path in sorted(BENCHMARKS_DIR.glob("bench_*.py"))
    }


def _benchmark_script(target):
    """The script for a benchmark name, or for a path the user names explicitly."""
    if target.endswith(".py") or os.sep in target:
        path = Path(target).expanduser()
        if not path.is_file():
            raise SystemExit(f"sklearn-losses bench: no script at {path}.")
        return path.resolve()
    scripts = available_benchmarks()
    if target in scripts:
        return scripts[target]
    if not scripts:
        raise SystemExit(
            f"sklearn-losses bench: no benchmarks beside this installation ({BENCHMARKS_DIR} "
            "is missing). They live in the source repository: run the command from an "
            "editable install of a git checkout, or name a script's path."
        )
    raise SystemExit(
        f"sklearn-losses bench: unknown benchmark {target!r}; choose from "
        f"{', '.join(scripts)}, or name a script's path (e.g. ./bench_x.py)."
    )


def _run_benchmark(args):
    script = _benchmark_script(args.name)
    # The scripts import their shared helpers as ``_common``, from their folder.
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script), *args.script_args]
    runpy.run_path(str(script), run_name="__main__")


def _explicit_data_home(args):
    """The data folder the user named (flag, then environment), or None."""
    from .datasets._base import _ENV_VAR

    return args.data_home or os.environ.get(_ENV_VAR) or None


def _list_datasets(args):
    from .datasets import get_data_home, list_multilabel_datasets
    from .datasets._mulan import _DATASETS

    explicit = _explicit_data_home(args)
    home = get_data_home(explicit)
    if explicit and not home.is_dir():
        raise SystemExit(
            f"sklearn-losses datasets: data folder {home} does not exist (from "
            f"{'--data-home' if args.data_home else 'SKLEARN_LOSSES_DATA'})."
        )
    print("Bundled, no files needed:")
    print(f"  {'yeast':<13} load_yeast(): river's copy of Mulan yeast, 2417 x 103, 14 labels")
    names = list_multilabel_datasets(home)
    print(
        f"\nIn {home}, for load_multilabel_dataset(name) (choose the folder with "
        "--data-home or the SKLEARN_LOSSES_DATA environment variable):"
    )
    for name in names:
        print(f"  {name:<13} {_DATASETS[name].descr.split('. ')[0]}")
    if not names:
        print(
            "  none. fetch_multilabel_dataset(name, data_home=...) downloads a set "
            "into that folder."
        )


def _run_demo(args):
    from ._demo import run_yeast_comparison

    try:
        run_yeast_comparison(
            output_dir=args.output, random_state=args.random_state, quick=args.quick
        )
    except PermissionError as error:  # raised before any training starts
        raise SystemExit(f"sklearn-losses demo: {error}") from error


def _add_demo_options(parser, defaults=True):
    # The sub-command repeats the options with no defaults of its own, so that
    # ``--quick demo`` and ``demo --quick`` both work and neither resets the other.
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--output", default=default("sklearn_losses_output"),
                        help="folder for the PNG plot and CSV table")
    parser.add_argument("--random-state", type=int, default=default(0))
    parser.add_argument("--quick", action="store_true", default=default(False),
                        help="fewer epochs, for a smoke run")


def build_parser():
    """Return the argument parser of the ``sklearn-losses`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        Sub-commands ``demo`` (the default), ``bench`` and ``datasets``.

    Examples
    --------
    >>> from sklearn_losses.__main__ import build_parser
    >>> args = build_parser().parse_args(["demo", "--quick"])
    >>> args.quick, args.output
    (True, 'sklearn_losses_output')
    """
    parser = argparse.ArgumentParser(
        prog="sklearn-losses",
        description="Compare sklearn_losses estimators with common baselines.",
    )
    _add_demo_options(parser)
    parser.set_defaults(func=_run_demo)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the Yeast comparison (default)")
    _add_demo_options(demo, defaults=False)
    demo.set_defaults(func=_run_demo)
    names = ", ".join(available_benchmarks()) or "none found"
    bench = sub.add_parser(
        "bench",
        help="run a script from the repository's benchmarks/; "
        "arguments after the name go to the script",
    )
    bench.add_argument(
        "name", help=f"benchmark name ({names}), or the path of a script to run"
    )
    bench.add_argument("script_args", nargs=argparse.REMAINDER,
                       help="arguments for the script, e.g. --quick")
    bench.set_defaults(func=_run_benchmark)
    data = sub.add_parser("datasets", help="list the multi-label datasets found")
    data.add_argument("--data-home", default=None,
                      help="data folder; default: $SKLEARN_LOSSES_DATA, else "
                      "~/sklearn_losses_data")
    data.set_defaults(func=_list_datasets)
    return parser


def main(argv=None):
    """Run the ``sklearn-losses`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; ``sys.argv[1:]`` when None.
    """
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
