"""The ``sklearn-losses`` command and the benchmarks' shared plumbing (no training here)."""

import importlib.util
import runpy
import sys

import pytest

from sklearn_losses.__main__ import BENCHMARKS_DIR, available_benchmarks, build_parser, main

# --------------------------------------------------------------------- arguments


def test_default_command_is_the_demo():
    args = build_parser().parse_args([])
    assert args.func.__name__ == "_run_demo"
    assert (args.output, args.random_state, args.quick) == ("sklearn_losses_output", 0, False)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--quick", "--output", "out", "--random-state", "3"],
        ["--quick", "--output", "out", "--random-state", "3", "demo"],
        ["--quick", "demo", "--output", "out", "--random-state", "3"],
    ],
)
def test_demo_options_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.func.__name__ == "_run_demo"
    assert (args.output, args.random_state, args.quick) == ("out", 3, True)


def test_unknown_arguments_to_the_demo_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--epochs=3"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_unwritable_output_fails_before_training(tmp_path, monkeypatch):
    from sklearn_losses import _demo

    def no_training(seed):
        raise AssertionError("training started before the output folder was checked")

    monkeypatch.setattr(_demo, "_split_yeast", no_training)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as error:
        main(["demo", "--quick", "--output", str(blocker / "results")])
    assert "Cannot write results to" in str(error.value.code)


# ------------------------------------------------------------------------ bench


def test_every_benchmark_script_is_accepted():
    on_disk = {p.stem.removeprefix("bench_") for p in BENCHMARKS_DIR.glob("bench_*.py")}
    assert set(available_benchmarks()) == on_disk
    assert {"hybrid", "pu", "conformal", "ihomer", "storm", "overhead", "soak"} <= on_disk


@pytest.fixture
def ran(monkeypatch):
    """Record what ``bench`` would run instead of running it."""
    calls = []

    def run_path(path, run_name):
        calls.append((path, list(sys.argv)))

    monkeypatch.setattr(runpy, "run_path", run_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return calls


def test_bench_passes_the_arguments_after_the_name_to_the_script(ran):
    main(["bench", "pu", "--quick", "--seeds", "2"])
    (path, argv), = ran
    assert path == str(BENCHMARKS_DIR / "bench_pu.py")
    assert argv[1:] == ["--quick", "--seeds", "2"]
    assert sys.path[0] == str(BENCHMARKS_DIR)  # where the scripts find _common


def test_bench_never_runs_scripts_from_the_current_folder(ran, tmp_path, monkeypatch):
    planted = tmp_path / "benchmarks"
    planted.mkdir()
    for name in ("bench_pu.py", "bench_evil.py"):
        (planted / name).write_text("raise SystemExit('planted code ran')\n")
    monkeypatch.chdir(tmp_path)
    main(["bench", "pu"])
    assert ran[0][0] == str(BENCHMARKS_DIR / "bench_pu.py")
    with pytest.raises(SystemExit, match="unknown benchmark 'evil'"):
        main(["bench", "evil"])


def test_bench_runs_a_script_the_user_names(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    script = tmp_path / "mine.py"
    script.write_text("import sys\nprint('ran with', sys.argv[1:])\n")
    main(["bench", str(script), "--quick"])
    assert "ran with ['--quick']" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no script at"):
        main(["bench", str(tmp_path / "absent.py")])


# --------------------------------------------------------------------- datasets


def test_datasets_lists_bundled_yeast_and_shared_files(shared_data, capsys):
    main(["datasets", "--data-home", str(shared_data)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split() == ["yeast", "load_yeast():", *lines[1].split()[2:]]
    listed = [line.split()[0] for line in lines[3:]]
    assert {"emotions", "enron", "meka/imdb", "yeast", "meka/yeast"} <= set(listed)
    assert len(listed) == len(set(listed))
    assert "SKLEARN_LOSSES_DATA" in out


def test_datasets_in_an_empty_folder_says_how_to_get_them(tmp_path, capsys):
    main(["datasets", "--data-home", str(tmp_path)])
    assert "fetch_multilabel_dataset(name" in capsys.readouterr().out


def test_datasets_refuses_a_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as error:
        main(["datasets", "--data-home", str(tmp_path / "nonexistent")])
    assert error.value.code and "does not exist (from --data-home)" in error.value.code
    monkeypatch.setenv("SKLEARN_LOSSES_DATA", str(tmp_path / "nonexistent"))
    with pytest.raises(SystemExit, match="from SKLEARN_LOSSES_DATA"):
        main(["datasets"])


# ----------------------------------------------------------- benchmarks/_common.py


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("_common", BENCHMARKS_DIR / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_runs_never_write_committed_results(common):
    assert common.output_path("pu", quick=True).parent == common.QUICK_DIR
    assert common.output_path("pu").parent == common.RESULTS_DIR
    with pytest.raises(ValueError, match="may not write"):
        common.output_path("pu", common.RESULTS_DIR / "pu.md", quick=True)


def test_unwritable_output_is_refused_at_once(common, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="Cannot create"):
        common.output_path("pu", blocker / "sub" / "pu.md")


def test_timing_interleaves_the_functions_after_a_warm_up(common):
    calls = []
    functions = {name: (lambda name=name: calls.append(name)) for name in "ab"}
    seconds = common.time_interleaved(functions, repeats=2, warmup=1)
    assert calls == ["a", "b"] * 3
    assert {name: len(values) for name, values in seconds.items()} == {"a": 2, "b": 2}
    assert common.median_seconds({"a": [5.0, 1.0, 2.0]}) == {"a": 2.0}


def test_limit_threads_restores_torch_and_blas(common):
    import torch
    from threadpoolctl import threadpool_info

    torch_before = torch.get_num_threads()
    blas_before = [pool["num_threads"] for pool in threadpool_info()]
    with common.limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == torch_before
    assert [pool["num_threads"] for pool in threadpool_info()] == blas_before
