"""Plumbing shared by the ``bench_*.py`` scripts: where results go, threads, timing.

Output policy. A full run writes ``benchmarks/results/<name>.md``, the committed
figures that ``collect_results.py`` assembles into ``docs/benchmarks.md``. A
``--quick`` run is a smoke test: its figures are not comparable, so by default it
writes to a temporary folder, and it may never write into ``benchmarks/results/``.
``--output PATH`` overrides the default. The path is checked for writability
before any training starts, so a bad path fails in a second, not after minutes.

Typical use in a script::

    from _common import add_output_argument, limit_threads, output_path, write_result

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    add_output_argument(parser)
    args = parser.parse_args(argv)
    target = output_path("pu", args.output, quick=args.quick)  # checked here
    with limit_threads(1):
        markdown = run(...)
    write_result(target, markdown)

Scripts import this module as ``_common``: ``python benchmarks/bench_x.py`` puts
``benchmarks/`` on ``sys.path``, and ``sklearn-losses bench`` does the same.
"""

import contextlib
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_DIR = Path(tempfile.gettempdir()) / "sklearn_losses_bench"


def add_output_argument(parser):
    """Add the ``--output`` option every benchmark script shares.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_output_argument(parser)
    >>> parser.parse_args(["--output", "x.md"]).output
    PosixPath('x.md')
    """
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=(
            "markdown file for the results table; default: benchmarks/results/<name>.md, "
            f"or {QUICK_DIR}/<name>.md with --quick"
        ),
    )


def output_path(name, output=None, *, quick=False):
    """Return where a benchmark writes its table, after checking it can write there.

    Parameters
    ----------
    name : str
        The benchmark's name, e.g. ``"pu"`` for ``bench_pu.py``.
    output : str or path-like, default=None
        A path the user asked for. None means the default for the run kind.
    quick : bool, default=False
        Whether this is a ``--quick`` smoke run.

    Returns
    -------
    path : pathlib.Path
        ``output`` if given; else ``benchmarks/results/<name>.md`` for a full run
        and a file in the temporary folder for a quick run.

    Raises
    ------
    ValueError
        If a quick run would write into ``benchmarks/results/``.
    PermissionError
        If the folder of ``path`` cannot be created or written.

    Examples
    --------
    >>> path = output_path("pu", quick=True)
    >>> path.name, path.parent == QUICK_DIR
    ('pu.md', True)
    >>> output_path("pu").parent == RESULTS_DIR
    True
    """
    if output is not None:
        path = Path(output).expanduser()
    else:
        path = (QUICK_DIR if quick else RESULTS_DIR) / f"{name}.md"
    if quick and path.resolve().parent == RESULTS_DIR:
        raise ValueError(
            f"A --quick run may not write {path}: benchmarks/results/ holds the committed "
            "full-run figures. Drop --quick or choose another --output."
        )
    _check_writable(path.parent)
    return path


def _check_writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PermissionError(f"Cannot create the output folder {folder}: {error}") from error
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"The output folder {folder} is not writable.")


def write_result(path, markdown):
    """Write a benchmark's markdown table and say where it went.

    Parameters
    ----------
    path : pathlib.Path
        From :func:`output_path`.
    markdown : str
        The table, with its heading, command and machine.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "toy.md"
    >>> write_result(target, "## Toy\\n")
    wrote ...toy.md
    """
    path.write_text(markdown)
    print(f"wrote {path}")


def load_average():
    """The machine's load average over 1, 5 and 15 minutes, as ``uptime`` shows it.

    Recorded with the figures, since other jobs on a shared machine slow a run.

    Returns
    -------
    text : str
        The three averages, two decimals each, separated by spaces.

    Examples
    --------
    >>> len(load_average().split())
    3
    """
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def resident_mb():
    """Resident memory of this process now, in MiB.

    Reads ``/proc/self/statm`` on Linux; elsewhere falls back to the peak
    resident set size, an upper bound.

    Returns
    -------
    megabytes : float
        Resident set size in MiB.

    Examples
    --------
    >>> resident_mb() > 0
    True
    """
    statm = Path("/proc/self/statm")
    if statm.exists():
        pages = int(statm.read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def limit_threads(n=1):
    """Limit BLAS/OpenMP pools and torch's intra-op threads to ``n``, then restore.

    Timings on a shared machine are steadier with one thread per process
    (STYLE.md section 3), and the limit keeps numpy, scikit-learn and torch peers
    on equal terms.

    Parameters
    ----------
    n : int, default=1
        Number of threads.

    Yields
    ------
    None
        The limit holds inside the ``with`` block.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with limit_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(previous)


def time_interleaved(functions, *, repeats=3, warmup=1, clock=time.perf_counter):
    """Time several callables in turn, after a warm-up, and keep every repeat.

    Round ``r`` runs each function once, one after another, so a burst of load
    from other processes falls on all of them rather than on one (which is what
    timing each function's repeats back to back would do). The warm-up calls pay
    for imports, allocator growth and first-call dispatch and are not timed.

    Parameters
    ----------
    functions : dict of str to callable
        Name to a function taking no arguments.
    repeats : int, default=3
        Timed calls per function.
    warmup : int, default=1
        Untimed calls per function before the timed rounds.
    clock : callable, default=time.perf_counter
        Seconds now. ``time.process_time`` counts only this process's CPU
        time: with one torch/BLAS thread, the cost of the work itself, without
        the waits a busy machine adds.

    Returns
    -------
    seconds : dict of str to list of float
        Seconds per timed call, in call order. Summarise with
        :func:`median_seconds`.

    Examples
    --------
    >>> seconds = time_interleaved({"sum": lambda: sum(range(1000))}, repeats=2)
    >>> len(seconds["sum"]), all(s >= 0 for s in seconds["sum"])
    (2, True)
    """
    for _ in range(warmup):
        for function in functions.values():
            function()
    seconds = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = clock()
            function()
            seconds[name].append(clock() - start)
    return seconds


def median_seconds(seconds):
    """Median of each timing list from :func:`time_interleaved`.

    Parameters
    ----------
    seconds : dict of str to list of float
        As returned by :func:`time_interleaved`.

    Returns
    -------
    medians : dict of str to float
        The median per name; robust to one slow round.

    Examples
    --------
    >>> median_seconds({"a": [3.0, 1.0, 2.0]})
    {'a': 2.0}
    """
    return {name: statistics.median(values) for name, values in seconds.items()}
