"""The Minecraft game in the real game node, its bots in a real flying-squid on 127.0.0.1 (the
shared ``minecraft_server``), driven as the show drives it: chat lines on ``chat/message``,
the persona's calls on ``llm/tool_call`` answering the state's ``move_id`` (as the LLM node
publishes them), the answers read on ``game/state``, ``game/event`` and ``chat/incoming``.

Also the Python client of the sidecar (`nodes.game.minecraft.sidecar.Sidecar`) against a
Node peer that misbehaves the ways the real one should not (garbage, a 3 MiB line, dying mid
call), since those faults cannot be produced on demand from the real sidecar."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.chat import chat_line
from helpers.minecraft import MinecraftServer, SidecarClient, bot_config

from bus.testing import NodeHarness, wait_until
from messages.game import GameEvent, GameState
from messages.llm import LlmDone, ToolCall
from nodes.director.games import move_request
from nodes.game.games.minecraft import Minecraft
from nodes.game.minecraft.sidecar import Sidecar, SidecarError
from nodes.game.node import GameNode
from nodes.llm.node import LlmNode

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

WAIT_S = 90.0
"""For one move to be applied or the bots to join (a collect takes a few seconds alone; the
machine is shared)."""
TRIES = 3
"""Calls a persona makes for one ask (the game node's max_attempts)."""

GOOD_SKILL = textwrap.dedent("""\
    async function digBeside(bot) {
      const [x, y, z] = (await bot.state()).position.map(Math.floor)
      for (const [dx, dy, dz] of [[1, -1, 0], [0, -1, 1], [-1, -1, 0], [0, -1, -1],
                                  [1, -2, 0], [0, -2, 1], [-1, -2, 0], [0, -2, -1]]) {
        try {
          return (await bot.dig(x + dx, y + dy, z + dz)).before
        } catch (error) {}  // dug already (the world is shared): the next cell
      }
      throw new Error('nothing left to dig beside me')
    }
""")
BAD_SKILL = textwrap.dedent("""\
    async function digBeside(bot) {
      const fs = require('fs')
      return fs.readFileSync('/etc/passwd', 'utf8')
    }
""")


class Show:
    """The game node with ``game=minecraft`` in a harness: feed it, read what it published."""

    def __init__(self, harness: NodeHarness):
        self.h = harness
        self.calls = 0

    @property
    def game(self) -> Minecraft:
        game = cast(GameNode, self.h.node).game
        assert isinstance(game, Minecraft)
        return game

    def states(self) -> list[GameState]:
        return list(self.h.messages("game/state"))

    def events(self, name: str = "") -> list[GameEvent]:
        return [e for e in self.h.messages("game/event") if not name or e.event == name]

    async def state(self, where: Callable[[GameState], Any], what: str, *, since: int = 0,
                    timeout: float = WAIT_S) -> GameState:
        found = await wait_until(lambda: [s for s in self.states()[since:] if where(s)],
                                 timeout, what=what)
        state: GameState = found[-1]
        return state

    async def online(self, *, since: int = 0) -> GameState:
        return await self.state(lambda s: s.game == "minecraft" and s.state["bots"] and all(
            bot["online"] for bot in s.state["bots"].values()), "both bots online", since=since)

    async def ask(self, text: str, persona: str, **line: Any) -> GameState:
        """A chat line taken as an ask: the state that makes it ``persona``'s move."""
        msg = chat_line(text, **line)
        seen = len(self.states())
        self.h.feed("chat/message", msg)
        return await self.state(lambda s: s.turn == persona and msg.id in s.asks,
                                f"{text!r} to become {persona}'s move", since=seen)

    async def call(self, name: str, arguments: dict[str, Any]) -> tuple[GameEvent, GameState]:
        """The mover calls ``name`` answering the current move, as the LLM node would: the
        node's verdict (``moved`` or ``invalid``) and the state after it."""
        before = self.states()[-1]
        seen = len(self.events())
        self.calls += 1
        self.h.feed("llm/tool_call", ToolCall(
            request_id=f"{before.move_id}/r{self.calls}", persona=before.turn,
            call_id=f"c{self.calls}", name=name, arguments=arguments))
        verdict = await wait_until(lambda: next((e for e in self.events()[seen:]
                                                 if e.event in ("moved", "invalid")), None),
                                   WAIT_S, what=f"{name} to be applied")
        after = await self.state(lambda s: s.move_id != before.move_id,
                                 "the state after the move")
        return verdict, after


def game_params(server: MinecraftServer, folder: Path) -> dict[str, Any]:
    return {"game": "minecraft", "state_dir": str(folder / "state"),
            "settings": {"minecraft": {"port": server.port, "version": server.version,
                                       "skills_dir": str(folder / "skills")}}}


@pytest.fixture
async def show(minecraft_server: MinecraftServer, tmp_path: Path) -> AsyncIterator[Show]:
    async with NodeHarness(GameNode, parameters=game_params(minecraft_server, tmp_path)) as harness:
        show = Show(harness)
        await show.online()
        yield show


async def test_an_ask_in_chat_is_carried_out_verified_and_announced(show: Show) -> None:
    state = await show.ask("Rook, get some dirt", "rook", user="alice")
    assert state.hears_chat
    [collect] = state.actions
    assert collect.name == "collect" and collect.options[0].arguments == {"block": "dirt",
                                                                           "count": 3}
    for _ in range(TRIES):  # a drop picked up late fails the check: asked again, as the LLM is
        verdict, state = await show.call("collect", collect.options[0].arguments)
        if verdict.event == "moved":
            break
        assert "but the request is not done: Rook has" in verdict.text
        assert "Now: Rook at" in state.last_error and state.turn == "rook"
    assert verdict.event == "moved", verdict
    [done] = show.events("task_done")
    assert done.speak and done.data["persona"] == "rook" and "Rook has" in done.text
    assert state.state["bots"]["rook"]["inventory"]["dirt"] >= 3
    assert state.turn == "" and state.moves[-1].startswith("rook: 'get some dirt' for alice")

    # placing one: the game picks the cell beside Rook's feet and checks the block is there
    state = await show.ask("Rook, place a dirt block", "rook", user="alice")
    assert [(a.name, a.options[0].arguments) for a in state.actions] == [("place",
                                                                          {"item": "dirt"})]
    for _ in range(TRIES):  # a cell taken (the world is shared): the next side
        verdict, state = await show.call("place", {"item": "dirt"})
        if verdict.event == "moved":
            break
    assert verdict.event == "moved", verdict.text
    assert "the block at (" in verdict.text and "is dirt, wanted dirt" in verdict.text

    # a player nobody can find: refused with the reason and the state, asked again, given up
    state = await show.ask("Mika, go to Zed", "mika", user="bob")
    verdict, state = await show.call(state.actions[0].name, state.actions[0].options[0].arguments)
    assert verdict.event == "invalid" and state.turn == "mika" and state.attempt == 1
    assert "Zed" in state.last_error and "Now: Mika at" in state.last_error
    assert [a.name for a in state.actions] == ["goto_player", "give_up"]
    verdict, state = await show.call("give_up", {"reason": "I cannot find Zed"})
    assert verdict.event == "moved" and state.turn == ""
    [failed] = show.events("task_failed")
    assert failed.speak and failed.data["persona"] == "mika" and "cannot find Zed" in failed.text


async def test_a_written_skill_is_verified_kept_and_offered_again(show: Show,
                                                                   tmp_path: Path) -> None:
    state = await show.ask("Rook, make a hole next to you", "rook")
    assert "write_skill" in [a.name for a in state.actions]
    skill = {"name": "digBeside", "description": "Dig the block beside the bot's feet"}

    verdict, state = await show.call("write_skill", {**skill, "code": BAD_SKILL})
    assert verdict.event == "invalid" and state.turn == "rook" and state.attempt == 1
    assert "require" in state.last_error and "Now: Rook at" in state.last_error
    assert not (tmp_path / "skills" / "digBeside.js").exists()

    verdict, state = await show.call("write_skill", {**skill, "code": GOOD_SKILL})
    assert verdict.event == "moved", verdict
    assert (tmp_path / "skills" / "digBeside.js").read_text() == GOOD_SKILL
    assert (tmp_path / "skills" / "digBeside.json").is_file()
    [learned] = show.events("skill_learned")
    assert learned.speak and learned.data == {"persona": "rook", "skill": "digBeside"}

    state = await show.ask("Rook, make another hole beside you", "rook")
    [run_skill] = [a for a in state.actions if a.name == "run_skill"]
    assert "digBeside" in run_skill.schema["properties"]["skill"]["enum"]
    verdict, state = await show.call("run_skill", {"skill": "digBeside", "args": []})
    assert verdict.event == "moved" and "ran skill digBeside" in verdict.text, verdict.text
    assert len(show.events("task_done")) == 2


async def test_game_chat_both_ways_and_a_killed_sidecar_comes_back(
        show: Show, minecraft_server: MinecraftServer) -> None:
    with SidecarClient(bot_config(minecraft_server.port, {"alice": "Alice"})) as alice:
        await asyncio.to_thread(alice.wait_spawned, "alice")
        # our bots in the world with Alice (a line said while they rejoin is not heard: once,
        # 1.21.4, both were dropped as Alice joined and came back a second later)
        await wait_until(lambda: all(bot.online and "Alice" in str(bot.state.get("nearby_players"))
                                     for bot in show.game.bots.values()), WAIT_S,
                         what="Mika and Rook to see Alice")
        await asyncio.to_thread(alice.call, "chat", "alice", {"text": "Mika, come to me"})
        [heard] = await wait_until(lambda: show.h.messages("chat/incoming"), WAIT_S,
                                   what="Alice's line on chat/incoming")
        assert (heard.platform, heard.user, heard.text) == ("minecraft", "Alice",
                                                            "Mika, come to me")
        assert heard.id

        # the chat node passes it on as chat/message: the game takes it as Mika's move
        seen = len(show.states())
        show.h.feed("chat/message", heard)
        state = await show.state(lambda s: s.turn == "mika" and heard.id in s.asks,
                                 "Alice's line to become Mika's move", since=seen)
        assert [(a.name, a.options[0].arguments) for a in state.actions] == [
            ("goto_player", {"player": "Alice"})]
        verdict, state = await show.call("goto_player", {"player": "Alice"})
        assert verdict.event == "moved", verdict.text
        [done] = show.events("task_done")
        assert "Mika is" in done.text and "blocks from Alice" in done.text

        # a persona's line answering one of the game's moves is said in game chat
        mark = alice.mark()
        show.h.feed("llm/done", LlmDone(request_id=f"{show.states()[-1].game_id}.1",
                                        persona="mika", text="On my way, Alice!"))
        said = await asyncio.to_thread(  # it blocks: the game's relay runs on this loop
            alice.wait_event, "chat", since=mark, username="Mika", timeout_s=WAIT_S)
        assert said["message"] == "On my way, Alice!"
        mark = alice.mark()  # a line that looks like a command is only said, never run
        show.h.feed("llm/done", LlmDone(request_id=f"{show.states()[-1].game_id}.1",
                                        persona="rook", text="/kill Alice"))
        said = await asyncio.to_thread(
            alice.wait_event, "chat", since=mark, username="Rook", timeout_s=WAIT_S)
        assert said["message"] == "kill Alice"

    old_pid = show.game.sidecar.pid
    assert old_pid is not None
    seen = len(show.states())
    os.kill(old_pid, signal.SIGKILL)
    offline = await show.state(lambda s: not any(b["online"] for b in s.state["bots"].values()),
                               "the bots offline", since=seen)
    assert "sidecar exited" in offline.state["bots"]["mika"]["problem"]
    await show.online(since=seen)
    assert show.game.sidecar.restarts == 1 and show.game.sidecar.pid not in (None, old_pid)


async def test_a_restarted_node_resumes_the_open_asks(minecraft_server: MinecraftServer,
                                                      tmp_path: Path) -> None:
    params = game_params(minecraft_server, tmp_path)
    async with NodeHarness(GameNode, parameters=params) as harness:
        show = Show(harness)
        await show.online()
        before = await show.ask("Rook, go to 3 4 3", "rook", msg_id="ask-1")
    async with NodeHarness(GameNode, parameters=params) as harness:  # its save, a fresh sidecar
        show = Show(harness)
        await wait_until(lambda: show.events("resumed"), WAIT_S, what="the resumed event")
        after = await show.state(lambda s: s.turn == "rook", "Rook's move again")
        assert after.asks == ["ask-1"] and after.game_id == before.game_id
        assert after.actions == before.actions
        verdict, _ = await show.call("goto", after.actions[0].options[0].arguments)
        assert verdict.event == "moved", verdict.text


# ------------------------------------------------------------------ the client's own faults

PEER = r"""
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
let configured = false
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (!configured) { configured = true; out({ event: 'ready', config: JSON.parse(line) }); return }
  const { id, op } = JSON.parse(line)
  if (op === 'ping') out({ id, ok: true, result: { pong: true } })
  if (op === 'garbage') {
    process.stdout.write('not json\n[1]\n')
    out({ id: 'nope', ok: true })
    out({ id, ok: false, error: 'boom', code: 'failed' })
  }
  if (op === 'huge') {
    process.stdout.write('x'.repeat(3 * 2 ** 20) + '\n')
    out({ id, ok: true, result: { after: true } })
  }
  if (op === 'die') { console.error('[sidecar] going down'); process.exit(3) }
}).on('close', () => process.exit(0))
"""


async def test_the_client_survives_a_peer_that_misbehaves(tmp_path: Path) -> None:
    script = tmp_path / "peer.js"
    script.write_text(PEER)
    (tmp_path / "node_modules").mkdir()
    events: list[dict[str, Any]] = []
    sidecar = Sidecar({"host": "127.0.0.1"}, events.append, script=script, backoff_s=(0.2, 1.0))
    await sidecar.start()
    try:
        assert await sidecar.call("mika", "ping") == {"pong": True}
        await wait_until(lambda: events, 10, what="the ready event")
        assert events[0] == {"event": "ready", "config": {"host": "127.0.0.1"}}

        with pytest.raises(SidecarError, match="boom") as failed:
            await sidecar.call("mika", "garbage")
        assert failed.value.code == "failed" and sidecar.bad_lines == 3
        assert await sidecar.call("mika", "huge") == {"after": True}  # the long line dropped

        waiting = asyncio.create_task(sidecar.call("mika", "hang", timeout_s=60))
        with pytest.raises(SidecarError, match="exited") as died:
            await sidecar.call("mika", "die")
        assert died.value.code == "offline"
        with pytest.raises(SidecarError) as dropped:
            await waiting  # failed at once, not after its 60 s
        assert dropped.value.code == "offline"
        exited = await wait_until(lambda: [e for e in events if e["event"] == "exited"], 10,
                                  what="the exited event")
        assert exited[0]["code"] == 3 and "[sidecar] going down" in exited[0]["stderr"]
        await wait_until(lambda: sidecar.restarts == 1 and sidecar.pid, 10, what="a restart")
        assert await sidecar.call("mika", "ping") == {"pong": True}
    finally:
        await sidecar.aclose()
    assert sidecar.pid is None


async def test_the_scripted_llm_writes_a_skill_bad_then_good(show: Show, tmp_path: Path) -> None:
    """Skill writing end to end through the LLM node: the director's request for the move
    (the actions as tools), the scripted backend's raw replies (bad code, then good code)
    checked by the LLM node against the write_skill schema, its calls to the game node."""
    replies = [json.dumps({"action": {"name": "write_skill", "arguments": {
        "name": "digBesideMe", "description": "Dig a block beside me", "code": code}},
        "say": "Let me write that down."}) for code in (
            BAD_SKILL.replace("digBeside", "digBesideMe"),
            GOOD_SKILL.replace("digBeside", "digBesideMe"))]
    async with NodeHarness(LlmNode, parameters={
            "backend": "scripted", "warm_up": False,
            "backend_settings": {"replies": replies}}) as llm:
        state = await show.ask("Mika, make a hole next to you", "mika")
        for attempt in (1, 2):
            request = move_request(f"{state.move_id}/s{attempt}", "mika", [], state, [])
            assert "write_skill" in [tool.name for tool in request.tools]
            llm.feed("llm/request", request)
            [call] = await wait_until(lambda r=request: [  # type: ignore[misc]
                c for c in llm.messages("llm/tool_call") if c.request_id == r.request_id],
                WAIT_S, what="the scripted call")
            seen = len(show.states())
            show.h.feed("llm/tool_call", call)
            state = await show.state(lambda s, old=state: s.move_id != old.move_id,
                                     "the state after the scripted move", since=seen)
            if attempt == 1:
                assert state.attempt == 1 and "require" in state.last_error
    assert (tmp_path / "skills" / "digBesideMe.js").is_file()
    assert [e.data["skill"] for e in show.events("skill_learned")] == ["digBesideMe"]
