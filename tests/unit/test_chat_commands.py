"""Chat commands: parsing, per-role permission, global and per-user cooldowns."""

from __future__ import annotations

import msgspec
import pytest
from helpers.chat import chat_line

from nodes.chat.commands import Commands, CommandSpec, role_rank


@pytest.fixture
def commands() -> Commands:
    specs = {
        "discord": CommandSpec(reply="{user}: join us at discord.example", cooldown_s=5),
        "reset": CommandSpec(role="moderator", reply="done"),
        "subonly": CommandSpec(role="subscriber", reply="hi sub"),
    }
    return Commands(specs, ["Aria", "Blaze"])


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "persona", "question"),
        [
            ("!ask aria what is your favourite game?", "Aria", "what is your favourite game?"),
            ("!ASK BLAZE why", "Blaze", "why"),  # names and commands ignore case
            ("!ask how are you both", "", "how are you both"),  # no persona named: anyone
        ],
    )
    def test_ask(self, commands: Commands, text: str, persona: str, question: str) -> None:
        result = commands.handle(chat_line(text), 0)
        assert result is not None
        assert (result.action, result.persona, result.text) == ("ask", persona, question)

    def test_ask_without_question_explains(self, commands: Commands) -> None:
        result = commands.handle(chat_line("!ask aria"), 0)
        assert result is not None and result.action == "invalid"
        assert result.reply == "@viewer usage: !ask [Aria|Blaze] <question>"

    def test_persona(self, commands: Commands) -> None:
        commands.active_persona = "Aria"
        result = commands.handle(chat_line("!persona"), 0)
        assert result is not None
        assert result.reply == "Hosts: Aria, Blaze. On air: Aria."

    def test_configured_reply(self, commands: Commands) -> None:
        result = commands.handle(chat_line("!discord", user="Sam"), 0)
        assert result is not None and result.reply == "Sam: join us at discord.example"

    @pytest.mark.parametrize("text", ["hello", "! not a command", "why!"])
    def test_not_commands(self, commands: Commands, text: str) -> None:
        assert commands.handle(chat_line(text), 0) is None

    def test_paid_messages_are_never_commands(self, commands: Commands) -> None:
        assert commands.handle(chat_line("!discord", kind="superchat"), 0) is None

    def test_unknown(self, commands: Commands) -> None:
        result = commands.handle(chat_line("!lurk"), 0)
        assert result is not None and result.action == "unknown"


class TestPermissions:
    @pytest.mark.parametrize(
        ("roles", "rank"),
        [([], 0), (["member"], 1), (["subscriber", "vip"], 2), (["moderator"], 3),
         (["broadcaster", "subscriber"], 4), (["first_time"], 0)],
    )
    def test_rank(self, roles: list[str], rank: int) -> None:
        assert role_rank(roles) == rank

    @pytest.mark.parametrize(
        ("command", "roles", "action"),
        [
            ("!reset", [], "denied"),
            ("!reset", ["vip"], "denied"),
            ("!reset", ["moderator"], "reply"),
            ("!reset", ["broadcaster"], "reply"),  # higher roles include lower ones
            ("!subonly", ["member"], "reply"),  # a YouTube member counts as a subscriber
            ("!subonly", [], "denied"),
        ],
    )
    def test_roles(self, commands: Commands, command: str, roles: list[str], action: str) -> None:
        result = commands.handle(chat_line(command, roles=roles), 0)
        assert result is not None and result.action == action

    def test_unknown_role_is_refused(self) -> None:
        with pytest.raises(ValueError, match="command !x: unknown role 'admin'"):
            Commands({"x": CommandSpec(role="admin", reply="r")})

    def test_custom_command_needs_a_reply(self) -> None:
        with pytest.raises(ValueError, match="command !x needs a reply"):
            Commands({"x": CommandSpec()})

    def test_spec_from_json(self) -> None:
        specs = msgspec.convert({"hi": {"reply": "hello", "cooldown_s": 3}},
                                dict[str, CommandSpec])
        assert specs["hi"].cooldown_s == 3


class TestCooldowns:
    def test_global_cooldown(self, commands: Commands) -> None:
        actions = [commands.handle(chat_line("!discord", user=u), t).action  # type: ignore[union-attr]
                   for u, t in (("a", 0), ("b", 1), ("c", 5))]
        assert actions == ["reply", "cooldown", "reply"]

    def test_user_cooldown_for_ask(self, commands: Commands) -> None:
        first = commands.handle(chat_line("!ask aria one", user="a"), 0)
        again = commands.handle(chat_line("!ask aria two", user="a"), 10)
        other = commands.handle(chat_line("!ask aria three", user="b"), 10)
        later = commands.handle(chat_line("!ask aria four", user="a"), 31)
        assert [r.action for r in (first, again, other, later)] == [  # type: ignore[union-attr]
            "ask", "cooldown", "ask", "ask"]

    def test_moderators_skip_cooldowns(self, commands: Commands) -> None:
        for t in range(3):
            result = commands.handle(chat_line("!discord", user="mod", roles=["moderator"]), t)
            assert result is not None and result.action == "reply"

    def test_memory_is_bounded_but_cooldowns_hold(self, commands: Commands) -> None:
        for i in range(12_000):  # one !ask from each of 12,000 viewers, 10 ms apart
            commands.handle(chat_line(f"!ask q{i}", user=f"u{i}"), i / 100)
        assert len(commands._last_user_use) <= 10_000
        again = commands.handle(chat_line("!ask again", user="u11999"), 120.5)
        assert again is not None and again.action == "cooldown"

    def test_refused_use_does_not_start_a_cooldown(self, commands: Commands) -> None:
        commands.handle(chat_line("!ask aria", user="a"), 0)  # invalid: no question
        result = commands.handle(chat_line("!ask aria real question", user="a"), 1)
        assert result is not None and result.action == "ask"
