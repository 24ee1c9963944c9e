"""The ``sklearn-losses`` command: argument handling and the cheap sub-commands."""

import pytest

from sklearn_losses.__main__ import BENCHMARKS, build_parser, main


def test_default_command_is_the_demo():
    args, extra = build_parser().parse_known_args([])
    assert args.func.__name__ == "_run_demo"
    assert not extra


def test_bench_passes_unknown_arguments_to_the_script():
    args, extra = build_parser().parse_known_args(["bench", "pu", "--quick", "--seeds", "2"])
    assert args.name == "pu"
    assert extra == ["--quick", "--seeds", "2"]


def test_every_benchmark_script_exists():
    from sklearn_losses.__main__ import _benchmarks_dir

    folder = _benchmarks_dir()
    missing = [name for name in BENCHMARKS.values() if not (folder / name).is_file()]
    assert not missing


def test_unknown_arguments_to_the_demo_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--epochs=3"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_datasets_lists_bundled_yeast_and_shared_files(shared_data, capsys):
    main(["datasets", "--data-home", str(shared_data)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("yeast (bundled with river")
    assert {"emotions", "enron", "meka/imdb"} <= set(out)
