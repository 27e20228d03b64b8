"""Game moves through the real LLM node: random tic-tac-toe positions asked as the director
asks a persona's move (the mover's legal actions as tools, the position, the ranked options
with their notes), each call checked against the real game, and the figures
``benchmarks/game.py`` reports for the LLM's side (`measure_moves`):

- ``valid_call_pct``: replies with exactly one call that matches its tool's schema;
- ``legal_first_try_pct``: replies whose call the game accepts as it is (no retry needed);
- ``llm_decision_p50_ms`` / ``llm_decision_p95_ms``: request published -> call published;
- ``say_pct``: replies with a non-empty spoken line; ``top_choice_pct``: calls naming the
  game's top-ranked option (the options come best first).
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field
from typing import Any

from bus.testing import BusProcess, NodeProcess, Probe
from messages.game import GameAction
from messages.llm import ChatTurn, LlmDone, LlmRequest, Sentence, ToolCall, ToolSpec
from nodes.game.games.tictactoe import TicTacToe, TicTacToeSettings

__all__ = [
    "EMBEDDED",
    "TOPICS",
    "MoveAnswer",
    "ask_move",
    "figures",
    "measure_moves",
    "move_request",
    "tictactoe_positions",
]

PLAYERS = {"X": "mika", "O": "rook"}
EMBEDDED = {"threads": 1, "context": 1024, "warm_up": False}
"""The node's parameters for the bundled model on a shared machine (one thread: a second
one stalls llama.cpp when the cores are busy)."""
TOPICS = ("llm/sentence", "llm/done", "llm/tool_call")


async def tictactoe_positions(count: int, seed: int) -> list[TicTacToe]:
    """``count`` games in random unfinished positions (0 to 7 moves played), reproducibly."""
    rng = random.Random(seed)
    games: list[TicTacToe] = []
    while len(games) < count:
        game = TicTacToe(TicTacToeSettings(first=rng.choice("XO")), PLAYERS)
        for _ in range(rng.randrange(8)):
            free = game.view()["free"]
            result = await game.apply(game.turn(), "place", {"cell": rng.choice(free)})
            assert result.ok, result.message
            if game.outcome() is not None:
                break
        if game.outcome() is None:
            games.append(game)
    return games


def move_request(request_id: str, persona: str, text: str, actions: list[GameAction],
                 last_error: str = "") -> LlmRequest:
    """A persona's move as the director asks it: the actions as tools, the position and the
    ranked options (with their notes) as a stage direction, and why the last try was refused."""
    lines = [text, "Your options, best first:"]
    for action in actions:
        for option in action.options:
            arguments = ", ".join(f"{key} {value}" for key, value in option.arguments.items())
            lines.append(f"- {action.name} {arguments}" + (f": {option.note}" if option.note
                                                          else ""))
    if last_error:
        lines.append(f"Your last move was refused: {last_error}")
    return LlmRequest(
        request_id=request_id, persona=persona,
        messages=[ChatTurn(role="system", content="\n".join(lines))],
        tools=[ToolSpec(name=a.name, description=a.description, parameters=a.schema)
               for a in actions])


@dataclass
class MoveAnswer:
    """What the node answered to one move, and what the game made of it."""

    done: LlmDone
    calls: list[ToolCall]
    sentences: list[Sentence]
    decision_ms: float | None
    """Request published -> its call published (None: no call)."""
    valid: bool = False
    legal: bool = False
    top_choice: bool = False
    refusal: str = ""
    order: list[str] = field(default_factory=list)
    """The topics of the answer in the order they arrived."""


async def ask_move(probe: Probe, game: TicTacToe, request_id: str,
                   timeout: float = 120) -> MoveAnswer:
    """Ask the mover of ``game`` for its move through the node and apply the call."""
    (action,) = game.actions()
    mover = game.turn()
    header = probe.publish("llm/request",
                           move_request(request_id, mover, game.describe(), [action]))
    await probe.wait_for("llm/done", timeout=timeout,
                         where=lambda d: d.request_id == request_id)
    answer: dict[str, list[tuple[Any, Any]]] = {
        topic: [(h, m) for h, m in probe.received[topic] if m.request_id == request_id]
        for topic in TOPICS}
    calls = [m for _, m in answer["llm/tool_call"]]
    decision_ms = None
    if calls:
        decision_ms = (answer["llm/tool_call"][0][0].stamp_ns - header.stamp_ns) / 1e6
    order = [topic for _, topic in sorted(
        (h.stamp_ns, topic) for topic in TOPICS for h, _ in answer[topic])]
    result = MoveAnswer(done=answer["llm/done"][0][1], calls=calls,
                        sentences=[m for _, m in answer["llm/sentence"]],
                        decision_ms=decision_ms, order=order)
    if len(calls) == 1 and calls[0].persona == mover:
        call = calls[0]
        result.valid = call.name == action.name and call.arguments.get("cell") in (
            action.schema["properties"]["cell"]["enum"]) and set(call.arguments) == {"cell"}
        result.top_choice = call.arguments == action.options[0].arguments
        applied = await game.apply(mover, call.name, call.arguments)
        result.legal, result.refusal = applied.ok, "" if applied.ok else applied.message
    return result


def figures(answers: list[MoveAnswer]) -> dict[str, float]:
    """The benchmark's figures from the answers."""
    count = len(answers)
    times = sorted(a.decision_ms for a in answers if a.decision_ms is not None)

    def pct(n: int) -> float:
        return round(100.0 * n / count, 1) if count else 0.0

    return {
        "moves": count,
        "valid_call_pct": pct(sum(a.valid for a in answers)),
        "legal_first_try_pct": pct(sum(a.legal for a in answers)),
        "say_pct": pct(sum(bool(a.done.text.strip()) for a in answers)),
        "top_choice_pct": pct(sum(a.top_choice for a in answers)),
        "llm_decision_p50_ms": round(statistics.median(times), 1) if times else 0.0,
        "llm_decision_p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1)
        if times else 0.0,
    }


async def measure_moves(count: int = 30, seed: int = 16,
                        parameters: dict[str, Any] | None = None) -> dict[str, float]:
    """Start a vtbus and the LLM node (the bundled model unless ``parameters`` say
    otherwise: ``{"backend": "scripted"}`` measures the framework alone), ask ``count``
    tic-tac-toe moves one after the other, and return `figures`."""
    params = {**EMBEDDED, **(parameters or {})}
    with BusProcess(ttl_s=2.0) as bus, NodeProcess("nodes.llm", bus.url, params=params):
        async with Probe(bus.url, "_moves") as probe:
            for topic in TOPICS:
                probe.collect(topic)
            await probe.wait_for_subscribers("llm/request", timeout=120)
            answers = [await ask_move(probe, game, f"move-{i}")
                       for i, game in enumerate(await tictactoe_positions(count, seed))]
    return figures(answers)
