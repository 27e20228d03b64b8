"""The contract every benchmark keeps, and the one place its figures are printed.

A benchmark is ``benchmarks/NAME.py`` with ``main(argv) -> dict``: it builds its command line
with `arguments` (which adds ``--json``), measures, and ends with
``return emit(figures, args.json)``. With ``--json`` the figures are printed as one JSON object
on one line, which is what `run.py` (``make bench``) reads; without it, one aligned
``name value`` line a figure (`table`), or the benchmark's own summary (``human=``).

A ratio is always taken against a baseline measured in the same run, on the same loaded
machine (`ratio`); percentiles are nearest-rank (`percentile`), so a figure is a sample that
was measured, never an interpolation between two.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["arguments", "emit", "machine", "percentile", "ratio", "table"]

F = TypeVar("F", bound=Mapping[str, Any])


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's parser: described by the first line of its docstring, with ``--json``."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object (what run.py reads)")
    return parser


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 <= q <= 1) of ``values``, in any order."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ratio(value: float, baseline: float, digits: int = 2) -> float | None:
    """``value / baseline`` rounded to ``digits``; None when the baseline is not positive (a
    ratio to nothing says nothing)."""
    return round(value / baseline, digits) if baseline > 0 else None


def machine() -> str:
    """What the figures were measured on: the cores and how busy they were (a shared
    machine's figures move with its load)."""
    return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (1 min)"


def table(figures: Mapping[str, Any]) -> str:
    """One ``name value`` line a figure, names aligned; floats to 3 decimals."""
    width = max((len(key) for key in figures), default=0)
    return "\n".join(
        f"{key:<{width}}  {round(value, 3) if isinstance(value, float) else value}"
        for key, value in figures.items())


def emit(figures: F, as_json: bool, human: Callable[[F], str] = table) -> F:
    """Print ``figures``: one JSON line with ``--json``, else ``human(figures)``; return them."""
    print(json.dumps(figures) if as_json else human(figures), flush=True)
    return figures
