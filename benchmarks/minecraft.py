"""Minecraft (issue 17): the personas' bots on a real flying-squid server on 127.0.0.1, driven
through the product's own client (`nodes.game.minecraft.sidecar.Sidecar` -> ``sidecar.js`` ->
mineflayer), on the fixed world (superflat, seed 1234), in the version the game plugin speaks
by default (``MinecraftSettings.version``, as the launch file; ``--version`` for another).

- ``spawn_s``: ``Sidecar.start()`` -> both bots' ``spawned`` events (median over ``--starts``
  starts; each start its own pair of players, the last pair stays for the rest).
- ``tool_effect_p50_ms`` / ``_p90_ms``: a ``place`` or a ``dig`` by Mika, from the call to the
  block changing in the world as the OTHER bot's client sees it: Rook stands 3 blocks away and
  his ``state`` (``nearby_blocks``, his own client's world) is read back to back until the
  count of dirt around him moved by one. The sidecar has no block-update event, so the
  resolution is one ``state`` round trip (``state_poll_ms``). ``dig_*``/``place_*`` split
  it; ``*_reply_*`` is the call -> the op's reply, for comparison. A dig includes the dig
  itself (dirt by hand: 0.75 s of game time).
- ``path_20_blocks_s`` / ``path_success_pct``: Mika walks a fixed tour, ``goto`` 10 goals
  20 blocks apart in 10 directions (a {10/3} star from a fixed point), then one more goal on
  top of a dirt block placed earlier (a jump up). A goal is reached when the reply is ok and
  the state after it is within 2 blocks of the goal cell's centre (`checks.verify`); the
  median is over the star's reached legs (medians here are nearest-rank: measured samples).
  Each goal's outcome is listed.
- ``sandbox_call_overhead_us``: a skill awaiting ``bot.stop()`` (an op that does next to
  nothing on an idle bot) N times in a loop, timed inside the isolate, per call: the bridge
  out of the isolate and the sidecar's dispatch (target < 1,000 us). For comparison:
  ``python_call_us``, the same op called from Python (a round trip over the pipes; both
  means);
  ``sandbox_bridge_us``, ``sandbox.js``'s own ``measureCallOverhead`` (the bridge alone, a
  call answered at once by the host); ``sandbox_state_call_us`` and
  ``python_state_call_us``, the same for ``bot.state()`` (its own work included).
- ``skill_success_pct``: each shipped skill (``nodes/game/minecraft/skills/*.js``) run once with
  fixed arguments from a fixed start cell of its bot, then verified against the game state
  (`nodes.game.minecraft.checks.verify` where a check applies, else a named comparison of the
  bot's state before and after); per-skill outcomes listed.
- Baseline, same run: ``ping_p50_ms``, a ``ping`` round trip through the same sidecar (the
  framework's floor), hence the ``*_vs_ping`` ratios.

Usage: ``python benchmarks/minecraft.py [--json] [--quick] [--starts N] [--rounds N]
[--reps N] [--goals N] [--calls N]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] == str(ROOT / "benchmarks"):
    sys.path.pop(0)  # run as a script: this folder's bus.py would shadow the `bus` package
sys.path[:0] = [path for path in (str(ROOT),) if path not in sys.path]

from benchmarks.report import arguments, emit, machine, percentile, ratio  # noqa: E402
from nodes.game.games.minecraft import SHIPPED_SKILLS, MinecraftSettings  # noqa: E402
from nodes.game.minecraft.checks import Check, verify, with_baseline  # noqa: E402
from nodes.game.minecraft.sidecar import SCRIPT, Sidecar, SidecarError  # noqa: E402
from tests.helpers.minecraft import MinecraftServer  # noqa: E402

MIKA, ROOK = "Mika", "Rook"
"""The last start's players (the earlier starts join as Mika1, Rook1, ...: a name still
leaving the server would be refused as a duplicate)."""
TARGET_OVERHEAD_US = 1000.0
OP_TIMEOUT_S = 30.0
SKILL_TIMEOUT_S = 40.0
PICKUP_TIMEOUT_S = 5.0

Cell = tuple[int, int, int]

# The fixed places, as (dx, dy, dz) from the stage O: the cell Mika spawns in on the first
# start (flying-squid's first spawn slot, (0, surface, 0) on this world).
ROOK_WATCHING = (3, 0, 0)
"""Where Rook watches the tool ops from: the placed cell is inside his 9x5x9 nearby box."""
TOOL_CELL = (0, 0, 1)
"""The cell Mika places dirt in and digs again: next to her, so she picks the drop up
(flying-squid gives a drop to a player within 1.75 blocks after 0.5 s); Rook is too far."""
QUARRY = (-8, 0, -6)
"""Where Mika collects the one dirt block the tool ops need (away from the stage: collecting
digs holes)."""
SKILL_QUARRY = (-8, 0, 6)
ROOK_SKILLS = (10, 0, 8)
"""Rook's start for his skills (about 13 blocks from Mika)."""
ROOK_ASIDE = (-8, 0, 0)
"""Where Rook waits during Mika's tour (off it)."""
TOUR = (0, 0, -22)
"""The tour's first point: the star lies on fresh ground on the far side from the stage."""
LEG_BLOCKS = 20
GOAL_RANGE = 1
REACHED_WITHIN = 2.0
"""A goal is reached when the bot stands within this of the goal cell's centre: the goal's
range (1, counted between floored cells) plus up to 0.7 inside a cell."""


def star_goals(count: int = 10, leg: int = LEG_BLOCKS) -> list[Cell]:
    """A closed tour of ``count`` legs of ``leg`` blocks, each turning 108 degrees (a {10/3}
    star: ten directions, ending where it began), as (dx, 0, dz) from its first point; z is
    negated so the star lies on the side away from the stage."""
    x = z = 0.0
    goals = []
    for k in range(count):
        angle = math.radians(k * 108)
        x, z = x + leg * math.cos(angle), z + leg * math.sin(angle)
        goals.append((round(x), 0, -round(z)))
    return goals


def offset(origin: Cell, delta: Cell) -> Cell:
    return (origin[0] + delta[0], origin[1] + delta[1], origin[2] + delta[2])


def xyz(cell: Cell) -> dict[str, int]:
    return dict(zip("xyz", cell, strict=True))


def spread(name: str, values: Sequence[float], unit: str = "ms", digits: int = 2
           ) -> dict[str, float | None]:
    """``NAME_p50_UNIT`` and ``NAME_p90_UNIT`` of ``values``, nearest-rank (a sample that was
    measured: the place and dig times lie far apart); None when there are none."""
    return {f"{name}_p50_{unit}": round(percentile(values, 0.5), digits) if values else None,
            f"{name}_p90_{unit}": round(percentile(values, 0.9), digits) if values else None}


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# ------------------------------------------------------------------ the bots


class Bots:
    """One `Sidecar` with two bots, and the events it reported."""

    def __init__(self, port: int, version: str, names: tuple[str, str]):
        self.names = {"mika": names[0], "rook": names[1]}
        self.spawned = {persona: asyncio.Event() for persona in self.names}
        self.errors: list[str] = []
        config = {"host": "127.0.0.1", "port": port, "version": version, "auth": "offline",
                  "bots": [{"persona": p, "username": n} for p, n in self.names.items()],
                  "state_period_ms": 1000, "skill": {"timeout_ms": 10000, "memory_mb": 32},
                  "reconnect_ms": [300, 2000]}
        self.sidecar = Sidecar(config, self._event)

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "spawned" and event.get("bot") in self.spawned:
            self.spawned[event["bot"]].set()
        elif event.get("event") in ("error", "disconnected", "exited"):
            self.errors.append(json.dumps(event)[:300])

    async def start(self, timeout_s: float = 120.0) -> float:
        """Start the sidecar; seconds until both bots spawned."""
        started = time.perf_counter()
        await self.sidecar.start()
        try:
            async with asyncio.timeout(timeout_s):
                for joined in self.spawned.values():
                    await joined.wait()
        except TimeoutError:
            raise RuntimeError(f"the bots did not spawn within {timeout_s:g} s; events: "
                               f"{self.errors[-5:]}; sidecar log: {list(self.sidecar.stderr)}"
                               ) from None
        return time.perf_counter() - started

    async def call(self, persona: str, op: str, args: dict[str, Any] | None = None,
                   timeout_s: float = OP_TIMEOUT_S) -> dict[str, Any]:
        return await self.sidecar.call(persona, op, args, timeout_s)

    async def state(self, persona: str) -> dict[str, Any]:
        return await self.call(persona, "state")

    async def goto(self, persona: str, cell: Cell, within: int = 0) -> None:
        await self.call(persona, "goto", {**xyz(cell), "range": within})

    async def aclose(self) -> None:
        await self.sidecar.aclose()


async def spawns(port: int, version: str, starts: int) -> tuple[list[float], Bots]:
    """``starts`` sidecar starts, each to both bots spawned; the last one is kept running."""
    times = []
    for n in range(starts):
        last = n == starts - 1
        bots = Bots(port, version, (MIKA, ROOK) if last else (f"{MIKA}{n + 1}", f"{ROOK}{n + 1}"))
        try:
            times.append(await bots.start())
        finally:
            if not last:
                await bots.aclose()
    return times, bots


async def round_trips(bots: Bots, ops: Sequence[str], rounds: int) -> dict[str, list[float]]:
    """Each of ``ops`` for Mika, taken in turn ``rounds`` times (ms each, after 10 warm-up
    rounds): interleaved, so a busy moment of the machine falls on all of them alike."""
    times: dict[str, list[float]] = {op: [] for op in ops}
    for n in range(rounds + 10):
        for op in ops:
            started = time.perf_counter()
            await bots.call("mika", op)
            if n >= 10:
                times[op].append(elapsed_ms(started))
    return times


# ------------------------------------------------------------------ the sandbox


OVERHEAD_SKILL = """async function overhead(bot, n, primitive) {
  await bot[primitive]()
  const started = Date.now()
  for (let i = 0; i < n; i++) await bot[primitive]()
  return Date.now() - started
}"""
CHEAP_PRIMITIVE = "stop"
"""A primitive whose op does next to nothing when the bot is idle (no goal to clear): its
time in a skill is the bridge and the sidecar's dispatch. (``state`` looks up 405 blocks:
about 1 ms of its own, measured.)"""


async def in_skill_us(bots: Bots, primitive: str, calls: int) -> float:
    """Microseconds per ``bot.<primitive>()`` awaited in a loop in a skill, timed inside."""
    result = await bots.call("mika", "run_skill", {
        "code": OVERHEAD_SKILL, "main": "overhead", "args": [calls, primitive],
        "timeout_ms": 60000}, timeout_s=70)
    return round(float(result["value"]) * 1000 / calls, 1)


async def sandbox(bots: Bots, calls: int, direct: dict[str, list[float]]) -> dict[str, Any]:
    """The in-skill figures, and the same ops called from Python (``direct``: their round
    trips in ms); means on both sides (a skill's loop is timed as a whole)."""
    overhead = await in_skill_us(bots, CHEAP_PRIMITIVE, calls)
    state = await in_skill_us(bots, "state", calls)
    python_stop = round(statistics.mean(direct[CHEAP_PRIMITIVE]) * 1000, 1)
    python_state = round(statistics.mean(direct["state"]) * 1000, 1)
    return {"sandbox_call_overhead_us": overhead,
            "sandbox_call_overhead_target_us": TARGET_OVERHEAD_US,
            "sandbox_call_overhead_meets_target": overhead < TARGET_OVERHEAD_US,
            "sandbox_primitive": CHEAP_PRIMITIVE,
            "sandbox_calls": calls,
            "sandbox_bridge_us": await asyncio.to_thread(sandbox_bridge_us, calls),
            "python_call_us": python_stop,
            "sandbox_call_vs_python_call": ratio(overhead, python_stop),
            "sandbox_state_call_us": state,
            "python_state_call_us": python_state}


def sandbox_bridge_us(calls: int) -> float | None:
    """``sandbox.js``'s own measurement: a skill's ``bot.state()`` answered at once by the host
    (the bridge alone), in a Node process of its own; None when it could not run."""
    script = (f"require('./sandbox').measureCallOverhead({calls})"
              ".then(r => console.log(JSON.stringify(r)))")
    try:
        done = subprocess.run(["node", "-e", script], cwd=SCRIPT.parent, capture_output=True,
                              text=True, timeout=120)
        return round(float(json.loads(done.stdout.strip().splitlines()[-1])["us_per_call"]), 1)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None


# ------------------------------------------------------------------ tool effects


@dataclass
class Effect:
    """One place or dig, timed from its call."""

    op: str
    ok: bool
    reply_ms: float
    seen_ms: float | None
    """When Rook's state first showed the change (None: not within the deadline)."""
    polls: int
    error: str = ""


async def timed(work: Awaitable[dict[str, Any]], started: float
                ) -> tuple[dict[str, Any] | SidecarError, float]:
    try:
        result: dict[str, Any] | SidecarError = await work
    except SidecarError as error:
        result = error
    return result, elapsed_ms(started)


async def tool_effect(bots: Bots, op: str, cell: Cell, change: int) -> Effect:
    """Mika's ``op`` on ``cell``; Rook's dirt count read until it moved by ``change``."""
    before = (await bots.state("rook"))["nearby_blocks"].get("dirt", 0)
    args = {**xyz(cell), **({"item": "dirt"} if op == "place" else {})}
    started = time.perf_counter()
    call = asyncio.create_task(timed(bots.call("mika", op, args), started))
    seen_ms, polls = None, 0
    while seen_ms is None and elapsed_ms(started) < OP_TIMEOUT_S * 1000:
        now = (await bots.state("rook"))["nearby_blocks"].get("dirt", 0)
        polls += 1
        if now - before == change:
            seen_ms = elapsed_ms(started)
        elif call.done() and isinstance(call.result()[0], SidecarError):
            break
    result, reply_ms = await call
    if isinstance(result, SidecarError):
        return Effect(op, False, reply_ms, seen_ms, polls, f"{result.code}: {result.message}")
    return Effect(op, seen_ms is not None, reply_ms, seen_ms, polls,
                  "" if seen_ms is not None else "Rook never saw the change")


async def until(bots: Bots, persona: str, holds: Callable[[dict[str, Any]], bool],
                timeout_s: float) -> bool:
    """Whether the bot's state came to satisfy ``holds`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if holds(await bots.state(persona)):
            return True
        await asyncio.sleep(0.05)
    return False


def has_dirt(state: dict[str, Any]) -> bool:
    return int(state["inventory"].get("dirt", 0)) >= 1


async def tool_effects(bots: Bots, stage: Cell, reps: int) -> tuple[list[Effect], list[str]]:
    """``reps`` place+dig pairs on the tool cell, and the obstacle left there for the tour."""
    notes = []
    if not has_dirt(await bots.state("mika")):
        await bots.goto("mika", offset(stage, QUARRY), within=GOAL_RANGE)
        await bots.call("mika", "collect", {"block": "dirt", "count": 1}, timeout_s=60)
    await bots.goto("mika", stage)
    await bots.goto("rook", offset(stage, ROOK_WATCHING))
    cell = offset(stage, TOOL_CELL)
    effects: list[Effect] = []
    for _ in range(reps):
        effects.append(await tool_effect(bots, "place", cell, +1))
        effects.append(await tool_effect(bots, "dig", cell, -1))
        if not await until(bots, "mika", has_dirt, PICKUP_TIMEOUT_S):
            notes.append("Mika did not pick the dug dirt up: the tool ops stopped early")
            break
    if has_dirt(await bots.state("mika")):
        await bots.call("mika", "place", {"item": "dirt", **xyz(cell)})  # the tour's obstacle
    else:
        notes.append("no dirt left for the tour's obstacle")
    return effects, notes


# ------------------------------------------------------------------ paths


async def tour(bots: Bots, stage: Cell, goals: int) -> list[dict[str, Any]]:
    """Mika walks the star's first ``goals`` goals, then onto the obstacle."""
    await bots.goto("rook", offset(stage, ROOK_ASIDE), within=GOAL_RANGE)
    start = offset(stage, TOUR)
    await bots.goto("mika", start)
    cells = [offset(start, d) for d in star_goals()[:goals]]
    cells.append(offset(offset(stage, TOOL_CELL), (0, 1, 0)))  # on top of the placed dirt
    legs = []
    here: Sequence[float] = start
    for n, goal in enumerate(cells):
        started = time.perf_counter()
        leg: dict[str, Any] = {"goal": list(goal), "on_obstacle": n == len(cells) - 1,
                               "straight_blocks": round(math.dist(here, goal), 1)}
        try:
            await bots.goto("mika", goal, within=GOAL_RANGE)
            error = ""
        except SidecarError as failed:
            error = f"{failed.code}: {failed.message}"
        leg["s"] = round(time.perf_counter() - started, 2)
        state = await bots.state("mika")
        centre = (goal[0] + 0.5, float(goal[1]), goal[2] + 0.5)
        reached, why = verify(Check(kind="near", position=centre, distance=REACHED_WITHIN),
                              state)
        leg["reached"] = not error and reached
        leg["outcome"] = error or why
        leg["ended_at"] = here = state["position"]
        legs.append(leg)
    return legs


# ------------------------------------------------------------------ skills


Verifier = Callable[[dict[str, Any], dict[str, Any], Any], tuple[bool, str]]


def checked(check: Check) -> Verifier:
    """`checks.verify` on the state after (an inventory check counts from the state before)."""
    return lambda before, after, value: verify(with_baseline(check, before), after)


def blocks_changed(**expected: int) -> Verifier:
    """The bot stayed put and the blocks around it changed by ``expected`` (name: count)."""
    def judge(before: dict[str, Any], after: dict[str, Any], value: Any) -> tuple[bool, str]:
        if before["position"] != after["position"]:
            return False, f"the bot moved from {before['position']} to {after['position']}"
        got = {name: after["nearby_blocks"].get(name, 0) - before["nearby_blocks"].get(name, 0)
               for name in expected}
        words = ", ".join(f"{name} {n:+d} of {expected[name]:+d}" for name, n in got.items())
        return got == expected, f"blocks around the bot: {words}"
    return judge


def said_inventory(before: dict[str, Any], after: dict[str, Any], value: Any
                   ) -> tuple[bool, str]:
    same = value == after["inventory"]
    return same, f"it returned {value}, the inventory is {after['inventory']}"


@dataclass(frozen=True)
class SkillTask:
    skill: str
    persona: str
    start: Cell
    """(dx, dy, dz) from the stage: the bot walks there first."""
    args: tuple[Any, ...]
    verify: Verifier
    check: str
    """How the outcome is verified, in words."""
    quick: bool = False
    """Run under ``--quick`` too."""


TASKS = (
    # Mika: her dirt first, then what uses it; digHole last (its drops lie about, and
    # collectblock tripped over drops lying around in a trial run).
    SkillTask("collectBlocks", "mika", SKILL_QUARRY, ("dirt", 3),
              checked(Check(kind="inventory", item="dirt", count=3)),
              "checks: inventory holds 3 more dirt"),
    SkillTask("tellInventory", "mika", (0, 0, 0), (), said_inventory,
              "the value it said equals the state's inventory", quick=True),
    SkillTask("buildPillar", "mika", (0, 0, 0), ("dirt", 2), blocks_changed(dirt=2),
              "2 more dirt blocks around the bot"),
    SkillTask("placeNextTo", "mika", (0, 0, 0), ("dirt",), blocks_changed(dirt=1),
              "1 more dirt block around the bot"),
    SkillTask("digHole", "mika", (0, 0, 0), (2,), blocks_changed(grass_block=-1, dirt=-1),
              "1 grass_block and 1 dirt fewer around the bot"),
    SkillTask("goToNearest", "rook", ROOK_SKILLS, ("grass_block",),
              checked(Check(kind="near", block="grass_block")),
              "checks: near a grass_block (trivial on superflat: it is underfoot)", quick=True),
    SkillTask("comeTo", "rook", ROOK_SKILLS, (MIKA,),
              checked(Check(kind="near", player=MIKA, distance=3)),
              f"checks: within 3 blocks of {MIKA}", quick=True),
    SkillTask("followFor", "rook", ROOK_SKILLS, (MIKA, 3),
              checked(Check(kind="near", player=MIKA, distance=3)),
              f"checks: within 3 blocks of {MIKA}"),
)


def shipped_skills() -> dict[str, str]:
    """The shipped library: name -> code."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(SHIPPED_SKILLS.glob("*.js"))}


async def run_task(bots: Bots, stage: Cell, task: SkillTask, code: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {"skill": task.skill, "bot": task.persona,
                               "args": list(task.args), "check": task.check}
    try:
        await bots.goto(task.persona, offset(stage, task.start))
    except SidecarError as failed:
        return {**outcome, "ok": False, "outcome": f"could not reach the start cell: "
                f"{failed.code}: {failed.message}"}
    before = await bots.state(task.persona)
    started = time.perf_counter()
    try:
        result = await bots.call(task.persona, "run_skill", {
            "code": code, "main": task.skill, "args": list(task.args),
            "timeout_ms": int(SKILL_TIMEOUT_S * 1000)}, timeout_s=SKILL_TIMEOUT_S + 5)
    except SidecarError as failed:
        return {**outcome, "ok": False, "s": round(time.perf_counter() - started, 2),
                "outcome": f"{failed.code}: {failed.message}"}
    seconds = round(time.perf_counter() - started, 2)
    passed, why = task.verify(before, await bots.state(task.persona), result.get("value"))
    return {**outcome, "ok": passed, "s": seconds, "calls": result.get("calls"),
            "outcome": why}


async def skills(bots: Bots, stage: Cell, quick: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Every shipped skill with a fixed task, run once (under ``--quick`` only the cheap ones);
    shipped skills without a task are named (the figure would hide them otherwise)."""
    library = shipped_skills()
    outcomes = []
    for task in TASKS:
        if task.skill in library and (task.quick or not quick):
            outcomes.append(await run_task(bots, stage, task, library[task.skill]))
    untasked = sorted(set(library) - {task.skill for task in TASKS})
    return outcomes, untasked


# ------------------------------------------------------------------ the run


async def measure(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "version": args.version}
    notes = [
        "tool effect: the sidecar exposes no block-update event; the change is read from the "
        "OTHER bot's state (its client's world, nearby_blocks) polled back to back, so it is "
        "late by up to one state round trip (state_poll_ms)",
        f"sandbox_call_overhead_us: bot.{CHEAP_PRIMITIVE}() in a skill, the mean per call (the "
        "bridge and the sidecar's dispatch; the op does next to nothing); python_call_us: the "
        "same op from Python, a round trip over the pipes (mean); sandbox_bridge_us: the "
        "bridge alone (sandbox.js measureCallOverhead, in a Node process of its own)",
    ]
    with MinecraftServer(version=args.version) as server:
        spawn_times, bots = await spawns(server.port, args.version, args.starts)
        try:
            results["spawn_s"] = round(percentile(spawn_times, 0.5), 2)
            results["spawn_times_s"] = [round(t, 2) for t in spawn_times]
            surface = math.floor((await bots.state("mika"))["position"][1])
            stage = (0, surface, 0)

            trips = await round_trips(bots, ["ping", CHEAP_PRIMITIVE, "state"], args.rounds)
            results |= spread("ping", trips["ping"]) | spread("state", trips["state"])
            results |= await sandbox(bots, args.calls, trips)

            effects, tool_notes = await tool_effects(bots, stage, args.reps)
            notes += tool_notes
            seen = [e.seen_ms for e in effects if e.seen_ms is not None]
            results |= spread("tool_effect", seen)
            for op in ("place", "dig"):
                results |= spread(f"{op}_effect", [e.seen_ms for e in effects
                                                   if e.op == op and e.seen_ms is not None])
                results |= spread(f"{op}_reply", [e.reply_ms for e in effects
                                                  if e.op == op and e.ok])
            results["tool_ops"] = len(effects)
            results["tool_ops_seen"] = len(seen)
            results["tool_failures"] = [f"{e.op}: {e.error}" for e in effects if e.error]
            polls = sum(e.polls for e in effects)
            results["state_poll_ms"] = (round(sum(e.seen_ms or e.reply_ms for e in effects)
                                              / polls, 2) if polls else None)

            outcomes, untasked = await skills(bots, stage, args.quick)
            results["skill_success_pct"] = pct(sum(o["ok"] for o in outcomes), len(outcomes))
            results["skills_run"] = len(outcomes)
            results["skills"] = outcomes
            if untasked:
                notes.append(f"shipped skills with no fixed task (not run): {untasked}")

            legs = await tour(bots, stage, args.goals)
            reached = [leg for leg in legs if leg["reached"]]
            star = [leg["s"] for leg in reached if not leg["on_obstacle"]]
            results["path_20_blocks_s"] = round(percentile(star, 0.5), 2) if star else None
            results["path_success_pct"] = pct(len(reached), len(legs))
            results["path_goals"] = len(legs)
            results["paths"] = legs
        finally:
            results["sidecar_errors"] = bots.errors[-10:]
            with contextlib.suppress(SidecarError):
                await bots.aclose()
    ping = results["ping_p50_ms"]
    effect = results["tool_effect_p50_ms"]
    results["tool_effect_vs_ping"] = ratio(effect, ping) if effect is not None else None
    results["sandbox_call_vs_ping"] = ratio(results["sandbox_call_overhead_us"] / 1000, ping)
    results["machine_after"] = machine()
    results["notes"] = notes
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny counts (the CI test): 1 start, 20 rounds, 1 place+dig, 2 "
                             "goals (+ the obstacle), 200 sandbox calls, the cheap skills")
    parser.add_argument("--starts", type=int, default=3, help="sidecar starts timed (spawn_s)")
    parser.add_argument("--rounds", type=int, default=200, help="ping and state round trips")
    parser.add_argument("--reps", type=int, default=5, help="place+dig pairs timed")
    parser.add_argument("--goals", type=int, default=10, choices=range(1, 11), metavar="1..10",
                        help="goals of the star tour walked (the obstacle goal comes after)")
    parser.add_argument("--calls", type=int, default=2000,
                        help="bot.state() calls in the sandbox-overhead skill")
    parser.add_argument("--version", default=MinecraftSettings().version,
                        help="the server's and the bots' version (default: the game's)")
    args = parser.parse_args(argv)
    if args.quick:
        args.starts, args.rounds, args.reps, args.goals, args.calls = 1, 20, 1, 2, 200
    return emit(asyncio.run(measure(args)), args.json)


if __name__ == "__main__":
    main()
