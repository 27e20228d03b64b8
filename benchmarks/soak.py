"""Soak: the whole show on air for N minutes under a chat flood, optionally with programs
killed at random, and what it did: turns, recoveries, lost turns, memory and CPU per program.

The show is `vtlaunch stream.launch.toml` on the embedded default (the bundled LLM and Piper,
memory on in a fresh folder, two VTube Studio stand-ins from ``tests/fakes/vts.py``, the WAV
speaker, no microphone), on its own bus folder so it never meets another show on this
machine. It is fed ``--rate`` chat lines a second into ``chat/incoming`` (as ``vttopic pub``
would): plain lines, lines naming a persona, commands (``!forget``, ``!ask``, unknown ones),
bits and Super Chats (rare: the paid tier is answered first, see below) and hostile text
(ANSI escapes, forged log lines, control characters, 4,000 characters of unicode).

Recovery of a kill, per kind of program. ``back_on_bus_s``: from the SIGKILL until the
program runs again under a new pid and, a node, is in the registry with that pid (vtbus:
until every node that was registered before the kill is registered again). ``recovery_s``:
until it is back AND its function is seen working again (`SIGNS`): a message on its own
output topic stamped after the kill, so published by the new process, never a leftover of
the old one (a sentence the old tts made still playing is not the speaker's sign, nor the
tts's): chat, a line on ``chat/message`` (the flood sends 5 a second); director, a new
``director/turn``; llm, an ``llm/sentence``; tts, a ``tts/audio`` chunk; speaker, an audible
``audio/playhead``; avatar, an injection received by each VTube Studio stand-in; memory, a
``memory/stored`` acknowledgement (chat lines are stored as they come); vtbus, an
``llm/sentence`` or audible playhead through the new vtbus. The model nodes (`MODEL_NODES`:
llm, tts, stt, and memory, whose embedder loads when it starts) have their recoveries
reported apart (``recovery_model_nodes_p95_s``): it is mostly their load time; the
``recovery_p95_s`` target is over the rest. A program with no sign here (mic, stt, the demo
nodes: not fed in this show) recovers when it is back on the bus.

Canaries. The chat node answers first come first served within a tier, so under a flood a
line waits tens of seconds in the queue whatever happens to the show. The soak also sends
"canaries": lines from the broadcaster (a tier of their own) that name a persona, one every
``CANARY_S`` while none waits, and after each kill a Super Chat canary (paid: first in the
queue), sent again when the chat node did not pass it on within ``RESEND_S`` (it or vtbus
was down) or its turn ended unheard. ``canary_answered_s`` of a kill is the time from the
SIGKILL to the first audible sample of the reply to a canary sent after it (found by
``Turn.reply_to``): the show answering a chat line again. A canary does not interrupt the
turn being spoken, so this includes the rest of that turn and the wait in the paid tier: a
secondary figure (``canary_answered_p50_s``), not the recovery.

Other figures: ``turns_completed`` (turns heard to their end: ``memory/turn`` not cut off),
``turns_cut`` (turns the director cancelled, ``llm/cancel``, or that were cut off; their
reasons in ``cut_reasons``), ``turns_lost`` (a ``director/turn`` neither heard nor cancelled
by the end: the floor went to it and nothing came of it; ``turns_lost_per_kill`` counts
only the turns in flight at a kill, ``turns_lost_not_in_flight`` the others),
``restarts_unplanned`` (restarts supervisord counted minus the soak's own kills and minus
vtlaunch's hang-watch restarts a kill caused: of the killed program, or of any node after
vtbus was killed, seen within ``AFTERMATH_S`` of the kill; every other hang restart is
unplanned and listed in ``hang_restarts``),
``rss_growth_max_pct`` (mean RSS of the last 10 minutes against the first 10, per program
with its children, the largest; runs under 20 minutes compare the first and last quarter and
say so in ``rss_windows``), ``e2e_p50_drift_pct`` (p50 of the last quarter against the
first, from the trace stamps as `benchmarks/e2e.py` reads them, of the chain from the director
taking a chat line to its first audio chunk: under a 5 lines/s flood nearly every line waits
in the chat queue, so chat -> first audio would measure the queue; the lines that did not
wait give ``e2e_unqueued_p50_ms``) and RSS/CPU per program, sampled every
``--sample-s`` from /proc.

Usage: ``python benchmarks/soak.py [--minutes N] [--chaos] [--json] [--rate R] [--seed S]
[--out DIR] [--standins] [--arg NAME:=VALUE]``. Progress goes to stderr; ``--out`` keeps the
report and the show's log. Ctrl-C (or SIGTERM) stops the show and everything the soak started,
without a report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder would come first and its bus.py shadow the `bus` package
if sys.path[0] == str(ROOT / "benchmarks"):
    sys.path[0] = str(ROOT)
if str(ROOT / "tests") not in sys.path:  # the VTube Studio stand-in lives with the tests
    sys.path.append(str(ROOT / "tests"))

from fakes.vts import FakeVts  # noqa: E402

from benchmarks.e2e import QUEUED_MS, chains  # noqa: E402
from benchmarks.report import arguments, emit, machine, percentile  # noqa: E402
from bus.bag import BagMessage  # noqa: E402
from bus.testing import Probe  # noqa: E402
from launch.control import ProgramStatus, ShowNotRunning, find_shows  # noqa: E402
from launch.testing import LaunchProcess, descendants  # noqa: E402
from messages.audio import AudioChunk, Playhead  # noqa: E402
from messages.base import Header  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from messages.director import Turn  # noqa: E402
from messages.llm import Cancel, LlmRequest, Sentence  # noqa: E402
from messages.memory import ConversationTurn, MemoryStored  # noqa: E402

__all__ = ["ChatMix", "Hang", "Kill", "ShowRun", "Signs", "TurnBook", "main"]

LAUNCH = ROOT / "launch" / "stream.launch.toml"
PERSONAS = ("mika", "rook")
MODEL_NODES = frozenset({"llm", "tts", "stt", "memory"})
"""Programs that load a model when they start (memory: its embedder): their recovery is
mostly their load time, reported apart."""
SIGNS: dict[str, tuple[str, ...]] = {
    "chat": ("chat/message",),
    "director": ("director/turn",),
    "llm": ("llm/sentence",),
    "tts": ("tts/audio",),
    "speaker": ("audible",),
    "avatar": tuple(f"vts:{p}" for p in PERSONAS),
    "memory": ("memory/stored",),
    "vtbus": ("flow",),
}
"""Per program, the signs (all of them) that its function works: `Signs` kinds, each a
topic, ``audible`` (a playhead of sound heard), ``vts:PERSONA`` (an injection received by
that persona's VTube Studio stand-in) or ``flow`` (a sentence or an audible playhead)."""
AFTERMATH_S = 60.0
"""A hang restart this soon after a kill that can explain it is charged to the kill: the
hang watch judges a node after ``hang_timeout_s`` (10 s) of silence, vtlaunch's output is
read every ``--sample-s``, and a model node takes tens of seconds to load and join."""
CANARY_S = 15.0
RESEND_S = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------- the chat flood

_WORDS = ("game", "music", "rain", "dragons", "coffee", "chess", "the sea", "pizza", "space",
          "cats", "homework", "a movie", "the weather", "speedruns", "tea", "a song")
_HOSTILE = (
    "\x1b[31mred\x1b[0m text \x1b[2J\x1b[H cleared?",
    "ok\r\n2026-12-01 12:00:00 ERROR director: FAKE LOG LINE, shutting down",
    "bell\x07\x07 backspace\x08\x08\x08 null\x00 del\x7f",
    "\u202eevil right-to-left override\u202c and zero width\u200b\u200b",
    "Z\u0351\u0352\u0353a\u0354\u0355\u0356l\u0357\u0358g\u0359o" * 40,
    "\U0001f600\U0001f525\U0001f4af" * 1300,
    "%s %n %x {0} {{}} $(rm -rf /) `id` ; DROP TABLE memories;--",
)


class ChatMix:
    """The flood's lines: pure (a seeded ``random.Random`` and a counter), so a run repeats.

    Kinds and their shares: plain (47%), naming a persona (20%), commands (12%: ``!forget``,
    ``!ask PERSONA``, ``!persona``, unknown ones), hostile text (18%), moderators (2.5%), and
    paid ones (0.5%: bits, Super Chat, sub, raid; one every 40 s at 5 lines/s: the paid tier
    is answered before everything else, canaries included, so it must not grow faster than
    turns end). 400 viewers, so the per-user limit (3 a 30 s) seldom drops a line.
    """

    def __init__(self, rng: random.Random, viewers: int = 400):
        self.rng = rng
        self.viewers = viewers
        self.count = 0

    def line(self) -> ChatMessage:
        n, rng = self.count, self.rng
        self.count += 1
        viewer = rng.randrange(self.viewers)
        user = f"viewer{viewer}" if rng.random() > 0.05 else \
            "\x1b[31mevil\x1b[0m\r\nFAKE LOG LINE"
        topic = rng.choice(_WORDS)
        base: dict[str, Any] = {"platform": "console", "user": user, "user_id": f"v{viewer}",
                                "id": f"soak{n}"}
        roll = rng.random()
        if roll < 0.47:
            return ChatMessage(**base, text=f"what do you think about {topic}? ({n})")
        if roll < 0.67:
            persona = rng.choice(PERSONAS).capitalize()
            return ChatMessage(**base, text=f"{persona}, tell me about {topic} #{n}")
        if roll < 0.79:
            command = rng.choice(("!forget", f"!ask {rng.choice(PERSONAS)} do you like {topic}",
                                  "!persona", f"!nosuchcommand{n % 7} {topic}", "!"))
            return ChatMessage(**base, text=f"{command} {n}")
        if roll < 0.97:
            return ChatMessage(**base, text=f"{rng.choice(_HOSTILE)} {n}")
        if roll < 0.995:
            return ChatMessage(**base, roles=["moderator"], text=f"mods say hi, {topic} {n}")
        kind = rng.choice(("bits", "superchat", "sub", "raid"))
        currency = {"bits": "BITS", "superchat": "USD", "raid": "VIEWERS"}.get(kind, "")
        return ChatMessage(**base, kind=kind, amount=100.0, currency=currency, months=1,
                           text=f"have some support, thoughts on {topic}? {n}")


def canary(n: int, *, paid: bool = False) -> ChatMessage:
    """A line from the broadcaster naming a persona: a tier of its own, answered before the
    flood; ``paid`` (a Super Chat) ranks it above the other canaries too."""
    persona = PERSONAS[n % 2].capitalize()
    extra: dict[str, Any] = {"kind": "superchat", "amount": 5.0, "currency": "USD"} \
        if paid else {}
    return ChatMessage(platform="console", user="soak_host", user_id="soak_host",
                       roles=["broadcaster"], id=f"canary{n}", **extra,
                       text=f"{persona}, canary {n}: are you still there?")


# ---------------------------------------------------------------------- what the show did


@dataclass
class TurnBook:
    """Turns and replies as seen on the bus, bounded: one entry per turn, not per message.

    ``trail`` keeps, per reply, the messages `benchmarks.e2e.chains` reads (its director
    turn, its request, its first sentence, first audio chunk and first audible playhead).
    """

    started: dict[str, int] = field(default_factory=dict)
    """request id -> the director/turn stamp."""
    heard_turns: dict[str, tuple[int, bool]] = field(default_factory=dict)
    """request id -> (memory/turn stamp, cut off): the turn ended and what was heard of it
    is remembered (the director never remembers an empty turn)."""
    cancelled: dict[str, tuple[int, str]] = field(default_factory=dict)
    """request id -> (llm/cancel stamp, reason): the director ended the turn early."""
    heard: dict[str, int] = field(default_factory=dict)
    """request id -> stamp of its first audible playhead."""
    canaries: dict[str, int] = field(default_factory=dict)
    """canary's chat id -> its publish stamp."""
    reply_to: dict[str, str] = field(default_factory=dict)
    """chat id -> the request id of the turn that took it (``Turn.reply_to``: unlike the
    trace, it holds when the line reached the director before a restart of the director)."""
    canaries_queued: set[str] = field(default_factory=set)
    """Ids of the canaries the chat node passed on (``chat/message``): in its queue."""
    trail: dict[str, list[BagMessage]] = field(default_factory=dict)
    """request id -> its first message of each topic, in arrival order."""

    def _keep(self, topic: str, header: Header, msg: Any, request_id: str) -> None:
        kept = self.trail.setdefault(request_id, [])
        if all(m.topic != topic for m in kept):
            kept.append(BagMessage(topic, header, msg, b"", b"", header.stamp_ns))

    def on_turn(self, msg: Turn, header: Header) -> None:
        if msg.request_id:  # latched: a restarted vtbus hands it out again
            self.started.setdefault(msg.request_id, header.stamp_ns)
            if msg.reply_to:
                self.reply_to.setdefault(msg.reply_to, msg.request_id)
            self._keep("director/turn", header, msg, msg.request_id)

    def on_remembered(self, msg: ConversationTurn, header: Header) -> None:
        if msg.turn_id in self.started:
            self.heard_turns.setdefault(msg.turn_id, (header.stamp_ns, msg.cut_off))

    def on_cancel(self, msg: Cancel, header: Header) -> None:
        if msg.request_id in self.started:
            self.cancelled.setdefault(msg.request_id, (header.stamp_ns, msg.reason))

    def ended(self, request_id: str) -> int | None:
        """When the turn ended, heard or cancelled (None: not, so far)."""
        ends = [e[0] for e in (self.heard_turns.get(request_id), self.cancelled.get(request_id))
                if e is not None]
        return min(ends, default=None)

    def completed(self) -> int:
        """Turns heard to their end."""
        return sum(1 for _, cut in self.heard_turns.values() if not cut)

    def cut(self) -> int:
        """Turns cancelled or cut off (heard in part, or not at all)."""
        return len(self.cancelled.keys() | {r for r, (_, c) in self.heard_turns.items() if c})

    def on_chat(self, msg: ChatMessage, header: Header) -> None:
        if msg.id.startswith("canary"):
            self.canaries_queued.add(msg.id)

    def on_request(self, msg: LlmRequest, header: Header) -> None:
        if not msg.prefill:
            self._keep("llm/request", header, LlmRequest(
                persona=msg.persona, request_id=msg.request_id), msg.request_id)

    def on_sentence(self, msg: Sentence, header: Header) -> None:
        self._keep("llm/sentence", header, msg, msg.request_id)

    def on_audio(self, msg: AudioChunk, header: Header) -> None:
        if all(m.topic != "tts/audio" for m in self.trail.get(msg.request_id, ())):
            self._keep("tts/audio", header, msgspec.structs.replace(msg, pcm=b"", phonemes=[]),
                       msg.request_id)

    def on_playhead(self, msg: Playhead, header: Header) -> None:
        if audible(msg):
            self.heard.setdefault(msg.request_id, header.stamp_ns)
            self._keep("audio/playhead", header, msg, msg.request_id)

    def answered_after(self, t_ns: int) -> int | None:
        """When the show was first heard answering a canary sent after ``t_ns``."""
        heard = [self.heard[r] for line, sent in self.canaries.items() if sent > t_ns
                 and (r := self.reply_to.get(line)) is not None and r in self.heard]
        return min(heard, default=None)

    def canary_pending(self, line: str) -> bool:
        """Whether canary ``line`` is in the chat node's queue, or being answered."""
        request_id = self.reply_to.get(line)
        if request_id is None:
            return line in self.canaries_queued
        return request_id in self.heard or self.ended(request_id) is None

    def open_turns(self, until_ns: int | None = None) -> list[str]:
        """Turns neither heard nor cancelled (so far), of those started before ``until_ns``."""
        return [r for r, start in self.started.items()
                if self.ended(r) is None and (until_ns is None or start < until_ns)]

    def in_flight(self, t_ns: int) -> str | None:
        """The turn in progress at ``t_ns``: the last one started (the director gives the
        floor to one turn at a time), if it had not ended then."""
        started = [(start, r) for r, start in self.started.items() if start <= t_ns]
        if not started:
            return None
        _, last = max(started)
        end = self.ended(last)
        return last if end is None or end > t_ns else None

    def stage(self, request_id: str) -> str:
        """How far a turn got: turn, llm/request, llm/sentence, tts/audio, audio/playhead."""
        return self.trail[request_id][-1].topic if request_id in self.trail else "none"


def audible(msg: Playhead) -> bool:
    """Whether a playhead says sound of a reply is heard."""
    return msg.state in ("playing", "finished") and bool(msg.sample_rate)


@dataclass
class Signs:
    """When each kind of sign of life was first seen after each mark (a kill), bounded: one
    entry per mark watched, none per message.

    A sign counts when its stamp is after the mark: stamped by its publisher
    (``Header.stamp_ns``, or the stand-in's clock for an injection) after the SIGKILL, it
    came from the new process, not from the old one's last messages still on their way.
    """

    pending: dict[str, set[int]] = field(default_factory=dict)
    """kind -> marks (ns) still waiting for a sign of that kind."""
    found: dict[tuple[str, int], int] = field(default_factory=dict)
    """(kind, mark) -> stamp of the first sign of that kind after the mark."""

    def watch(self, kind: str, after_ns: int) -> None:
        if (kind, after_ns) not in self.found:
            self.pending.setdefault(kind, set()).add(after_ns)

    def waiting(self, kind: str) -> bool:
        return bool(self.pending.get(kind))

    def saw(self, kind: str, stamp_ns: int) -> None:
        """One sign of ``kind``; signs of a kind must come in stamp order."""
        marks = self.pending.get(kind)
        if marks:
            for mark in [m for m in marks if m < stamp_ns]:
                self.found[(kind, mark)] = stamp_ns
                marks.discard(mark)

    def all_seen(self, kinds: tuple[str, ...], after_ns: int) -> int | None:
        """When the last of ``kinds`` was first seen after ``after_ns`` (None: not all yet)."""
        stamps = [self.found.get((kind, after_ns)) for kind in kinds]
        return None if None in stamps else max((s for s in stamps if s is not None),
                                               default=after_ns)


@dataclass
class Kill:
    """One SIGKILL the soak sent, and how the show came back from it."""

    program: str
    pid: int
    t_ns: int
    back_on_bus_s: float | None = None
    working_s: float | None = None
    """Until its function was seen working again (`SIGNS`), back on the bus or not."""
    recovery_s: float | None = None
    """Back on the bus and working again: the later of the two."""
    canary_answered_s: float | None = None
    turns_lost: int = 0
    nodes: frozenset[str] = frozenset()
    """Killing vtbus: the nodes registered just before, which must all register again."""


def lost_turns(book: TurnBook, kills: list[Kill],
               until_ns: int | None = None) -> tuple[list[str], list[str]]:
    """Turns never closed, and those of them that were in flight at no kill (the rest were
    the reply a kill interrupted); also fills each kill's ``turns_lost`` (0 or 1: only the
    turn in flight at that kill, counted once however many kills it saw). Only turns started
    before ``until_ns`` are judged: the director goes on answering the backlog after the
    flood stops, and the turn it was on when the soak stopped watching is not lost."""
    lost = set(book.open_turns(until_ns))
    explained: set[str] = set()
    for kill in kills:
        hit = book.in_flight(kill.t_ns)
        kill.turns_lost = int(hit in lost and hit not in explained)
        explained.add(hit or "")
    return sorted(lost), sorted(lost - explained)


_HUNG = re.compile(r"^vtlaunch\s*\| (\S+) hung: .*?\(pid (\d+)", re.MULTILINE)


@dataclass
class Hang:
    """A restart by vtlaunch's hang watch (a node alive whose heartbeats stopped)."""

    program: str
    pid: int
    seen_ns: int
    """When the soak read it in vtlaunch's output (at most ``--sample-s`` after it)."""
    line: str


def new_hangs(output: str, known: int, now_ns: int) -> list[Hang]:
    """The hang restarts in vtlaunch's ``output`` after the first ``known`` of them."""
    found = list(_HUNG.finditer(output))[known:]
    return [Hang(m[1], int(m[2]), now_ns, output[m.start():output.find("\n", m.start())])
            for m in found]


def caused_by(hang: Hang, kills: list[Kill]) -> Kill | None:
    """The kill that explains a hang restart: of the same program, or of vtbus (every node
    re-registers), within `AFTERMATH_S` before it was seen; None: unplanned."""
    for kill in reversed(kills):
        if kill.program in (hang.program, "vtbus") \
                and kill.t_ns <= hang.seen_ns <= kill.t_ns + AFTERMATH_S * 1e9:
            return kill
    return None


def unplanned_restarts(programs: list[ProgramStatus], kills: list[Kill],
                       hangs: list[Hang]) -> dict[str, int]:
    """Restarts per program that neither a kill of the soak nor a hang restart it caused
    explain (a hang restart no kill explains stays unplanned)."""
    planned = Counter(k.program for k in kills)
    planned.update(h.program for h in hangs if caused_by(h, kills) is not None)
    return {p.name: max(0, p.restarts - planned[p.name]) for p in programs}


# ---------------------------------------------------------------------- /proc


def usage(pid: int) -> tuple[int, int] | None:
    """RSS (bytes) and CPU time (clock ticks) of ``pid`` and everything below it."""
    rss = ticks = 0
    found = False
    for each in (pid, *descendants(pid)):
        try:
            status = Path(f"/proc/{each}/status").read_text()
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        found = True
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) * 1024
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return (rss, ticks) if found else None


@dataclass
class Series:
    """One program's samples: (seconds since the start, RSS bytes, CPU % since last)."""

    points: list[tuple[float, int, float | None]] = field(default_factory=list)
    last: tuple[int, float, int] | None = None
    """(pid, monotonic time, ticks) of the previous sample, for the CPU %."""

    def add(self, t: float, pid: int, now: float, rss: int, ticks: int) -> None:
        cpu = None
        if self.last is not None and self.last[0] == pid and now > self.last[1]:
            cpu = 100.0 * (ticks - self.last[2]) / CLOCK_TICKS / (now - self.last[1])
        self.last = (pid, now, ticks)
        self.points.append((t, rss, cpu))


def windows(duration_s: float) -> tuple[float, float, str]:
    """The first and last window the RSS growth compares, and how they were chosen."""
    if duration_s >= 1200:
        return 600.0, duration_s - 600.0, "first 10 min vs last 10 min"
    return duration_s / 4, duration_s * 3 / 4, "first quarter vs last quarter (run < 20 min)"


def summarise_series(series: dict[str, Series], duration_s: float) -> dict[str, Any]:
    first_end, last_start, how = windows(duration_s)
    programs: dict[str, Any] = {}
    growth: dict[str, float] = {}
    for name, s in sorted(series.items()):
        rss = [r for _, r, _ in s.points]
        cpus = [c for _, _, c in s.points if c is not None]
        early = [r for t, r, _ in s.points if t <= first_end]
        late = [r for t, r, _ in s.points if t >= last_start]
        row: dict[str, Any] = {
            "samples": len(rss),
            "rss_mb_first": round(rss[0] / 2**20, 1) if rss else None,
            "rss_mb_last": round(rss[-1] / 2**20, 1) if rss else None,
            "rss_mb_max": round(max(rss) / 2**20, 1) if rss else None,
            "cpu_pct_mean": round(statistics.fmean(cpus), 1) if cpus else None,
            "cpu_pct_max": round(max(cpus), 1) if cpus else None,
        }
        if early and late:
            growth[name] = 100.0 * (statistics.fmean(late) / statistics.fmean(early) - 1)
            row["rss_growth_pct"] = round(growth[name], 1)
        programs[name] = row
    worst = max(growth, key=lambda n: growth[n], default=None)
    return {"rss_growth_max_pct": round(growth[worst], 1) if worst else None,
            "rss_growth_max_program": worst, "rss_windows": how, "programs": programs}


# ---------------------------------------------------------------------- the show


def log(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class ShowRun:
    """The whole show on its own bus with two VTube Studio stand-ins, watched by a probe.

    Use as ``async with ShowRun(folder) as run:``; leaving stops every process it started
    (vtlaunch stops its programs; anything seen under it that is still alive is killed).

    Parameters
    ----------
    work:
        A folder for memory and VTS tokens.
    standins:
        ``llm:=scripted tts:=tone`` (zero-time stand-ins) instead of the bundled models.
    seed:
        The LLM's sampling seed.
    args:
        More ``name:=value`` launch arguments (they come last, so they win).
    """

    def __init__(self, work: Path, *, standins: bool = False, seed: int = 7,
                 args: list[str] | None = None):
        self.work = work
        self.standins = standins
        self.seed = seed
        self.args = args or []
        self.book = TurnBook()
        self.signs = Signs()
        self.kills: list[Kill] = []
        self.hangs: list[Hang] = []
        self.injections_seen = 0
        self.canaries_sent = 0
        self.lines_sent = 0
        self.started_at = 0.0
        self._stack = contextlib.AsyncExitStack()
        self.vts: list[FakeVts] = []
        self.show: LaunchProcess | None = None
        self.probe: Probe | None = None

    async def __aenter__(self) -> ShowRun:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        stack = self._stack
        self.vts = [await stack.enter_async_context(FakeVts()) for _ in PERSONAS]
        avatars = [{"persona": p, "host": "127.0.0.1", "port": v.port}
                   for p, v in zip(PERSONAS, self.vts, strict=True)]
        args = ["mic:=false", "audio_device:=wav", f"memory_path:={self.work / 'memory'}",
                f"vts_token_dir:={self.work / 'tokens'}", f"avatars:={json.dumps(avatars)}",
                f"llm_seed:={self.seed}"]
        if self.standins:
            args += ["llm:=scripted", "tts:=tone"]
        self.show = show = stack.enter_context(LaunchProcess(LAUNCH, [*args, *self.args]))
        stack.callback(show.tree)  # the last look for the safety net, before it stops
        log(f"starting the show on {show.bus_url} "
            f"({'stand-ins' if self.standins else 'bundled models'})")
        await self._wait_up(600)
        self.probe = probe = await stack.enter_async_context(Probe(show.bus_url, "_soak"))
        book = self.book
        probe.create_subscription(Turn, "director/turn", self._on_turn)
        probe.create_subscription(ConversationTurn, "memory/turn", book.on_remembered)
        probe.create_subscription(Cancel, "llm/cancel", book.on_cancel)
        probe.create_subscription(ChatMessage, "chat/message", self._on_chat)
        probe.create_subscription(LlmRequest, "llm/request", book.on_request)
        probe.create_subscription(Sentence, "llm/sentence", self._on_sentence)
        probe.create_subscription(AudioChunk, "tts/audio", self._on_audio)
        probe.create_subscription(Playhead, "audio/playhead", self._on_playhead)
        probe.create_subscription(MemoryStored, "memory/stored", self._on_stored)
        self._chat = probe.create_publisher(ChatMessage, "chat/incoming")
        if not await self._chat.wait_for_subscribers(60):
            raise TimeoutError("the chat node never subscribed to chat/incoming")
        for topic in ("director/turn", "memory/turn", "audio/playhead"):
            await probe.wait_subscribed(topic, 30)
        self.started_at = time.monotonic()
        log("the show is on the bus")

    # the bookkeeping, and the signs of each program's function (`SIGNS`)

    def _on_turn(self, msg: Turn, header: Header) -> None:
        self.book.on_turn(msg, header)
        self.signs.saw("director/turn", header.stamp_ns)

    def _on_chat(self, msg: ChatMessage, header: Header) -> None:
        self.book.on_chat(msg, header)
        self.signs.saw("chat/message", header.stamp_ns)

    def _on_sentence(self, msg: Sentence, header: Header) -> None:
        self.book.on_sentence(msg, header)
        self.signs.saw("llm/sentence", header.stamp_ns)
        self.signs.saw("flow", header.stamp_ns)

    def _on_audio(self, msg: AudioChunk, header: Header) -> None:
        self.book.on_audio(msg, header)
        self.signs.saw("tts/audio", header.stamp_ns)

    def _on_playhead(self, msg: Playhead, header: Header) -> None:
        self.book.on_playhead(msg, header)
        if audible(msg):
            self.signs.saw("audible", header.stamp_ns)
            self.signs.saw("flow", header.stamp_ns)

    def _on_stored(self, msg: MemoryStored, header: Header) -> None:
        self.signs.saw("memory/stored", header.stamp_ns)

    def take_injections(self) -> int:
        """Read and forget what the VTube Studio stand-ins received (60 Hz x 2 avatars: an
        hour of them would be gigabytes), as signs for the kills waiting for one; how many."""
        count = 0
        for persona, stand_in in zip(PERSONAS, self.vts, strict=True):
            kind = f"vts:{persona}"
            if self.signs.waiting(kind):
                for injection in stand_in.injections:
                    self.signs.saw(kind, injection.t_ns)
            count += len(stand_in.injections)
            for kept in (stand_in.injections, stand_in.lapses, stand_in.requests):
                kept.clear()
        self.injections_seen += count
        return count

    def note_hangs(self) -> None:
        """Note the hang restarts vtlaunch made since the last look."""
        assert self.show is not None
        self.hangs += new_hangs(self.show.output, len(self.hangs), time.time_ns())

    async def _wait_up(self, timeout: float) -> None:
        """Until vtlaunch says every node is on the bus; a program that gave up (FATAL: it
        crashed at every start) ends the wait at once with its log."""
        assert self.show is not None
        deadline = time.monotonic() + timeout
        while "every node on the bus" not in (output := self.show.output):
            self.show.tree()
            if "entered FATAL state" in output or self.show.proc is None \
                    or self.show.proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(output.splitlines()[-40:])
                raise RuntimeError(f"the show did not come up:\n{tail}")
            await asyncio.sleep(0.2)
        self.show.tree()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at

    # ------------------------------------------------------------------ in

    def send(self, msg: ChatMessage) -> Header:
        self.lines_sent += 1
        return self._chat.publish(msg)

    def send_canary(self, *, paid: bool = False) -> str:
        """Send the next canary; its id."""
        line = canary(self.canaries_sent, paid=paid)
        header = self.send(line)
        self.canaries_sent += 1
        self.book.canaries[line.id] = header.stamp_ns
        return line.id

    def canary_waiting(self) -> bool:
        """Whether a canary waits in the chat node's queue (another would wait behind it,
        first come first served)."""
        return any(line in self.book.canaries_queued and line not in self.book.reply_to
                   for line in self.book.canaries)

    async def feed(self, mix: ChatMix, rate: float) -> None:
        """``rate`` lines a second, paced against the clock (never bursts to catch up)."""
        period = 1.0 / rate
        next_at = time.monotonic()
        while True:
            self.send(mix.line())
            next_at = max(next_at + period, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def canaries(self, every_s: float = CANARY_S) -> None:
        """A canary every ``every_s`` while none waits (its replies time the chat -> audio
        path without the queue)."""
        while True:
            if not self.canary_waiting():
                self.send_canary()
            await asyncio.sleep(every_s)

    async def answered_after(self, t_ns: int, timeout: float) -> float:
        """Send a canary (a paid one: it goes before the others) and wait until the show is
        heard answering a canary sent after ``t_ns``; the seconds from ``t_ns`` to then
        (TimeoutError after ``timeout``). A canary the chat node did not pass on within
        `RESEND_S` (it was down, or vtbus was), or whose turn ended unheard, is sent again."""
        deadline = time.monotonic() + timeout
        while (heard := self.book.answered_after(t_ns)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no canary sent after the mark was answered in {timeout} s")
            sent = self.send_canary(paid=True)
            resend_at = time.monotonic() + RESEND_S
            while self.book.answered_after(t_ns) is None and time.monotonic() < deadline \
                    and (self.book.canary_pending(sent) or time.monotonic() < resend_at):
                await asyncio.sleep(0.05)
        return (heard - t_ns) / 1e9

    async def wait_mid_reply(self, timeout: float) -> str:
        """Until a persona is heard speaking a turn that has not ended: its request id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            speaking = self.book.in_flight(time.time_ns())
            if speaking is not None and speaking in self.book.heard:
                return speaking
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no persona was heard mid-reply within {timeout} s")

    # ------------------------------------------------------------------ programs

    def programs(self) -> list[ProgramStatus]:
        assert self.show is not None
        return [p for show in find_shows(self.show.bus_url) for p in show.programs()]

    async def kill(self, name: str) -> Kill:
        """SIGKILL program ``name`` (vtbus included) and note when."""
        assert self.show is not None
        self.show.tree()
        (program,) = [p for p in await asyncio.to_thread(self.programs) if p.name == name]
        if not program.pid:
            raise RuntimeError(f"{name} is not running ({program.state})")
        nodes: frozenset[str] = frozenset()
        if name == "vtbus":
            assert self.probe is not None
            with contextlib.suppress(TimeoutError):  # then only its pid is watched
                graph = await self.probe.graph(timeout=2.0)
                # the show's own nodes: hidden ones are tools (this probe, vtlaunch's console,
                # which runs in no supervisord program and has no pid to be back under)
                nodes = frozenset(s.info.name for s in graph.nodes if not s.info.hidden)
        kill = Kill(name, program.pid, time.time_ns(), nodes=nodes)
        os.kill(program.pid, signal.SIGKILL)
        self.kills.append(kill)
        log(f"killed {name} (pid {program.pid}) at {self.elapsed_s:.0f} s")
        return kill

    async def wait_back(self, kill: Kill, timeout: float = 300.0) -> float:
        """Until the killed program runs under a new pid and, a node, is in the registry
        under it (vtbus: until every node registered before the kill is registered again,
        each under the pid supervisord runs it as)."""
        assert self.probe is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ShowNotRunning, TimeoutError, ValueError):
                pids = {p.name: p.pid for p in await asyncio.to_thread(self.programs)}
                if pids[kill.program] and pids[kill.program] != kill.pid:
                    graph = await self.probe.graph(timeout=0.5)
                    registered = {(s.info.name, s.info.pid) for s in graph.nodes}
                    wanted = kill.nodes if kill.program == "vtbus" else {kill.program}
                    if all((name, pids.get(name)) in registered for name in wanted):
                        kill.back_on_bus_s = (time.time_ns() - kill.t_ns) / 1e9
                        return kill.back_on_bus_s
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{kill.program} was not back within {timeout} s")

    async def wait_working(self, kill: Kill, timeout: float = 300.0) -> float:
        """Until every sign of the killed program's function (`SIGNS`) was seen after the
        kill: the seconds from the kill to the last of them."""
        kinds = SIGNS.get(kill.program, ())
        for kind in kinds:
            self.signs.watch(kind, kill.t_ns)
        deadline = time.monotonic() + timeout
        while (seen := self.signs.all_seen(kinds, kill.t_ns)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kill.program} was not seen working within {timeout} s")
            if kill.program == "avatar":
                self.take_injections()
            await asyncio.sleep(0.05)
        kill.working_s = max(0.0, (seen - kill.t_ns) / 1e9)
        return kill.working_s

    async def recover(self, kill: Kill, timeout: float = 300.0) -> None:
        """Measure one kill: back on the bus, its function working again (both: the
        recovery), and the show answering a canary sent after it."""
        results = await asyncio.gather(self.wait_back(kill, timeout),
                                       self.wait_working(kill, timeout),
                                       self.answered_after(kill.t_ns, timeout),
                                       return_exceptions=True)
        if kill.back_on_bus_s is not None and kill.working_s is not None:
            kill.recovery_s = max(kill.back_on_bus_s, kill.working_s)
        if not isinstance(results[2], BaseException):
            kill.canary_answered_s = results[2]
        log(f"{kill.program}: back on the bus {kill.back_on_bus_s} s, working again "
            f"{kill.working_s} s (recovery {kill.recovery_s} s), a canary answered "
            f"{kill.canary_answered_s} s")

    async def drain(self, timeout: float) -> int:
        """Wait (feed stopped) for the turns started so far to close, but for those a kill
        interrupted (they may never close: their director died); returns the instant that
        ends the judged part of the run (`lost_turns`'s ``until_ns``)."""
        until_ns = time.time_ns()
        orphaned = {self.book.in_flight(kill.t_ns) for kill in self.kills}
        deadline = time.monotonic() + timeout
        while set(self.book.open_turns(until_ns)) - orphaned and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return until_ns

    def restarts(self, programs: list[ProgramStatus]) -> dict[str, int]:
        """Restarts per program that no kill of the soak explains (`unplanned_restarts`)."""
        self.note_hangs()
        return unplanned_restarts(programs, self.kills, self.hangs)


# ---------------------------------------------------------------------- the soak


async def sample(run: ShowRun, series: dict[str, Series], every_s: float) -> None:
    """RSS and CPU of every program (with its children) every ``every_s``."""
    assert run.show is not None
    counted = 0
    while True:
        run.show.tree()  # remembered for the safety net, restarted programs included
        with contextlib.suppress(ShowNotRunning):
            for program in await asyncio.to_thread(run.programs):
                used = usage(program.pid) if program.pid else None
                if used is not None:
                    series.setdefault(program.name, Series()).add(
                        run.elapsed_s, program.pid, time.monotonic(), *used)
        run.take_injections()
        injected, counted = run.injections_seen - counted, run.injections_seen
        run.note_hangs()
        book = run.book
        log(f"{run.elapsed_s:5.0f} s: {run.lines_sent} lines, {len(book.started)} turns "
            f"({book.completed()} heard to the end, {book.cut()} cut), {len(run.kills)} "
            f"kills, avatar injections "
            f"{injected / every_s:.0f}/s")
        await asyncio.sleep(every_s)


async def chaos(run: ShowRun, rng: random.Random, every: tuple[float, float],
                recoveries: list[asyncio.Task[None]]) -> None:
    """SIGKILL a random program every ``every`` (min, max) seconds, measuring each."""
    while True:
        await asyncio.sleep(rng.uniform(*every))
        running = [p.name for p in await asyncio.to_thread(run.programs) if p.pid]
        kill = await run.kill(rng.choice(sorted(running)))
        recoveries.append(asyncio.create_task(run.recover(kill)))


async def soak(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(opts.seed)
    series: dict[str, Series] = {}
    async with ShowRun(work, standins=opts.standins, seed=opts.seed, args=opts.arg) as run:
        recoveries: list[asyncio.Task[None]] = []
        tasks = [asyncio.create_task(run.feed(ChatMix(random.Random(opts.seed)), opts.rate)),
                 asyncio.create_task(run.canaries()),
                 asyncio.create_task(sample(run, series, opts.sample_s))]
        if opts.chaos:
            tasks.append(asyncio.create_task(chaos(run, rng, opts.kill_every, recoveries)))
        try:
            await asyncio.sleep(opts.minutes * 60)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        duration_s = run.elapsed_s
        log("feed stopped; waiting for the last turns and recoveries")
        await asyncio.gather(*recoveries, return_exceptions=True)
        until_ns = await run.drain(60)
        programs = await asyncio.to_thread(run.programs)
        if opts.out:
            assert run.show is not None
            (opts.out / "vtlaunch.log").write_text(run.show.output)
        return report(run, programs, series, duration_s, opts, until_ns)


def report(run: ShowRun, programs: list[ProgramStatus], series: dict[str, Series],
           duration_s: float, opts: argparse.Namespace, until_ns: int) -> dict[str, Any]:
    book, kills = run.book, run.kills
    lost, not_in_flight = lost_turns(book, kills, until_ns)
    unplanned = run.restarts(programs)
    recoveries = [k.recovery_s for k in kills if k.program not in MODEL_NODES]
    model_recoveries = [k.recovery_s for k in kills if k.program in MODEL_NODES]
    canaries = [k.canary_answered_s for k in kills]
    t0 = min(book.started.values(), default=0)
    timed = to_first_audio(book)
    unqueued = [ms for _, ms, queued in timed if not queued]
    quarter = duration_s / 4 * 1e9
    first = [ms for t, ms, _ in timed if t - t0 <= quarter]
    last = [ms for t, ms, _ in timed if t - t0 >= 3 * quarter]
    drift = (100.0 * (statistics.median(last) / statistics.median(first) - 1)
             if first and last else None)
    result: dict[str, Any] = {
        "machine": machine(),
        "mode": "stand-ins (llm:=scripted tts:=tone)" if opts.standins else
                "embedded default (bundled LLM and Piper)",
        "minutes": round(duration_s / 60, 2), "chaos": opts.chaos, "seed": opts.seed,
        "rate_per_s": opts.rate, "lines_sent": run.lines_sent,
        "canaries_sent": run.canaries_sent,
        "turns_started": len(book.started), "turns_completed": book.completed(),
        "turns_cut": book.cut(),
        "cut_reasons": dict(Counter(_reason(r) for _, r in book.cancelled.values())),
        "replies_per_min": round(book.completed() / (duration_s / 60), 2) if duration_s else 0,
        "turns_lost": len(lost),
        "turns_lost_not_in_flight": len(not_in_flight),
        "turns_lost_stages": dict(Counter(book.stage(r) for r in lost)),
        "kills": len(kills),
        "turns_lost_per_kill": round(sum(k.turns_lost for k in kills) / len(kills), 2)
                               if kills else None,
        "restarts_unplanned": sum(unplanned.values()),
        "restarts_unplanned_by_program": {n: c for n, c in unplanned.items() if c},
        "hang_restarts": [{"program": h.program, "pid": h.pid,
                           "seen_at_s": round((h.seen_ns - t0) / 1e9, 1),
                           "caused_by_kill": (k.program if (k := caused_by(h, kills))
                                              else None), "line": h.line}
                          for h in run.hangs],
        "programs_not_running": [p.name for p in programs if p.state != "RUNNING"],
        "recovery_p95_s": _p95(recoveries),
        "recovery_model_nodes_p95_s": _p95(model_recoveries),
        "model_nodes": sorted(MODEL_NODES),
        "recoveries_missing": sum(1 for k in kills if k.recovery_s is None),
        "back_on_bus_p95_s": _p95([k.back_on_bus_s for k in kills]),
        "canary_answered_p50_s": _p50(canaries),
        "canary_answered_p95_s": _p95(canaries),
        "canaries_unanswered": sum(1 for c in canaries if c is None),
        "recovery_by_program": by_program(kills),
        "kill_log": [{"program": k.program, "at_s": round((k.t_ns - t0) / 1e9, 1),
                      "back_on_bus_s": _round(k.back_on_bus_s),
                      "working_s": _round(k.working_s), "recovery_s": _round(k.recovery_s),
                      "canary_answered_s": _round(k.canary_answered_s),
                      "turns_lost": k.turns_lost}
                     for k in kills],
        "e2e_first_quarter_p50_ms": _round(statistics.median(first)) if first else None,
        "e2e_last_quarter_p50_ms": _round(statistics.median(last)) if last else None,
        "e2e_p50_drift_pct": _round(drift),
        "e2e_chains": len(timed),
        "e2e_unqueued_p50_ms": _round(statistics.median(unqueued)) if unqueued else None,
        **summarise_series(series, duration_s),
    }
    return result


def by_program(kills: list[Kill]) -> dict[str, dict[str, Any]]:
    """Per program killed: how many times, and its recoveries (max: the worst)."""
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted({k.program for k in kills}):
        mine = [k for k in kills if k.program == name]
        rows[name] = {
            "kills": len(mine), "model_node": name in MODEL_NODES,
            "signs": list(SIGNS.get(name, ("back on the bus",))),
            "back_on_bus_max_s": _max([k.back_on_bus_s for k in mine]),
            "recovery_p50_s": _p50([k.recovery_s for k in mine]),
            "recovery_max_s": _max([k.recovery_s for k in mine]),
            "canary_answered_p50_s": _p50([k.canary_answered_s for k in mine]),
            "missing": sum(1 for k in mine if k.recovery_s is None),
        }
    return rows


def to_first_audio(book: TurnBook) -> list[tuple[int, float, bool]]:
    """(chat line's stamp, director takes the line -> first audio chunk ms, whether the line
    waited in the chat queue) of each reply, in order, measured by `benchmarks.e2e.chains`."""
    found = []
    for messages in book.trail.values():
        for chain in chains(messages):
            found.append((messages[0].header.trace_stamp_ns,
                          chain["to_first_audio"] - chain["chat_to_director"],
                          chain["chat_to_director"] >= QUEUED_MS))
    return sorted(found)


def _reason(text: str) -> str:
    """A cancel reason without its particulars (numbers, quoted names), for counting."""
    return re.sub(r"\d+(\.\d+)?", "N", text)[:80]


def _p95(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _round(percentile(known, 0.95)) if known else None


def _p50(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _round(statistics.median(known)) if known else None


def _max(values: list[float | None]) -> float | None:
    return _round(max((v for v in values if v is not None), default=None))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def human(result: dict[str, Any]) -> str:
    lines = [f"soak: {result['minutes']} min, {result['mode']}, chaos {result['chaos']}, "
             f"{result['rate_per_s']} lines/s ({result['machine']})",
             f"  turns: {result['turns_completed']} completed ({result['turns_cut']} cut), "
             f"{result['replies_per_min']}/min, {result['turns_lost']} lost "
             f"({result['turns_lost_not_in_flight']} not in flight at a kill; how far they "
             f"got: {result['turns_lost_stages']}); cut: {result['cut_reasons']}",
             f"  restarts not caused by the soak: {result['restarts_unplanned']} "
             f"{result['restarts_unplanned_by_program'] or ''}; not running at the end: "
             f"{result['programs_not_running'] or 'none'}",
             f"  kills {result['kills']}: recovery p95 {result['recovery_p95_s']} s "
             f"(model nodes {', '.join(result['model_nodes'])}: "
             f"{result['recovery_model_nodes_p95_s']} s; {result['recoveries_missing']} "
             f"missing), back on the bus p95 {result['back_on_bus_p95_s']} s, a canary "
             f"answered p50 {result['canary_answered_p50_s']} s (p95 "
             f"{result['canary_answered_p95_s']} s, queue included), "
             f"{result['turns_lost_per_kill']} turns lost per kill"]
    lines += [f"    {name:<9} x{row['kills']}: recovery p50 {row['recovery_p50_s']} s max "
              f"{row['recovery_max_s']} s ({'+'.join(row['signs'])}), canary p50 "
              f"{row['canary_answered_p50_s']} s"
              for name, row in result["recovery_by_program"].items()]
    lines += [f"    {k['at_s']:>7} s {k['program']:<9} back on the bus {k['back_on_bus_s']} s, "
              f"working {k['working_s']} s, recovered {k['recovery_s']} s, canary answered "
              f"{k['canary_answered_s']} s, turns lost {k['turns_lost']}"
              for k in result["kill_log"]]
    lines += [f"  hang restart: {h['program']} (pid {h['pid']}) at {h['seen_at_s']} s, "
              f"{'after the kill of ' + h['caused_by_kill'] if h['caused_by_kill'] else 'UNPLANNED'}"
              for h in result["hang_restarts"]]
    lines.append(f"  line taken -> first audio p50: {result['e2e_first_quarter_p50_ms']} ms first "
                 f"quarter, {result['e2e_last_quarter_p50_ms']} ms last: drift "
                 f"{result['e2e_p50_drift_pct']} % ({result['e2e_chains']} replies; lines that "
                 f"did not queue: {result['e2e_unqueued_p50_ms']} ms)")
    lines.append(f"  RSS growth max {result['rss_growth_max_pct']} % "
                 f"({result['rss_growth_max_program']}; {result['rss_windows']})")
    for name, row in result["programs"].items():
        lines.append(f"    {name:<9} RSS {row['rss_mb_first']} -> {row['rss_mb_last']} MB "
                     f"(max {row['rss_mb_max']}, growth {row.get('rss_growth_pct')} %), "
                     f"CPU mean {row['cpu_pct_mean']} % max {row['cpu_pct_max']} %")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="time on air, fed")
    parser.add_argument("--chaos", action="store_true",
                        help="SIGKILL a random program now and then")
    parser.add_argument("--rate", type=float, default=5.0, help="chat lines a second")
    parser.add_argument("--seed", type=int, default=7,
                        help="chat mix, kills, and the LLM's sampling")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(30.0, 60.0),
                        metavar=("MIN_S", "MAX_S"), help="seconds between kills")
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS/CPU sampling period")
    parser.add_argument("--standins", action="store_true",
                        help="llm:=scripted tts:=tone instead of the bundled models")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME:=VALUE",
                        help="one more launch argument, e.g. banter_turns:=0 (repeatable)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep soak.json, samples and the show's log here")
    opts = parser.parse_args(argv)
    if opts.out:
        opts.out.mkdir(parents=True, exist_ok=True)
    # SIGTERM ends the run like Ctrl-C: the show is stopped on the way out
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="vt-soak-", dir="/tmp") as work:
        try:
            result = asyncio.run(soak(opts, Path(work)))
        except KeyboardInterrupt:
            log("interrupted: the show and everything the soak started are stopped")
            raise SystemExit(130) from None
    if opts.out:
        (opts.out / "soak.json").write_text(json.dumps(result, indent=1))
    return emit(result, opts.json, human)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
