"""The soak benchmark's bookkeeping (benchmarks/soak.py): which turns ended, which were lost
and to which kill, when a canary was answered, when a killed program's function was seen
working again, which restarts were unplanned, the chat mix and the RSS windows. Pure: fed
messages and headers by hand, with made-up stamps."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.soak` imports
sys.path.insert(0, str(ROOT))

from benchmarks.soak import (  # noqa: E402
    AFTERMATH_S,
    SIGNS,
    ChatMix,
    Kill,
    Series,
    Signs,
    TurnBook,
    caused_by,
    lost_turns,
    new_hangs,
    summarise_series,
    unplanned_restarts,
    windows,
)
from launch.control import ProgramStatus  # noqa: E402
from messages.audio import Playhead  # noqa: E402
from messages.base import Header  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from messages.director import Turn  # noqa: E402
from messages.llm import Cancel  # noqa: E402
from messages.memory import ConversationTurn  # noqa: E402

S = 1_000_000_000


def at(seconds: float) -> Header:
    stamp = int(seconds * S)
    return Header("test", 0, stamp, "", "t", stamp)


def turn(book: TurnBook, request_id: str, t: float, reply_to: str = "") -> None:
    book.on_turn(Turn(speaker="mika", why="chat", request_id=request_id, reply_to=reply_to),
                 at(t))


def heard(book: TurnBook, request_id: str, t: float) -> None:
    book.on_playhead(Playhead(persona="mika", request_id=request_id, sentence_index=0,
                              sample=100, sample_rate=22050), at(t))


def remembered(book: TurnBook, request_id: str, t: float, cut_off: bool = False) -> None:
    book.on_remembered(ConversationTurn(turn_id=request_id, speaker="Mika", text="hi",
                                        cut_off=cut_off), at(t))


def test_a_turn_ends_when_it_is_remembered_or_cancelled_and_is_lost_otherwise() -> None:
    book = TurnBook()
    for n, request_id in enumerate("abcd"):
        turn(book, request_id, n)
    remembered(book, "a", 0.5)
    remembered(book, "b", 1.5, cut_off=True)
    book.on_cancel(Cancel(request_id="c", reason="text from viewer7"), at(2.5))
    assert book.completed() == 1
    assert book.cut() == 2
    assert book.open_turns() == ["d"]
    # a repeated director/turn (vtbus hands latched values out again) is one turn
    turn(book, "a", 9)
    assert book.started["a"] == 0


def test_only_the_turn_in_flight_at_a_kill_is_charged_to_it() -> None:
    book = TurnBook()
    turn(book, "old", 0)  # never ended, and another turn started after it: not in flight
    turn(book, "hit", 1)
    turn(book, "after", 5)
    remembered(book, "after", 6)
    kills = [Kill("llm", 10, 2 * S), Kill("tts", 11, 3 * S)]
    lost, not_in_flight = lost_turns(book, kills)
    assert lost == ["hit", "old"]
    assert not_in_flight == ["old"]
    assert [k.turns_lost for k in kills] == [1, 0]  # the same lost turn counts once


def test_a_canary_is_answered_by_the_turn_that_took_it_once_heard() -> None:
    book = TurnBook()
    book.canaries.update({"canary0": 1 * S, "canary1": 5 * S})
    book.on_chat(ChatMessage(platform="console", user="host", text="x", id="canary1"), at(5))
    assert book.canary_pending("canary1")  # queued at the chat node
    assert not book.canary_pending("canary0")  # never passed on: to be sent again
    turn(book, "r0", 2, reply_to="canary0")
    heard(book, "r0", 3)
    assert book.answered_after(0) == 3 * S
    assert book.answered_after(4 * S) is None  # canary0 was sent before the mark
    turn(book, "r1", 6, reply_to="canary1")
    assert book.canary_pending("canary1")  # being answered
    book.on_cancel(Cancel(request_id="r1", reason="cut"), at(6.5))
    assert not book.canary_pending("canary1")  # its turn ended unheard


def test_the_chat_mix_repeats_with_its_seed_and_keeps_paid_lines_rare() -> None:
    first, second = ChatMix(random.Random(3)), ChatMix(random.Random(3))
    many = [first.line() for _ in range(4000)]
    assert many == [second.line() for _ in range(4000)]
    kinds = Counter(m.kind for m in many)
    assert kinds["text"] > 3900 and 0 < sum(kinds.values()) - kinds["text"] < 60
    assert len({m.id for m in many}) == 4000
    assert any(m.text.startswith("!") for m in many)
    assert any("\x1b[" in m.text or "\x1b[" in m.user for m in many)
    assert max(len(m.text) for m in many) > 3000


def test_rss_growth_compares_ten_minute_windows_or_quarters_of_a_short_run() -> None:
    assert windows(3600) == (600, 3000, "first 10 min vs last 10 min")
    assert windows(120)[:2] == (30, 90)
    growing, flat = Series(), Series()
    for n in range(13):
        growing.add(n * 10.0, 1, float(n), 100 * 2**20 + n * 2**20, n * 100)
        flat.add(n * 10.0, 2, float(n), 50 * 2**20, 0)
    summary = summarise_series({"llm": growing, "chat": flat}, 120)
    assert summary["rss_growth_max_program"] == "llm"
    assert summary["programs"]["chat"]["rss_growth_pct"] == 0.0
    assert summary["rss_growth_max_pct"] > 5
    assert summary["programs"]["llm"]["samples"] == 13


class TestSigns:
    def test_only_a_sign_stamped_after_the_kill_counts(self) -> None:
        signs = Signs()
        signs.watch("tts/audio", 10 * S)
        # the old process's last chunk, delivered after the kill: a leftover
        signs.saw("tts/audio", 9 * S)
        assert signs.all_seen(("tts/audio",), 10 * S) is None
        signs.saw("tts/audio", 12 * S)
        signs.saw("tts/audio", 13 * S)  # later ones do not move the first
        assert signs.all_seen(("tts/audio",), 10 * S) == 12 * S
        assert not signs.waiting("tts/audio")

    def test_every_sign_of_a_program_is_needed_and_the_last_of_them_counts(self) -> None:
        signs = Signs()
        kinds = SIGNS["avatar"]
        assert len(kinds) == 2  # one per VTube Studio stand-in
        signs.watch(kinds[0], 5 * S)
        signs.watch(kinds[1], 5 * S)
        signs.saw(kinds[0], 6 * S)
        signs.saw("director/turn", 7 * S)  # another program's sign
        assert signs.all_seen(kinds, 5 * S) is None
        signs.saw(kinds[1], 8 * S)
        assert signs.all_seen(kinds, 5 * S) == 8 * S

    def test_each_kill_waits_for_its_own_sign_and_a_program_with_none_is_at_once(
            self) -> None:
        signs = Signs()
        signs.watch("llm/sentence", 1 * S)
        signs.saw("llm/sentence", 2 * S)
        signs.watch("llm/sentence", 3 * S)  # the next kill of the llm
        assert signs.all_seen(("llm/sentence",), 3 * S) is None
        signs.saw("llm/sentence", 4 * S)
        assert signs.all_seen(("llm/sentence",), 1 * S) == 2 * S
        assert signs.all_seen(("llm/sentence",), 3 * S) == 4 * S
        assert signs.all_seen((), 7 * S) == 7 * S
        assert len(signs.found) == 2 and not signs.waiting("llm/sentence")


def program(name: str, restarts: int) -> ProgramStatus:
    return ProgramStatus(name=name, share="all", state="RUNNING", pid=100, uptime_s=1.0,
                         restarts=restarts, exit_status=0, description="")


class TestRestarts:
    OUTPUT = ("chat     | hello\n"
              "vtlaunch | memory hung: no heartbeat for 11.2 s (pid 321, hang_timeout_s 10): "
              "killed (SIGKILL); supervisord starts it again\n"
              "vtlaunch | director hung: no heartbeat for 10.5 s (pid 654, hang_timeout_s 10): "
              "killed (SIGKILL); supervisord starts it again\n")

    def test_hang_restarts_are_read_from_vtlaunch_once_each(self) -> None:
        hangs = new_hangs(self.OUTPUT, 0, 50 * S)
        assert [(h.program, h.pid) for h in hangs] == [("memory", 321), ("director", 654)]
        assert hangs[0].line.startswith("vtlaunch | memory hung") and "\n" not in hangs[0].line
        assert new_hangs(self.OUTPUT, 2, 60 * S) == []
        assert [h.program for h in new_hangs(self.OUTPUT, 1, 60 * S)] == ["director"]

    def test_a_hang_restart_is_planned_only_after_a_kill_that_explains_it(self) -> None:
        memory, director = new_hangs(self.OUTPUT, 0, 50 * S)
        kills = [Kill("memory", 320, 30 * S)]
        assert caused_by(memory, kills) is kills[0]
        assert caused_by(director, kills) is None  # a hang nobody caused: unplanned
        late = Kill("memory", 320, int(50 * S - AFTERMATH_S * S) - 1)
        assert caused_by(memory, [late]) is None
        assert caused_by(director, [Kill("vtbus", 1, 45 * S)]) is not None
        assert caused_by(memory, [Kill("memory", 320, 55 * S)]) is None  # after it

        programs = [program("memory", 2), program("director", 1), program("chat", 0)]
        # memory: one kill, one hang restart it caused; director: a hang no kill explains
        assert unplanned_restarts(programs, kills, [memory, director]) == \
            {"memory": 0, "director": 1, "chat": 0}
        assert unplanned_restarts(programs, [], [memory, director]) == \
            {"memory": 2, "director": 1, "chat": 0}


def test_turns_started_after_the_judged_part_are_not_lost() -> None:
    book = TurnBook()
    turn(book, "judged", 1)
    turn(book, "backlog", 9)  # the director goes on answering after the soak stops watching
    lost, _ = lost_turns(book, [], until_ns=5 * S)
    assert lost == ["judged"]
