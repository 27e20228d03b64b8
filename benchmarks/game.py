"""Games: a persona's move -> a legal action applied, the bundled model's calls, the Neuro
server's overhead, and a whole spoken tic-tac-toe game, Mika against Rook.

A move's decision (``framework_decision_ms``, ``decision_ms``): from when it could be asked
(the game node's ``game/state`` naming the mover, or the end of the turn that held the floor
then: its last ``finished`` playhead, whichever came last) to the game's ``moved`` event for
the call: the director reacting and asking, the call, the game's check and apply. Four parts in one run:

- ``framework``: a real vtbus, director and game node (processes); a stand-in in this process
  (`helpers.director.PlayingVoice`) answers each move's request at once with the first legal
  choice and "plays" its line in a millisecond: ``framework_decision_ms``. Baseline, same
  run: a plain bus round trip (a service call to the game node, ``game/get_parameters``),
  hence ``framework_decision_vs_round_trip``.
- ``neuro``: a real ``neuro-api`` game forces moves on the server in this process, an instant
  player answers (`helpers.neuro_game.measure_overhead`, shared with the tests, which is
  why this benchmark imports from tests/helpers): ``neuro_overhead_ms`` = (actions/force
  received -> action sent) minus the player's time.
- ``llm``: the LLM node alone with the bundled model (llama.cpp, constrained) asked for a move
  in ``--positions`` random tic-tac-toe positions (`helpers.llm_moves.measure_moves`, shared
  with the LLM node's tests): ``valid_call_pct`` (one call that fits its tool's schema),
  ``legal_first_try_pct`` (the game accepts it as it is), ``llm_decision_ms`` (request ->
  call).
- ``show``: the real show, ``vtlaunch stream.launch.toml`` with the bundled model (llama.cpp,
  constrained tool calls), the ``--tts`` voice (Piper by default; ``tone`` is the zero-time
  stand-in), the speaker writing WAV files, no microphone, no avatar; the game node is told to
  play tic-tac-toe. ``decision_ms`` (``model_ms``: the request -> the call on
  ``llm/tool_call``); ``show_valid_call_pct``: move requests answered with a
  call that fits the request's tool schema (checked here with jsonschema);
  ``show_legal_first_try_pct``: positions (a game after so many moves) whose first request
  was answered with a call the game played (a move asked again because the one before timed
  out before the floor was free counts for its position once);
  ``tictactoe_game_s``: the ``started`` event -> the ``finished`` event;
  ``tictactoe_heard_s``: -> the end of the spoken outcome.

Usage: ``python benchmarks/game.py [--json] [--games N] [--rounds N] [--show-games N]
[--positions N] [--tts piper|tone] [--no-show]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] == str(ROOT / "benchmarks"):
    sys.path.pop(0)  # run as a script: this folder's bus.py would shadow the `bus` package
# tests/ holds the helpers shared with the tests (`helpers.director`, `helpers.neuro_game`)
sys.path[:0] = [path for path in (str(ROOT), str(ROOT / "tests")) if path not in sys.path]

from jsonschema import Draft202012Validator  # noqa: E402

from benchmarks.report import arguments, emit, machine, percentile, ratio  # noqa: E402
from bus.testing import BusProcess, NodeProcess, Probe  # noqa: E402
from launch.testing import LaunchProcess  # noqa: E402
from messages.game import GameEvent  # noqa: E402
from messages.llm import LlmRequest, ToolCall  # noqa: E402
from messages.system import (  # noqa: E402
    GetParameters,
    ParamGetRequest,
    ParamSetRequest,
    SetParameters,
)

LAUNCH = ROOT / "launch" / "stream.launch.toml"
GAME = "tictactoe"
TOPICS = ("game/state", "game/event", "llm/request", "llm/tool_call", "tts/audio",
          "audio/playhead")
"""What a move's path is read from."""
NOT_A_PERSONA = {"", "chat"}


@dataclass(frozen=True)
class Seen:
    """One message as the probe received it, with its publisher's stamp."""

    topic: str
    stamp_ns: int
    msg: Any


@dataclass
class Move:
    """One move asked of a persona (one ``move_id``), and what became of it."""

    move_id: str
    persona: str
    attempt: int
    position: tuple[str, int]
    """The game and how many moves were made before this one."""
    asked_ns: int
    """The game/state naming the mover with this move_id."""
    ready_ns: int = 0
    """When the move could be asked: the ask, or the end of the turn that held the floor
    then (its last ``finished`` playhead), whichever came last."""
    request: LlmRequest | None = None
    request_ns: int = 0
    call: ToolCall | None = None
    call_ns: int = 0
    valid: bool = False
    """The call names one of the request's tools and its arguments fit that tool's schema."""
    refused: bool = False
    """The game refused the call (``invalid`` event)."""
    applied_ns: int = 0
    """The game's ``moved`` event for this move's call (0: not played by the call)."""

    @property
    def decision_ms(self) -> float:
        """The move asked on a free floor -> its action applied."""
        return (self.applied_ns - self.ready_ns) / 1e6


def gathered(received: dict[str, list[tuple[Any, Any]]], topics: Iterable[str] = TOPICS
             ) -> list[Seen]:
    """A probe's collected ``topics`` as one list in publishing order."""
    found = [Seen(topic, header.stamp_ns, msg) for topic in topics
             for header, msg in received.get(topic, [])]
    return sorted(found, key=lambda s: s.stamp_ns)


def fits(call: ToolCall, request: LlmRequest) -> bool:
    """Whether ``call`` names a tool of ``request`` with arguments its schema accepts."""
    tool = next((t for t in request.tools if t.name == call.name), None)
    if tool is None:
        return False
    return Draft202012Validator(tool.parameters or {"type": "object"}).is_valid(call.arguments)


def move_log(seen: Sequence[Seen]) -> list[Move]:
    """Every move asked of a persona, in order, read from the messages of a run."""
    moves: dict[str, Move] = {}
    heard_ns = 0
    for item in seen:
        msg = item.msg
        if item.topic == "audio/playhead" and msg.state == "finished":
            heard_ns = item.stamp_ns
        elif item.topic == "game/state":
            if (msg.move_id and msg.move_id not in moves and msg.turn not in NOT_A_PERSONA
                    and not msg.finished):
                moves[msg.move_id] = Move(msg.move_id, msg.turn, msg.attempt,
                                          (msg.game_id, len(msg.moves)), item.stamp_ns)
        elif item.topic == "llm/request" and not msg.prefill:
            move = moves.get(msg.request_id.split("/")[0]) if msg.tools else None
            if move is not None and move.request is None:
                move.request, move.request_ns = msg, item.stamp_ns
                move.ready_ns = max(move.asked_ns, heard_ns)
        elif item.topic == "llm/tool_call":
            move = moves.get(msg.request_id.split("/")[0])
            if move is not None and move.request is not None and move.call is None:
                move.call, move.call_ns = msg, item.stamp_ns
                move.valid = fits(msg, move.request)
        elif item.topic == "game/event" and moves:
            last = next(reversed(moves.values()))  # the game moves one at a time
            if msg.persona != last.persona or last.call is None:
                continue
            if msg.event == "invalid":
                last.refused = True
            elif msg.event == "moved" and not last.refused and not last.applied_ns:
                last.applied_ns = item.stamp_ns
    return list(moves.values())


def spread(name: str, values: Sequence[float]) -> dict[str, float | None]:
    """``NAME_p50_ms`` and ``NAME_p95_ms`` of ``values`` (None when there are none)."""
    return {f"{name}_p50_ms": round(statistics.median(values), 2) if values else None,
            f"{name}_p95_ms": round(percentile(values, 0.95), 2) if values else None}


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def call_figures(moves: Sequence[Move]) -> dict[str, Any]:
    """The calls' validity and the first tries, over the moves that were asked."""
    asked = [m for m in moves if m.request is not None]
    firsts: dict[tuple[str, int], Move] = {}
    for move in asked:
        firsts.setdefault(move.position, move)
    return {"positions": len(firsts), "move_requests": len(asked),
            "valid_call_pct": pct(sum(m.valid for m in asked), len(asked)),
            "legal_first_try_pct": pct(sum(bool(m.applied_ns) for m in firsts.values()),
                                       len(firsts))}


@dataclass(frozen=True)
class Played:
    """One whole game as the show played it."""

    outcome: str
    moves: list[str]
    game_s: float
    """``started`` -> ``finished``."""
    heard_s: float | None
    """``started`` -> the last playhead of the line that said the outcome."""
    move_turns: int
    """Requests for a move (one per try)."""
    move_turns_spoken: int
    """Of those, the ones whose line was voiced (``tts/audio``)."""


def played_games(seen: Sequence[Seen], moves: Sequence[Move]) -> list[Played]:
    """The games that finished in a run, with their time and what was heard of them."""
    events = [s for s in seen if s.topic == "game/event"]
    states = [s.msg for s in seen if s.topic == "game/state" and s.msg.finished]
    voiced = {s.msg.request_id for s in seen if s.topic == "tts/audio"}
    games = []
    for end in (e for e in events if e.msg.event == "finished"):
        started = next((e for e in events if e.msg.event == "started"
                        and e.msg.game_id == end.msg.game_id), None)
        final = next((s for s in states if s.game_id == end.msg.game_id), None)
        if started is None or final is None:
            continue
        said = next((s.msg.request_id for s in seen if s.topic == "llm/request"
                     and not s.msg.prefill and not s.msg.tools and s.msg.messages
                     and end.msg.text in s.msg.messages[-1].content), None)
        heard = [s.stamp_ns for s in seen if s.topic == "audio/playhead"
                 and s.msg.request_id == said and s.msg.state == "finished"]
        mine = [m for m in moves if started.stamp_ns <= m.asked_ns <= end.stamp_ns]
        games.append(Played(
            outcome=final.outcome, moves=list(final.moves),
            game_s=round((end.stamp_ns - started.stamp_ns) / 1e9, 1),
            heard_s=round((max(heard) - started.stamp_ns) / 1e9, 1) if heard else None,
            move_turns=sum(1 for m in mine if m.request is not None),
            move_turns_spoken=sum(1 for m in mine if m.request is not None
                                  and m.request.request_id in voiced)))
    return games


# ------------------------------------------------------------------ driving a run


def collect(probe: Probe) -> None:
    for topic in TOPICS:
        probe.collect(topic)


async def play(probe: Probe, games: int, timeout: float, **params: Any) -> None:
    """Have the game node play ``games`` tic-tac-toe games one after the other (``params``
    set with the first), each to its end and its spoken outcome heard."""
    setter = probe.create_client(SetParameters, "game/set_parameters")
    if not await setter.wait_for_service(60):
        raise RuntimeError("the game node's game/set_parameters does not answer")
    for n in range(games):
        done = len([e for e in probe.messages("game/event") if e.event == "finished"])
        values = {**(params if n == 0 else {}), "game": GAME}
        reply = await setter.call(ParamSetRequest(values=values), timeout=10)
        if not reply.successful:
            raise RuntimeError(f"the game node refused {values}: {reply.reason}")
        ends = await probe.wait_for("game/event", count=done + 1, timeout=timeout,
                                    where=lambda e: e.event == "finished")
        await outcome_heard(probe, ends[done], timeout)


async def outcome_heard(probe: Probe, end: GameEvent, timeout: float) -> None:
    """Until a persona was asked to say ``end`` (a game's outcome) and it was heard."""
    (said, *_) = await probe.wait_for("llm/request", timeout=timeout, where=lambda r: (
        not r.tools and not r.prefill and bool(r.messages)
        and end.text in r.messages[-1].content))
    await probe.wait_for("audio/playhead", timeout=timeout, where=lambda h: (
        h.request_id == said.request_id and h.state == "finished"))


async def round_trips(probe: Probe, rounds: int) -> list[float]:
    """A plain bus round trip: ``game/get_parameters`` answered by the game node."""
    getter = probe.create_client(GetParameters, "game/get_parameters")
    if not await getter.wait_for_service(30):
        raise RuntimeError("the game node's game/get_parameters does not answer")
    times = []
    for _ in range(rounds + 10):
        started = time.perf_counter()
        await getter.call(ParamGetRequest(names=["game"]), timeout=5)
        times.append((time.perf_counter() - started) * 1000)
    return times[10:]  # the first calls connect


async def framework(games: int, rounds: int, work: Path) -> dict[str, Any]:
    from helpers.director import PlayingVoice

    with BusProcess() as bus:
        async with Probe(bus.url, "_bench_game") as probe:
            PlayingVoice(probe, seconds_per_sentence=0.001)
            collect(probe)
            nodes = [NodeProcess("nodes.director", bus.url,
                                 params={"banter_turns": 0, "quiet_s": 1000}),
                     NodeProcess("nodes.game", bus.url,
                                 params={"state_dir": str(work / "framework")})]
            try:
                for node, topic in zip(nodes, ("game/state", "llm/tool_call"), strict=True):
                    node.start()
                    await probe.wait_for_process(node, [topic])
                trips = await round_trips(probe, rounds)
                await play(probe, games, timeout=120)
            finally:
                for node in reversed(nodes):
                    node.stop()
            seen = gathered(probe.received)
    moves = move_log(seen)
    out: dict[str, Any] = {"moves": len(moves)}
    out |= spread("decision", [m.decision_ms for m in moves if m.applied_ns])
    out |= spread("director_ask", [(m.request_ns - m.ready_ns) / 1e6 for m in moves
                                   if m.request_ns])
    out |= spread("call_to_applied", [(m.applied_ns - m.call_ns) / 1e6 for m in moves
                                      if m.applied_ns])
    out |= spread("bus_round_trip", trips)
    out |= call_figures(moves)
    return out


async def neuro(rounds: int) -> dict[str, Any]:
    from helpers.neuro_game import measure_overhead

    measured = await measure_overhead(rounds)
    return {**spread("overhead", measured["overhead_ms"]),
            **spread("round_trip", measured["round_trip_ms"])}


async def llm_moves(positions: int) -> dict[str, Any]:
    from helpers.llm_moves import measure_moves

    return dict(await measure_moves(positions))


async def show(games: int, tts: str, move_timeout_s: float | None, work: Path
               ) -> dict[str, Any]:
    # a fixed seed: the bundled model plays and says the same run after run
    args = ["mic:=false", "avatar:=false", "audio_device:=wav", "quiet_s:=1000",
            "banter_turns:=0", f"tts:={tts}", "llm_seed:=7",
            f"memory_path:={work / 'memory'}"]
    with LaunchProcess(LAUNCH, args, env={"VT_DATA_DIR": str(work / "data")}) as launched:
        await asyncio.to_thread(launched.wait_output, "every node on the bus", 300)
        async with Probe(launched.bus_url, "_bench_game") as probe:
            collect(probe)
            await probe.wait_for_subscribers("game/state", 1, timeout=30)  # the director
            timeouts = {} if move_timeout_s is None else {"move_timeout_s": move_timeout_s}
            await play(probe, games, timeout=900, **timeouts)
            seen = gathered(probe.received)
        await asyncio.to_thread(launched.interrupt, 60)
    moves = move_log(seen)
    played = played_games(seen, moves)
    out: dict[str, Any] = {"tts": tts, "llm": "llamacpp"}
    out |= spread("decision", [m.decision_ms for m in moves if m.applied_ns])
    out |= spread("model", [(m.call_ns - m.request_ns) / 1e6 for m in moves if m.call_ns])
    out |= call_figures(moves)
    out["games"] = [{"outcome": g.outcome, "moves": len(g.moves), "game_s": g.game_s,
                     "heard_s": g.heard_s, "move_turns": g.move_turns,
                     "move_turns_spoken": g.move_turns_spoken,
                     "history": g.moves} for g in played]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--games", type=int, default=5,
                        help="tic-tac-toe games the stand-in plays (framework figures)")
    parser.add_argument("--rounds", type=int, default=200,
                        help="bus round trips (baseline) and Neuro moves measured")
    parser.add_argument("--positions", type=int, default=20,
                        help="random positions the bundled model is asked a move in, the LLM "
                             "node alone (0: none)")
    parser.add_argument("--show-games", type=int, default=1,
                        help="games the bundled model plays in the real show")
    parser.add_argument("--tts", choices=("piper", "tone"), default="piper",
                        help="the show's voice: Piper (bundled) or the zero-time tone")
    parser.add_argument("--move-timeout", type=float, default=None,
                        help="the game node's move_timeout_s in the show (a move without a "
                             "call is asked again after it; default: the node's)")
    parser.add_argument("--no-show", action="store_true",
                        help="leave out the bundled show (framework and Neuro figures only)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vt-game-", dir="/tmp"))
    results: dict[str, Any] = {"machine": machine()}
    results["framework"] = asyncio.run(framework(args.games, args.rounds, work))
    results["neuro"] = asyncio.run(neuro(args.rounds))
    fw, nr = results["framework"], results["neuro"]
    results["framework_decision_p50_ms"] = fw["decision_p50_ms"]
    results["framework_decision_p95_ms"] = fw["decision_p95_ms"]
    results["bus_round_trip_p50_ms"] = fw["bus_round_trip_p50_ms"]
    results["framework_decision_vs_round_trip"] = (
        ratio(fw["decision_p50_ms"], fw["bus_round_trip_p50_ms"])
        if fw["decision_p50_ms"] is not None else None)
    results["neuro_overhead_p50_ms"] = nr["overhead_p50_ms"]
    results["neuro_overhead_p95_ms"] = nr["overhead_p95_ms"]
    if args.positions:
        results["llm"] = moves = asyncio.run(llm_moves(args.positions))
        results["valid_call_pct"] = moves["valid_call_pct"]
        results["legal_first_try_pct"] = moves["legal_first_try_pct"]
        results["positions"] = moves["moves"]
        results["llm_decision_p50_ms"] = moves["llm_decision_p50_ms"]
        results["llm_decision_p95_ms"] = moves["llm_decision_p95_ms"]
    if not args.no_show:
        results["show"] = sh = asyncio.run(show(args.show_games, args.tts, args.move_timeout,
                                                work))
        results["machine_after_show"] = machine()
        results["decision_p50_ms"] = sh["decision_p50_ms"]
        results["decision_p95_ms"] = sh["decision_p95_ms"]
        results["show_valid_call_pct"] = sh["valid_call_pct"]
        results["show_legal_first_try_pct"] = sh["legal_first_try_pct"]
        results["show_positions"] = sh["positions"]
        first = sh["games"][0] if sh["games"] else {}
        results["tictactoe_game_s"] = first.get("game_s")
        results["tictactoe_heard_s"] = first.get("heard_s")
        results["tictactoe_outcome"] = first.get("outcome")
        results["tictactoe_moves"] = first.get("moves")
        results["tictactoe_tts"] = args.tts
    return emit(results, args.json, human)


def human(results: dict[str, Any]) -> str:
    """The headline figures, one a line; the parts' details as they are."""
    flat = {k: v for k, v in results.items() if not isinstance(v, dict)}
    width = max(len(k) for k in flat)
    lines = [f"{k:<{width}}  {v}" for k, v in flat.items()]
    for part in ("framework", "neuro", "llm", "show"):
        if part in results:
            lines.append(f"{part}: {results[part]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
