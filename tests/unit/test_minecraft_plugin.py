"""nodes.game.games.minecraft's pure parts: the actions offered for an ask (pinned, task,
give_up), the one-line state summary, where an asked-for block goes, and the refusals made
before anything starts (players, names, a missing Node or node_modules)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.game.games.minecraft import (
    Bot,
    Minecraft,
    MinecraftSettings,
    OpenAsk,
    ask_actions,
    place_cells,
    state_summary,
)
from nodes.game.minecraft.asks import Ask, parse_ask
from nodes.game.minecraft.sidecar import Sidecar, SidecarError
from nodes.game.minecraft.skills import Skill
from nodes.game.moves import ranked_calls

FUZZ = settings(max_examples=200, derandomize=True, print_blob=True, deadline=None)
CAST = {"mika": "Mika", "rook": "Rook"}


def ask(text: str, *, me: str = "Alice") -> Ask:
    parsed = parse_ask(text, user="alice", platform="twitch", cast=CAST, me=me, chat_id="c1")
    assert parsed is not None, text
    return parsed


def skill(name: str, description: str = "does a thing") -> Skill:
    return Skill(name=name, description=description, shipped=True,
                 code=f"// {description}\nasync function {name}(bot) {{}}")


def assert_valid(actions: list[Any]) -> None:
    for action in actions:
        jsonschema.Draft202012Validator.check_schema(action.schema)
        for option in action.options:
            jsonschema.validate(option.arguments, action.schema)


class TestAskActions:
    def test_a_parsed_ask_offers_one_action_pinned_to_what_was_asked(self) -> None:
        actions = ask_actions(OpenAsk(ask=ask("Rook, get some dirt")), [])
        assert [a.name for a in actions] == ["collect"]
        schema = actions[0].schema
        assert schema["properties"]["block"]["enum"] == ["dirt"]
        assert schema["properties"]["count"]["enum"] == [3]
        assert_valid(actions)
        with pytest.raises(jsonschema.ValidationError):  # nothing else fits the schema
            jsonschema.validate({"block": "stone", "count": 3}, schema)

    def test_come_is_going_to_the_askers_player(self) -> None:
        actions = ask_actions(OpenAsk(ask=ask("Mika, come to me")), [])
        assert [(a.name, a.options[0].arguments) for a in actions] == [
            ("goto_player", {"player": "Alice"})]

    def test_give_up_comes_after_a_failure_and_is_ranked_last(self) -> None:
        current = OpenAsk(ask=ask("Rook, go to 10 64 -3"))
        assert "give_up" not in [a.name for a in ask_actions(current, [])]
        current.failures = 1
        actions = ask_actions(current, [])
        assert_valid(actions)
        assert [name for name, _ in ranked_calls(actions, 10)] == ["goto", "give_up"]

    def test_an_ask_with_a_problem_can_only_be_given_up_with_its_reason(self) -> None:
        current = OpenAsk(ask=ask("Mika, come to me", me=""))  # a viewer with no player
        assert current.ask.problem
        actions = ask_actions(current, [])
        assert [a.name for a in actions] == ["give_up"]
        assert actions[0].options[0].arguments == {"reason": current.ask.problem}

    def test_a_task_offers_the_closest_skills_ranked_then_writing_one_and_primitives(self) -> None:
        current = OpenAsk(ask=ask("Rook, build a small tower"))
        assert current.ask.intent == "task"
        actions = ask_actions(current, [skill("buildPillar", "stack blocks"), skill("digHole")])
        names = [a.name for a in actions]
        assert names[:2] == ["run_skill", "write_skill"]
        assert {"goto", "collect", "dig", "place", "chat"} <= set(names)
        assert actions[0].schema["properties"]["skill"]["enum"] == ["buildPillar", "digHole"]
        assert [args["skill"] for _, args in ranked_calls(actions, 10)] == ["buildPillar",
                                                                             "digHole"]
        assert actions[0].options[0].note == "stack blocks"
        assert_valid(actions)

    def test_a_task_with_no_skills_offers_no_run_skill(self) -> None:
        names = [a.name for a in ask_actions(OpenAsk(ask=ask("Rook, build a house")), [])]
        assert "run_skill" not in names and "write_skill" in names

    @FUZZ
    @given(st.text(max_size=120))
    def test_any_line_gives_valid_actions(self, text: str) -> None:
        parsed = parse_ask(f"rook, {text}", user="a", platform="twitch", cast=CAST, me="A")
        if parsed is not None:
            assert_valid(ask_actions(OpenAsk(ask=parsed, failures=1), [skill("digHole")]))


class TestGoal:
    def test_a_retry_keeps_the_first_tries_goal(self) -> None:
        # found in a run: collect returned with 2 of 3 dirt picked up; the retry pinned the
        # count on top of those 2 and asked for 5
        current = OpenAsk(ask=ask("Rook, get 3 dirt"))
        first = current.goal({"inventory": {"dirt": 1}})
        assert (first.kind, first.item, first.at_least) == ("inventory", "dirt", 4)
        assert current.goal({"inventory": {"dirt": 3}}) == first


class TestStateSummary:
    STATE = {"position": [3.46, 4.0, -2.0], "health": 20, "food": 18,
             "inventory": {"dirt": 3, "oak_log": 1}, "nearby_blocks": {"grass_block": 80},
             "nearby_players": [{"name": "Alice", "distance": 4.2}], "task": "idle"}

    def test_says_where_what_and_who(self) -> None:
        line = state_summary(Bot("rook", "Rook", online=True, state=self.STATE))
        assert line == ("Rook at (3.5, 4.0, -2.0), health 20.0, food 18.0; inventory: dirt 3, "
                        "oak_log 1; blocks near: grass_block 80; players near: Alice 4.2 away; "
                        "doing: idle")

    def test_offline_says_why(self) -> None:
        bot = Bot("rook", "Rook", online=False, problem="no server at 127.0.0.1:1")
        assert state_summary(bot) == "Rook is offline (no server at 127.0.0.1:1)"

    def test_long_lists_are_cut_and_controls_escaped(self) -> None:
        state = {"inventory": {f"item{i}": i for i in range(50)},
                 "nearby_players": [{"name": "evil\x1b[2J\nname", "distance": 1}]}
        line = state_summary(Bot("rook", "Rook", online=True, state=state))
        assert "and 44 more" in line and "\x1b" not in line and "\n" not in line

    def test_a_malformed_state_still_gives_a_line(self) -> None:
        state = {"position": "up", "health": None, "inventory": [1], "nearby_players": 5}
        assert state_summary(Bot("rook", "Rook", online=True, state=state)).startswith(
            "Rook at somewhere, health ?")


class TestPlaceCells:
    def test_beside_the_feet_then_one_up(self) -> None:
        assert place_cells({"position": [3.7, 4.0, -2.2]}) == [
            (4, 4, -3), (3, 4, -2), (2, 4, -3), (3, 4, -4),
            (4, 5, -3), (3, 5, -2), (2, 5, -3), (3, 5, -4)]

    def test_a_bot_landing_is_at_the_level_it_lands_on(self) -> None:
        assert place_cells({"position": [2.5, 4.8, 2.7]})[0] == (3, 5, 2)

    @pytest.mark.parametrize("state", [{}, {"position": None}, {"position": [1, 2]},
                                       {"position": ["a", 1, 2]}])
    def test_no_position_no_cell(self, state: dict[str, Any]) -> None:
        assert place_cells(state) == []


class TestRefusedBeforeStarting:
    def test_players_map_personas_to_themselves(self) -> None:
        with pytest.raises(Exception, match=re.escape("persona -> the same persona")):
            Minecraft(MinecraftSettings(), {"player": "mika"})

    def test_an_offline_name_must_be_a_minecraft_name(self) -> None:
        with pytest.raises(Exception, match="must be 3 to 16 letters"):
            Minecraft(MinecraftSettings(bots={"mika": "Mika the Great"}), {"mika": "mika"})

    def test_no_node_binary_says_so(self) -> None:
        with pytest.raises(SidecarError, match=re.escape(
                "needs Node.js: 'no-such-node-here' is not on PATH")) as info:
            Minecraft(MinecraftSettings(node="no-such-node-here"), {"mika": "mika"})
        assert info.value.code == "setup"

    def test_no_node_modules_says_to_run_make_setup(self, tmp_path: Path) -> None:
        script = tmp_path / "sidecar.js"
        script.write_text("// not installed\n")
        with pytest.raises(SidecarError, match=r"node_modules is missing; run `make setup`"):
            Sidecar({}, lambda event: None, script=script).check_setup()


def test_every_default_minecraft_version_is_the_games() -> None:
    """The local server, the bots and the streamer's client must speak one version: the launch
    files' and the Node scripts' defaults follow the game's setting."""
    root = Path(__file__).resolve().parents[2]
    version = MinecraftSettings().version
    stream = tomllib.loads((root / "launch" / "stream.launch.toml").read_text())
    server = tomllib.loads((root / "launch" / "minecraft.launch.toml").read_text())
    assert stream["args"]["minecraft_version"]["default"] == version
    assert server["args"]["version"]["default"] == version
    for script, pattern in (("server.js", r"version: '([\d.]+)'"),
                            ("sidecar.js", r"raw\.version \?\? '([\d.]+)'")):
        found = re.search(pattern, (root / "nodes/game/minecraft/sidecar" / script).read_text())
        assert found is not None and found.group(1) == version, script
