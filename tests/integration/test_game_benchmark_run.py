"""The game benchmark runs (benchmarks/game.py without the bundled model): a real vtbus,
director and game node, the stand-in playing two whole tic-tac-toe games, and a real
``neuro-api`` game forcing moves. Only what was measured is checked, never how fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.game` imports
sys.path.insert(0, str(ROOT))

from benchmarks.game import main  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_benchmark_measures_every_move_of_the_stand_ins_games(
        capsys: pytest.CaptureFixture[str]) -> None:
    results = main(["--json", "--no-show", "--positions", "0", "--games", "2", "--rounds", "20"])

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == results
    framework = results["framework"]
    # a perfect-play tic-tac-toe is a draw in 9 moves: every one asked once, measured,
    # answered with a call that fits its tool and played at the first try
    assert framework["moves"] == framework["positions"] == framework["move_requests"] == 18
    assert framework["valid_call_pct"] == framework["legal_first_try_pct"] == 100.0
    for key in ("framework_decision_p50_ms", "framework_decision_p95_ms",
                "bus_round_trip_p50_ms", "framework_decision_vs_round_trip",
                "neuro_overhead_p50_ms", "neuro_overhead_p95_ms"):
        assert isinstance(results[key], float) and results[key] >= 0, key
    assert 0 < results["framework_decision_p50_ms"] <= results["framework_decision_p95_ms"]
    assert not {"llm", "show", "valid_call_pct", "tictactoe_game_s"} & results.keys()
