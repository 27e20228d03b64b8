"""Run every benchmark (or those named) and print one JSON object per benchmark.

Each ``benchmarks/<name>.py`` keeps the contract of `report` (``main(argv) -> dict``, figures
printed by `report.emit`); this runner passes ``--json`` and prints
``{"benchmark": name, ...figures}`` lines, so ``make bench | jq`` works.
Usage: ``python benchmarks/run.py [NAME ...]``.

Benchmarks meant to run long get short arguments here (`SHORT`), so ``make bench`` stays
reasonable; run them by hand for the real figures (``python benchmarks/soak.py --minutes 60``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"run", "report", "__init__"}
"""This runner and the module the benchmarks share (`report`: the contract, the printing)."""
SHORT = {"soak": ["--minutes", "2", "--chaos"]}
"""Arguments of the long-running benchmarks under this runner."""


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    found = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_BENCHMARKS)
    chosen = names or found
    failed = 0
    for name in chosen:
        if name not in found:
            print(f"no benchmark {name!r} (have: {', '.join(found)})", file=sys.stderr)
            return 2
        started = time.monotonic()
        command = [sys.executable, str(HERE / f"{name}.py"), "--json", *SHORT.get(name, [])]
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            failed += 1
            print(json.dumps({"benchmark": name, "error": proc.stderr.strip()[-2000:]}))
            continue
        figures = json.loads(lines[-1])
        print(json.dumps({"benchmark": name, "wall_s": round(time.monotonic() - started, 1),
                          **figures}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
