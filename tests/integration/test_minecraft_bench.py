"""The Minecraft benchmark runs (benchmarks/minecraft.py --quick) against a real flying-squid
on 127.0.0.1 through the product's Sidecar: every figure is there, has its type and agrees
with what was counted. Only what was measured is checked, never how fast."""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.minecraft` imports
sys.path.insert(0, str(ROOT))

from benchmarks.minecraft import TASKS, main, shipped_skills, star_goals  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_star_tour_has_ten_legs_of_twenty_blocks_in_ten_directions() -> None:
    goals = [(0, 0, 0), *star_goals()]
    legs = [(b[0] - a[0], b[2] - a[2]) for a, b in itertools.pairwise(goals)]
    assert len(legs) == 10 and goals[-1] == (0, 0, 0)  # it closes where it began
    assert all(19 <= (dx * dx + dz * dz) ** 0.5 <= 21 for dx, dz in legs)
    headings = {round(math.degrees(math.atan2(dz, dx)) / 36) % 10 for dx, dz in legs}
    assert len(headings) == 10  # 36 degrees apart


def test_every_shipped_skill_has_a_fixed_task() -> None:
    assert set(shipped_skills()) == {task.skill for task in TASKS}


def test_the_quick_benchmark_measures_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    results = main(["--json", "--quick"])

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == results
    assert "cores" in results["machine"] and "load" in results["machine"]
    assert len(results["spawn_times_s"]) == 1 and results["spawn_s"] > 0
    for key in ("ping_p50_ms", "ping_p90_ms", "state_p50_ms", "sandbox_call_overhead_us",
                "sandbox_state_call_us", "python_call_us", "python_state_call_us",
                "tool_effect_p50_ms", "tool_effect_p90_ms", "place_effect_p50_ms",
                "dig_effect_p50_ms", "place_reply_p50_ms", "dig_reply_p50_ms",
                "state_poll_ms", "path_20_blocks_s", "tool_effect_vs_ping",
                "sandbox_call_vs_ping", "sandbox_call_vs_python_call"):
        assert isinstance(results[key], float) and results[key] > 0, key
    assert results["ping_p50_ms"] <= results["ping_p90_ms"]
    assert results["sandbox_call_overhead_target_us"] == 1000.0
    assert results["sandbox_call_overhead_meets_target"] is (
        results["sandbox_call_overhead_us"] < 1000)
    assert isinstance(results["sandbox_bridge_us"], float)  # sandbox.js's own figure ran

    # one place and one dig, each seen by the other bot's client after its call
    assert results["tool_ops"] == results["tool_ops_seen"] == 2 and not results["tool_failures"]
    assert results["place_effect_p50_ms"] >= 0 and results["dig_effect_p50_ms"] > 0

    # two star goals and the one on the placed obstacle, each with its outcome in words
    assert results["path_goals"] == len(results["paths"]) == 3
    assert [leg["on_obstacle"] for leg in results["paths"]] == [False, False, True]
    assert results["paths"][-1]["goal"][1] == results["paths"][0]["goal"][1] + 1
    reached = sum(leg["reached"] for leg in results["paths"])
    assert results["path_success_pct"] == round(100 * reached / 3, 1)
    assert all(leg["outcome"] and leg["s"] > 0 for leg in results["paths"])

    # the cheap skills, each verified against the state with a reason
    ran = {outcome["skill"]: outcome for outcome in results["skills"]}
    assert set(ran) == {task.skill for task in TASKS if task.quick}
    assert results["skills_run"] == len(ran)
    assert results["skill_success_pct"] == round(
        100 * sum(o["ok"] for o in ran.values()) / len(ran), 1)
    assert all(o["outcome"] for o in ran.values())
    assert results["notes"] and isinstance(results["sidecar_errors"], list)
