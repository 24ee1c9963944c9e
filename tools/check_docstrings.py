"""Validate the numpydoc docstrings of the public API.

The public API is every name in ``__all__`` of the package and of its public
modules, with the public methods and properties of each class. Checks are the
ones selected in ``[tool.numpydoc_validation]`` of ``pyproject.toml``. Exit
status 1 lists every error, so CI fails on a docstring regression.

Usage::

    python tools/check_docstrings.py
"""

import importlib
import inspect
import sys
from pathlib import Path

import tomllib
from numpydoc.validate import validate

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = [
    "sklearn_losses", "sklearn_losses.multilabel", "sklearn_losses.conformal",
    "sklearn_losses.streaming", "sklearn_losses.noisy", "sklearn_losses.losses",
    "sklearn_losses.networks", "sklearn_losses.metrics", "sklearn_losses.noise",
    "sklearn_losses.datasets", "sklearn_losses.persistence", "sklearn_losses.text",
]


def _selected_checks():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["numpydoc_validation"]
    checks = set(config["checks"])
    if "all" in checks:
        # "all" followed by codes means: every check except those codes.
        return None, checks - {"all"}
    return checks, set()


def _public_objects():
    seen = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not hasattr(obj, "__qualname__"):
                continue  # a constant has no docstring of its own
            qualified = f"{obj.__module__}.{obj.__qualname__}"
            seen.setdefault(qualified, obj)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not (inspect.isfunction(member)
                                                    or isinstance(member, property)):
                        continue
                    seen.setdefault(f"{qualified}.{attr}", getattr(obj, attr))
    return seen


def main():
    only, skipped = _selected_checks()
    errors = []
    for qualified in sorted(_public_objects()):
        for code, message in validate(qualified)["errors"]:
            if code in skipped or (only is not None and code not in only):
                continue
            errors.append(f"{qualified}: {code} {message}")
    print("\n".join(errors) or "numpydoc: public API docstrings valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
