"""Assemble docs/benchmarks.md from the per-benchmark results in benchmarks/results/.

Each ``bench_*.py`` script writes its own markdown fragment (with the command and
machine that produced it); this script puts them in one page, in a fixed order.

Usage::

    python benchmarks/collect_results.py
"""

from _common import RESULTS_DIR as RESULTS

ROOT = RESULTS.parents[1]
ORDER = ["defaults", "overhead", "gpu", "hybrid", "goemotions", "pu", "conformal", "ihomer",
         "storm", "soak", "demo"]

INTRO = """# Benchmarks

Every figure on this page comes from a script in `benchmarks/` (or from the main
job, `sklearn-losses`), run on the machine named in its section, with the command
given there. Unless a section says otherwise the machine is a shared 2-core AMD EPYC
CPU, 23 GiB RAM, Python 3.11, torch 2.13.0 (CPU build), scikit-learn 1.9.1, skorch
1.4.0, river 0.26.1; other sessions shared the two cores, so wall-clock times are
noisy (compare times within a table, not across tables). No GPU was available for
these runs: there are no GPU figures yet.

Refresh this page after re-running benchmarks with
`python benchmarks/collect_results.py`.
"""


def collect():
    """Return the assembled markdown page."""
    parts = [INTRO]
    names = ORDER + sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in ORDER)
    for name in names:
        path = RESULTS / f"{name}.md"
        if path.exists():
            text = path.read_text().strip()
            # Fragments start at heading level 2; keep them below the page title.
            if text.startswith("# "):
                text = "#" + text
            parts.append(text)
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    target = ROOT / "docs" / "benchmarks.md"
    target.write_text(collect())
    print(f"wrote {target}")
