"""The skill sandbox (nodes/game/minecraft/sidecar/sandbox.js) run for real: real isolated-vm
isolates with their real memory and time limits.

- A small Node host (DRIVER, over JSON lines on stdin/stdout, like the sidecar) runs skills with
  runSkill and a `call` that records each primitive call and answers it from the request's
  script: hostile skills are contained with a clear error while the host keeps answering, and
  each call a skill makes is seen.
- The real sidecar's `run_skill` against a real flying-squid (tests/helpers/minecraft.py): the
  same hostile skills while the bot answers `state` and `ping`, and the shipped skills doing
  their work in the world."""

from __future__ import annotations

import itertools
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.minecraft import MinecraftServer, SidecarClient, SidecarReplyError, spawned_bots
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SIDECAR = ROOT / "nodes/game/minecraft/sidecar"
SKILLS = ROOT / "nodes/game/minecraft/skills"
WAIT_S = 60.0  # for one reply; a skill's own limit is a few seconds at most here

# A host for runSkill. Requests: {"id", "op": "ping"} | {"id", "op": "cancel", "run": id} |
# {"id", "op": "run", "skill": {code, main, args, library, timeoutMs, memoryMb},
# "answers": {op: [answer, ...]}} where an answer is
# {"result": ...} | {"error": "...", "code": "..."} | {"hang": true}; the last answer repeats.
# Out: {"event": "call", "id", "op", "args"} for each primitive call, then the run's reply.
DRIVER = r"""
const { runSkill } = require(process.argv[1])
const readline = require('readline')
const out = (object) => process.stdout.write(JSON.stringify(object) + '\n')
const controllers = new Map()
async function run({ id, skill, answers = {} }) {
  const controller = new AbortController()
  controllers.set(id, controller)
  const used = {}
  const call = async (op, args) => {
    out({ event: 'call', id, op, args })
    const script = answers[op] || [{ result: {} }]
    const answer = script[Math.min(used[op] = (used[op] ?? -1) + 1, script.length - 1)]
    if (answer.hang) return new Promise(() => {})
    if (answer.error) throw Object.assign(new Error(answer.error), { code: answer.code })
    return answer.result
  }
  try {
    out({ id, ok: true, result: await runSkill({ ...skill, call, signal: controller.signal }) })
  } catch (error) {
    out({ id, ok: false, error: error.message, code: error.code, calls: error.calls })
  } finally {
    controllers.delete(id)
  }
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line)
  if (request.op === 'ping') out({ id: request.id, ok: true, result: { pong: true } })
  else if (request.op === 'cancel') controllers.get(request.run)?.abort()
  else run(request)
}).on('close', () => process.exit(0))
"""


class SandboxHost:
    """The DRIVER as a child process; replies and call events are read by a thread."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not (SIDECAR / "node_modules/isolated-vm").is_dir():
            pytest.fail("needs node and the sidecar's npm packages: run `make setup` "
                        "(npm ci in nodes/game/minecraft/sidecar)")
        self._process = subprocess.Popen(
            [node, "-e", DRIVER, str(SIDECAR / "sandbox.js")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(json.loads(line))

    def send(self, op: str, **fields: Any) -> int:
        request_id = next(self._ids)
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"id": request_id, "op": op, **fields}) + "\n")
        self._process.stdin.flush()
        return request_id

    def next_line(self, what: str) -> dict[str, Any]:
        try:
            return self._lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no line from the sandbox host within {WAIT_S} s "
                                 f"waiting for {what}") from None

    def until(self, matches: Callable[[dict[str, Any]], bool], what: str,
              seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Read lines up to the first that `matches`; the lines before it go to `seen`."""
        while not matches(line := self.next_line(what)):
            if seen is not None:
                seen.append(line)
        return line

    def run(self, code: str, main: str = "main", *, args: list[Any] | None = None,
            library: list[str] | None = None, answers: dict[str, Any] | None = None,
            timeout_ms: int = 5000, memory_mb: int = 32) -> int:
        return self.send("run", answers=answers or {}, skill={
            "code": code, "main": main, "args": args or [], "library": library or [],
            "timeoutMs": timeout_ms, "memoryMb": memory_mb})

    def result(self, request_id: int, calls: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
        """The run's reply; its call events (and any other lines before it) go to `calls`."""
        return self.until(lambda line: line.get("id") == request_id and "ok" in line,
                          f"the reply to {request_id}", calls)

    def call_event(self, request_id: int) -> dict[str, Any]:
        return self.until(lambda line: line.get("event") == "call" and
                          line.get("id") == request_id, f"a primitive call of {request_id}")

    def ping(self) -> None:
        request_id = self.send("ping")
        assert self.result(request_id) == {"id": request_id, "ok": True,
                                           "result": {"pong": True}}

    def close(self) -> int:
        """Close its stdin (it then calls process.exit(0), as the sidecar does); its exit code."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            return self._process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise AssertionError(f"the sandbox host did not exit within {WAIT_S} s") from None


@pytest.fixture(scope="module")
def host() -> Iterator[SandboxHost]:
    sandbox = SandboxHost()
    yield sandbox
    assert sandbox.close() == 0


def failed(host: SandboxHost, code: str, **options: Any) -> str:
    """Run a skill that must fail; the host answers a ping after; return the error."""
    reply = host.result(host.run(code, **options))
    assert reply["ok"] is False, reply
    assert reply["code"] == "skill_error"
    host.ping()
    return str(reply["error"])


def calls_of(lines: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(line["op"], line["args"]) for line in lines if line.get("event") == "call"]


class TestGoodSkills:
    def test_primitives_are_called_and_the_value_comes_back_as_json(
            self, host: SandboxHost) -> None:
        code = """async function main(bot, target) {
  const { position } = await bot.state()
  await bot.goTo(target[0], target[1], target[2])
  await bot.dig(1, 3, 0)
  await bot.chat('done')
  return { from: position, to: target, note: undefined }
}"""
        seen: list[dict[str, Any]] = []
        reply = host.result(host.run(code, args=[[10, 4, -3]], answers={
            "state": [{"result": {"position": [0.5, 4, 0.5]}}],
            "dig": [{"result": {"before": "dirt", "after": "air"}}]}), seen)
        assert reply["ok"] is True, reply
        assert reply["result"]["value"] == {"from": [0.5, 4, 0.5], "to": [10, 4, -3]}
        assert reply["result"]["calls"] == 4
        assert calls_of(seen) == [("state", {}), ("goto", {"x": 10, "y": 4, "z": -3}),
                                  ("dig", {"x": 1, "y": 3, "z": 0}), ("chat", {"text": "done"})]

    def test_a_library_skill_is_callable_from_the_code(self, host: SandboxHost) -> None:
        library = [(SKILLS / "collectBlocks.js").read_text(encoding="utf-8")]
        code = """async function getDirt(bot, count) {
  const got = await collectBlocks(bot, 'dirt', count)
  return got.held
}"""
        seen: list[dict[str, Any]] = []
        reply = host.result(host.run(code, "getDirt", args=[3], library=library, answers={
            "state": [{"result": {"inventory": {}}}, {"result": {"inventory": {"dirt": 3}}}],
            "collect": [{"result": {"collected": 3}}]}), seen)
        assert reply["ok"] is True, reply
        assert reply["result"]["value"] == 3
        assert calls_of(seen) == [("state", {}), ("collect", {"block": "dirt", "count": 3}),
                                  ("state", {})]

    def test_a_failed_primitive_throws_its_message_into_the_skill(
            self, host: SandboxHost) -> None:
        code = """async function main(bot) {
  try {
    await bot.goToBlock('diamond_ore')
  } catch (error) {
    return [error.message, error.code]
  }
}"""
        reply = host.result(host.run(code, answers={
            "goto_block": [{"error": "no diamond_ore within 64 blocks", "code": "not_found"}]}))
        assert reply["result"]["value"] == ["no diamond_ore within 64 blocks", "not_found"]

    def test_an_uncaught_primitive_failure_names_the_skills_line(
            self, host: SandboxHost) -> None:
        code = "async function main(bot) {\n  await bot.state()\n  await bot.dig(0, 0, 0)\n}"
        error = failed(host, code, answers={"dig": [{"error": "no block at (0, 0, 0)"}]})
        assert error == "Error: no block at (0, 0, 0) at line 3"

    def test_bot_wait_waits_inside_the_limit(self, host: SandboxHost) -> None:
        code = "async function main(bot) {\n  await bot.wait(50)\n  return 'waited'\n}"
        reply = host.result(host.run(code))
        assert reply["result"]["value"] == "waited"
        assert "past its" in failed(host, "async function main(bot) { await bot.wait(60000) }",
                                    timeout_ms=300)

    def test_a_wait_cut_by_the_limit_never_returns_first(self, host: SandboxHost) -> None:
        # CI: a wait capped at the deadline resolved before the deadline's own timer, and the
        # skill returned ok at 301 ms (its limit 300): the limit must always win
        code = "async function main(bot) { await bot.wait(60000); return 'done' }"
        for limit_ms in (5, 10, 20, 30, 40) * 4:
            assert "past its" in failed(host, code, timeout_ms=limit_ms)

    @settings(max_examples=100, derandomize=True, print_blob=True, deadline=None)
    @given(st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=12))
    def test_json_arguments_come_back_unchanged(self, host: SandboxHost, value: Any) -> None:
        reply = host.result(host.run("async function main(bot, value) { return value }",
                                     args=[value]))
        assert reply["result"]["value"] == value


class TestHostileSkills:
    """Each is stopped with a message that says what went wrong; the host answers after."""

    def test_an_endless_loop_stops_at_the_limit_while_the_host_answers(
            self, host: SandboxHost) -> None:
        request_id = host.run("async function main(bot) {\n  while (true) {}\n}",
                              timeout_ms=1500)
        host.ping()  # answered while the isolate spins (or before it started)
        assert host.result(request_id)["error"] == "skill ran past its 1500 ms limit"
        host.ping()

    def test_an_endless_loop_after_an_await_stops_while_the_host_answers(
            self, host: SandboxHost) -> None:
        request_id = host.run(
            "async function main(bot) {\n  await bot.state()\n  while (true) {}\n}",
            timeout_ms=1500)
        host.call_event(request_id)  # the skill is past its await and spinning now
        ping = host.send("ping")
        seen: list[dict[str, Any]] = []
        assert host.result(request_id, seen)["error"] == "skill ran past its 1500 ms limit"
        assert {"id": ping, "ok": True, "result": {"pong": True}} in seen
        host.ping()

    def test_another_skill_finishes_while_one_loops(self, host: SandboxHost) -> None:
        looping = host.run("async function main(bot) {\n  await bot.state()\n  while (true) {}\n}",
                           timeout_ms=3000)
        host.call_event(looping)
        quick = host.run("async function main(bot) { return 'quick' }")
        seen: list[dict[str, Any]] = []
        assert host.result(looping, seen)["error"] == "skill ran past its 3000 ms limit"
        assert [line["result"]["value"] for line in seen if line.get("id") == quick] == ["quick"]

    def test_a_cancelled_skill_stops_at_once(self, host: SandboxHost) -> None:
        request_id = host.run("async function main(bot) {\n  await bot.state()\n  for (;;) {}\n}",
                              timeout_ms=600000)
        host.call_event(request_id)
        host.send("cancel", run=request_id)
        reply = host.result(request_id)
        assert (reply["code"], reply["error"]) == ("cancelled", "skill was cancelled")
        host.ping()

    def test_a_skill_awaiting_for_ever_stops_at_the_limit(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) { await new Promise(() => {}) }",
                       timeout_ms=500)
        assert error == "skill ran past its 500 ms limit"

    def test_a_primitive_that_never_answers_stops_at_the_limit(
            self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) { await bot.goToPlayer('Alice') }",
                       timeout_ms=500, answers={"goto_player": [{"hang": True}]})
        assert error == "skill ran past its 500 ms limit"

    def test_a_loop_at_the_top_level_stops_at_the_limit(self, host: SandboxHost) -> None:
        assert failed(host, "while (true) {}", timeout_ms=500) == "skill ran past its 500 ms limit"

    def test_a_loop_in_a_library_skill_stops_at_the_limit(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) { await spin() }", timeout_ms=500,
                       library=["// spins\nasync function spin() {\n  for (;;) {}\n}"])
        assert error == "skill ran past its 500 ms limit"

    # (allocation, what it outgrows first)
    @pytest.mark.parametrize("allocation", [
        "const kept = []\n  while (true) kept.push(new Array(100000).fill(1.5))",  # the heap
        "await bot.state()\n  const kept = []\n  while (true) kept.push(new Array(1000).fill(1))",
        "const kept = []\n  while (true) kept.push(new ArrayBuffer(1e7))",  # outside the heap
        "const kept = []\n  while (true) kept.push(new SharedArrayBuffer(1e7))",
        "let text = 'x'\n  while (true) { text += text; kept = [text, text.split('')] }",
    ], ids=["arrays", "arrays_after_an_await", "array_buffers", "shared_array_buffers", "strings"])
    def test_an_allocation_bomb_is_stopped(self, host: SandboxHost, allocation: str) -> None:
        error = failed(host, f"let kept\nasync function main(bot) {{\n  {allocation}\n}}")
        # A string outgrows V8's own length limit (a RangeError) before 32 MB at times.
        assert error.startswith("skill used more than 32 MB of memory") or \
            error.startswith("RangeError: Invalid"), error

    def test_webassembly_memory_is_not_there(self, host: SandboxHost) -> None:
        # WebAssembly.Memory lives outside the isolate's limit: it is removed.
        error = failed(host, "async function main(bot) {\n  new WebAssembly.Memory({ initial: 100 })\n}")
        assert error == ("ReferenceError: WebAssembly is not defined at line 2: "
                         "skills can only use bot.* primitives and plain JavaScript")

    # (statement, the name the isolate does not have)
    @pytest.mark.parametrize(("statement", "name"), [
        ("require('fs').readFileSync('/etc/passwd')", "require"),
        ("process.exit(1)", "process"),
        ("setTimeout(() => {}, 10)", "setTimeout"),
        ("await fetch('http://127.0.0.1:1/')", "fetch"),
    ])
    def test_host_globals_are_not_defined(self, host: SandboxHost, statement: str,
                                          name: str) -> None:
        error = failed(host, f"async function main(bot) {{\n  {statement}\n}}")
        assert error == (f"ReferenceError: {name} is not defined at line 2: "
                         "skills can only use bot.* primitives and plain JavaScript")

    def test_dynamic_import_is_refused(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) {\n  await import('fs')\n}")
        assert error.startswith("Error: Not supported"), error

    def test_the_bridge_is_out_of_reach(self, host: SandboxHost) -> None:
        code = """async function main(bot) {
  return [typeof __bridge, typeof globalThis.__bridge, Object.isFrozen(bot)]
}"""
        assert host.result(host.run(code))["result"]["value"] == ["undefined", "undefined", True]

    def test_a_thrown_error_names_its_line(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) {\n  await bot.state()\n  "
                             "throw new Error('boom')\n}")
        assert error == "Error: boom at line 3"

    def test_a_library_skills_error_names_the_skill_and_the_callers_line(
            self, host: SandboxHost) -> None:
        library = ["// fails\nasync function breaks(bot) {\n  await bot.state()\n"
                   "  throw new Error('inner')\n}"]
        error = failed(host, "async function main(bot) {\n  await breaks(bot)\n}",
                       library=library)
        assert error == "Error: inner at line 4 of library skill breaks (called from line 2)"

    def test_a_syntax_error_names_its_line(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) {\n  bot.goTo(1, 2\n}")
        assert error == "SyntaxError: missing ) after argument list at line 2 column 15"

    def test_a_missing_main_is_named(self, host: SandboxHost) -> None:
        error = failed(host, "async function other(bot) {}", main="getWood")
        assert error.startswith("the code defines no function named getWood"), error

    def test_un_awaited_calls_are_bounded(self, host: SandboxHost) -> None:
        seen: list[dict[str, Any]] = []
        reply = host.result(host.run("async function main(bot) {\n  while (true) bot.state()\n}",
                                     answers={"state": [{"hang": True}]}), seen)
        assert reply["error"] == "Error: more than 8 bot.* calls at once: await each call at line 2"
        assert len(calls_of(seen)) == 8
        host.ping()

    def test_a_return_value_that_is_not_json_is_named(self, host: SandboxHost) -> None:
        error = failed(host, "async function main(bot) { const a = {}; a.a = a; return a }")
        assert error.startswith("TypeError: the return value is not JSON: Converting circular"), error


SHIPPED = sorted(SKILLS.glob("*.js"))
STANDING = {"result": {"position": [0.5, 3.8, 0.5], "inventory": {"dirt": 5}, "held": None}}


class TestExit:
    """The host exits cleanly whatever its skills did (the sidecar exits when its stdin
    closes). Seen before the exit hook: a hang for ever while a skill looped (isolated-vm
    issue #260), and SIGSEGV right after a memory-limit disposal."""

    def test_exit_while_a_skill_loops(self) -> None:
        host = SandboxHost()
        request_id = host.run("async function main(bot) {\n  await bot.state()\n  for (;;) {}\n}",
                              timeout_ms=600000)
        host.call_event(request_id)
        assert host.close() == 0

    def test_exit_right_after_a_skill_ran_out_of_memory(self) -> None:
        host = SandboxHost()
        # (strings crashed it most often: 4 exits of 4 after the two runs, 3 of 4 after one)
        for bomb in ["const kept = []\n  for (;;) kept.push(new Array(100000).fill(1.5))",
                     "let text = 'x'\n  for (;;) { text += text; kept = [text, text.split('')] }"]:
            reply = host.result(host.run(f"let kept\nasync function main(bot) {{\n  {bomb}\n}}"))
            assert reply["error"] == "skill used more than 32 MB of memory"
        assert host.close() == 0  # at once: the isolate may still be tearing down


class TestShippedSkills:
    """The shipped library's shape, and the primitive calls each makes (answered by a script;
    TestSkillsInTheWorld runs them against the real server)."""

    def test_the_library_ships_between_5_and_8_skills(self) -> None:
        assert 5 <= len(SHIPPED) <= 8

    @pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
    def test_each_file_is_a_described_async_function_named_as_the_file(self, path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("// ") and len(lines[0]) > 10
        assert lines[1].startswith(f"async function {path.stem}(bot")
        assert sum(line.startswith("async function ") for line in lines) == 1

    # (skill, args, answers, the calls it makes, its value)
    @pytest.mark.parametrize(("name", "args", "answers", "expected_calls", "value"), [
        ("collectBlocks", ["dirt", 2],
         {"state": [{"result": {"inventory": {"dirt": 1}}}, {"result": {"inventory": {"dirt": 3}}}]},
         [("state", {}), ("collect", {"block": "dirt", "count": 2}), ("state", {})],
         {"block": "dirt", "held": 3}),
        ("comeTo", ["Alice"], {"goto_player": [{"result": {"distance": 1.5}}]},
         [("goto_player", {"player": "Alice", "range": 2}), ("look_at", {"player": "Alice"})],
         {"distance": 1.5}),
        ("goToNearest", ["oak_log"], {"goto_block": [{"result": {"distance": 1}}]},
         [("goto_block", {"block": "oak_log", "max_distance": 64})], {"distance": 1}),
        ("buildPillar", ["dirt", 2], {"state": [STANDING]},
         [("state", {}), ("equip", {"item": "dirt"}),
          ("place", {"item": "dirt", "x": 2, "y": 4, "z": 0}),
          ("place", {"item": "dirt", "x": 2, "y": 5, "z": 0})],
         {"base": [2, 4, 0], "height": 2}),
        ("digHole", [2], {"state": [STANDING], "dig": [{"result": {"before": "grass_block"}},
                                                       {"result": {"before": "dirt"}}]},
         [("state", {}), ("dig", {"x": 1, "y": 3, "z": 0}), ("dig", {"x": 1, "y": 2, "z": 0})],
         {"top": [1, 3, 0], "dug": ["grass_block", "dirt"]}),
        ("placeNextTo", ["dirt"], {"state": [STANDING], "place": [
            {"error": "(2, 4, 0) is not empty"}, {"error": "(2, 5, 0) is not empty"},
            {"error": "(2, 3, 0) is not empty"}, {"result": {"block": "dirt"}}]},
         [("state", {}), ("equip", {"item": "dirt"}),
          ("place", {"item": "dirt", "x": 2, "y": 4, "z": 0}),
          ("place", {"item": "dirt", "x": 2, "y": 5, "z": 0}),
          ("place", {"item": "dirt", "x": 2, "y": 3, "z": 0}),
          ("place", {"item": "dirt", "x": -2, "y": 4, "z": 0})],
         {"block": "dirt"}),
        ("followFor", ["Alice", 0.05], {},
         [("follow", {"player": "Alice", "range": 2}), ("stop", {}),
          ("chat", {"text": "I followed Alice for 0.05 seconds."})],
         {"followed": "Alice", "seconds": 0.05}),
        ("tellInventory", [], {"state": [{"result": {"inventory": {"dirt": 3}, "held": "dirt"}}]},
         [("state", {}), ("chat", {"text": "I have 3 dirt, holding dirt."})], {"dirt": 3}),
    ])
    def test_each_skill_calls_its_primitives(
            self, host: SandboxHost, name: str, args: list[Any], answers: dict[str, Any],
            expected_calls: list[tuple[str, dict[str, Any]]], value: Any) -> None:
        code = (SKILLS / f"{name}.js").read_text(encoding="utf-8")
        seen: list[dict[str, Any]] = []
        reply = host.result(host.run(code, name, args=args, answers=answers), seen)
        assert reply["ok"] is True, reply
        assert calls_of(seen) == expected_calls
        assert reply["result"]["value"] == value


# ------------------------------------------------------------------ through the real sidecar
MIKA, ROOK = "SbMika", "SbRook"  # unique on the session's shared server
LOOP_MS = 4000  # a looping skill's limit: long enough for state and ping to be asked meanwhile


@pytest.fixture(scope="module")
def world_bots(minecraft_server: MinecraftServer) -> Iterator[SidecarClient]:
    """Mika and Rook in the shared superflat world (grass at y=4, dirt under it), spawned."""
    with spawned_bots(minecraft_server, {"mika": MIKA, "rook": ROOK}) as client:
        yield client


@pytest.fixture
def bots(world_bots: SidecarClient) -> SidecarClient:
    """The same bots, both in the world as a test starts."""
    world_bots.wait_online("mika", "rook")
    return world_bots


def run_skill(bots: SidecarClient, code: str, main: str, *, bot: str = "mika",
              args: list[Any] | None = None, library: list[str] | None = None,
              timeout_ms: int = 20000) -> Any:
    """The skill's value through the sidecar's run_skill; SidecarReplyError when it failed."""
    result = bots.call("run_skill", bot, {"code": code, "main": main, "args": args or [],
                                          "library": library or [], "timeout_ms": timeout_ms},
                       timeout_s=timeout_ms / 1000 + 10)
    return result["value"]


def skill_failure(bots: SidecarClient, code: str, **options: Any) -> SidecarReplyError:
    with pytest.raises(SidecarReplyError) as caught:
        run_skill(bots, code, "main", **options)
    assert caught.value.code == "skill_error"
    return caught.value


def answers_meanwhile(bots: SidecarClient, code: str) -> str:
    """Start a skill that loops on Mika; while it runs, Mika's state and a ping are answered
    (the skill's reply not yet there); the skill's error."""
    request = json.dumps({"id": "looping", "op": "run_skill", "bot": "mika", "timeout_ms": 30000,
                          "args": {"code": code, "main": "main", "timeout_ms": LOOP_MS}})
    bots.send_line(request)
    assert bots.call("state", "mika")["online"] is True
    assert bots.call("ping") == {}
    assert "looping" not in bots.replies, "the skill ended before state and ping were answered"
    reply = bots.reply("looping", timeout_s=60)
    assert reply["ok"] is False and reply["code"] == "skill_error", reply
    assert bots.call("state", "mika")["online"] is True
    return str(reply["error"])


class TestHostileSkillsInTheSidecar:
    """Issue 17's hostile skills through run_skill: contained with a clear error while the bot
    keeps answering."""

    def test_an_endless_loop(self, bots: SidecarClient) -> None:
        error = answers_meanwhile(bots, "async function main(bot) {\n  while (true) {}\n}")
        assert error == f"skill ran past its {LOOP_MS} ms limit"

    def test_an_endless_loop_after_an_await(self, bots: SidecarClient) -> None:
        error = answers_meanwhile(
            bots, "async function main(bot) {\n  await bot.state()\n  while (true) {}\n}")
        assert error == f"skill ran past its {LOOP_MS} ms limit"

    def test_an_allocation_bomb(self, bots: SidecarClient) -> None:
        error = skill_failure(bots, "async function main(bot) {\n  const kept = []\n"
                                    "  while (true) kept.push(new Array(100000).fill(1.5))\n}")
        assert error.message == "skill used more than 32 MB of memory"
        assert bots.call("ping") == {}

    # (statement, the name the isolate does not have)
    @pytest.mark.parametrize(("statement", "name"), [
        ("require('fs').writeFileSync('/tmp/skill-was-here', 'x')", "require"),
        ("process.exit(0)", "process"),
    ])
    def test_host_globals(self, bots: SidecarClient, statement: str, name: str) -> None:
        error = skill_failure(bots, f"async function main(bot) {{\n  {statement}\n}}")
        assert error.message == (f"ReferenceError: {name} is not defined at line 2: "
                                 "skills can only use bot.* primitives and plain JavaScript")
        assert bots.call("ping") == {}

    def test_a_thrown_error(self, bots: SidecarClient) -> None:
        error = skill_failure(bots, "async function main(bot) {\n  await bot.state()\n"
                                    "  throw new Error('boom')\n}")
        assert error.message == "Error: boom at line 3"
        assert bots.call("state", "mika")["online"] is True

    def test_a_failed_primitive_names_the_op_and_the_line(self, bots: SidecarClient) -> None:
        error = skill_failure(bots, "async function main(bot) {\n"
                                    "  await bot.goToBlock('diamond_ore', 8)\n}")
        assert error.message.startswith("Error: ") and error.message.endswith(" at line 2")
        assert "diamond_ore" in error.message


class TestSkillsInTheWorld:
    """A written skill and each shipped one, run by the sidecar in the real world and checked
    against the bot's state."""

    def test_a_skill_calls_primitives_and_returns_a_value(self, bots: SidecarClient) -> None:
        code = """async function walk(bot, dx) {
  const [x, y, z] = (await bot.state()).position.map(Math.floor)
  await bot.goTo(x + dx, y, z)
  const after = await bot.state()
  return { from: x, to: Math.floor(after.position[0]) }
}"""
        value = run_skill(bots, code, "walk", args=[5])
        assert abs(value["to"] - (value["from"] + 5)) <= 1

    def test_collect_then_build_a_pillar_then_place_next_to_it(
            self, bots: SidecarClient) -> None:
        library = [shipped("collectBlocks"), shipped("buildPillar"), shipped("placeNextTo")]
        code = """async function pillarAndOneMore(bot) {
  const collected = await collectBlocks(bot, 'dirt', 3)
  const pillar = await buildPillar(bot, 'dirt', 2)
  const placed = await placeNextTo(bot, 'dirt')
  return { collected: collected.held, pillar, placed, held: (await bot.state()).inventory.dirt || 0 }
}"""
        value = run_skill(bots, code, "pillarAndOneMore", library=library, timeout_ms=90000)
        assert value["pillar"]["height"] == 2 and value["placed"] == {"block": "dirt"}
        assert value["held"] == value["collected"] - 3

    def test_dig_a_hole(self, bots: SidecarClient) -> None:
        value = run_skill(bots, shipped("digHole"), "digHole", bot="rook", args=[2])
        assert value["dug"] == ["grass_block", "dirt"]

    def test_come_to_then_follow_then_tell_the_inventory(self, bots: SidecarClient) -> None:
        reached = run_skill(bots, shipped("comeTo"), "comeTo", bot="rook", args=[MIKA],
                            timeout_ms=60000)
        assert reached["distance"] <= 2.5
        followed = run_skill(bots, shipped("followFor"), "followFor", bot="rook",
                             args=[MIKA, 1])
        assert followed == {"followed": MIKA, "seconds": 1}
        assert bots.call("state", "rook")["task"] == ""
        inventory = run_skill(bots, shipped("tellInventory"), "tellInventory", bot="rook")
        assert inventory == bots.call("state", "rook")["inventory"]

    def test_go_to_the_nearest_block_of_a_kind(self, bots: SidecarClient) -> None:
        assert run_skill(bots, shipped("goToNearest"), "goToNearest", args=["grass_block"],
                         timeout_ms=60000)["distance"] <= 3


def shipped(name: str) -> str:
    return (SKILLS / f"{name}.js").read_text(encoding="utf-8")
