"""nodes/game/neuro/sessions.py: what a game registers (the spec's rules, bounded) and the
queue of forced moves across games."""

from __future__ import annotations

from nodes.game.neuro.protocol import Action, ForceData
from nodes.game.neuro.sessions import Force, ForceQueue, GameSession, Limits, clip

PLAY = Action(name="play", description="a move",
              schema={"type": "object", "properties": {"cell": {"enum": [1, 2]}}})


def session(title: str = "G", **limits: int) -> GameSession:
    return GameSession(title, Limits(**limits))


def force(owner: GameSession, query: str = "move") -> Force:
    return Force(owner, ForceData(query=query, action_names=["play"]), ["play"], 0)


class TestRegister:
    def test_registered_with_its_choices(self) -> None:
        game = session()
        assert game.register([PLAY]) == []
        assert game.actions["play"].choices == ({"cell": 1}, {"cell": 2})

    def test_second_registration_of_a_name_is_ignored(self) -> None:
        game = session()
        game.register([PLAY])
        notes = game.register([Action(name="play", description="other", schema=None)])
        assert notes == ["ignored 'play': already registered (the spec keeps the first)"]
        assert game.actions["play"].description == "a move"

    def test_startup_clears_then_registering_again_works(self) -> None:
        game = session()
        game.register([PLAY])
        game.startup()
        assert game.actions == {} and game.started
        game.register([Action(name="play", description="new")])
        assert game.actions["play"].description == "new"

    def test_bounded_number_of_actions(self) -> None:
        game = session(max_actions=2)
        notes = game.register([Action(name=f"a{n}") for n in range(5)])
        assert list(game.actions) == ["a0", "a1"]
        assert len(notes) == 3 and "max_actions" in notes[0]

    def test_bad_names_and_schemas_refused_others_kept(self) -> None:
        game = session()
        notes = game.register([Action(name=""), Action(name="x" * 101),
                               Action(name="bad", schema={"type": "array"}), PLAY])
        assert list(game.actions) == ["play"]
        assert [note.split(":")[0] for note in notes] == [
            "refused an action named ''", f"refused an action named {'x' * 100!r}",
            "refused 'bad'"]

    def test_long_description_is_cut(self) -> None:
        game = session(max_text_chars=100)
        game.register([Action(name="a", description="d" * 500)])
        assert game.actions["a"].description.endswith("…[400 characters cut]")

    def test_unregister_unknown_is_fine(self) -> None:
        game = session()
        game.register([PLAY])
        game.unregister(["nope", "play"])
        assert game.actions == {}

    def test_context_lines_bounded(self) -> None:
        game = session(context_lines=2)
        for line in ("a", "b", "c"):
            game.remember(line)
        assert list(game.context) == ["b", "c"]


class TestForceQueue:
    def test_oldest_first_across_games(self) -> None:
        queue = ForceQueue()
        first, second = force(session("A")), force(session("B"))
        queue.put(first)
        queue.put(second)
        assert queue.head() is first
        assert queue.finish(first)
        assert queue.head() is second

    def test_same_game_replaces_in_place(self) -> None:
        queue = ForceQueue()
        a, b = session("A"), session("B")
        old, other, new = force(a, "old"), force(b), force(a, "new")
        queue.put(old)
        queue.put(other)
        assert queue.put(new) is old
        assert queue.head() is new and len(queue) == 2

    def test_finish_of_a_replaced_force_keeps_the_new_one(self) -> None:
        queue = ForceQueue()
        a = session("A")
        old, new = force(a, "old"), force(a, "new")
        queue.put(old)
        queue.put(new)
        assert not queue.finish(old)
        assert queue.head() is new

    def test_of_and_iteration(self) -> None:
        queue = ForceQueue()
        a = session("A")
        mine = force(a)
        queue.put(mine)
        assert queue.of(a) is mine and queue.of(session("B")) is None
        assert list(queue) == [mine]


def test_clip() -> None:
    assert clip("short", 10) == ("short", 0)
    assert clip("x" * 15, 10) == ("x" * 10 + " …[5 characters cut]", 5)
