"""benchmarks/e2e.py's barge-in figures from a bag: each voice played into the mic is paired
with the first VAD start and the first cut after its onset; a voice that came after the persona
had finished cut nothing and is counted apart, not paired with a later cut."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# benchmarks/ is a folder of scripts: the repo goes first so `benchmarks.e2e` imports
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.e2e import barge_in_heard
from bus.bag import BagMessage
from messages.audio import Playhead
from messages.base import Header
from messages.speech import VadEvent

MS = 1_000_000


def recorded(topic: str, msg: Any, stamp_ns: int) -> BagMessage:
    header = Header(publisher="x", seq=0, stamp_ns=stamp_ns, type="t")
    return BagMessage(topic, header, msg, b"", b"", stamp_ns)


def vad_start(onset_ns: int, published_ns: int) -> BagMessage:
    return recorded("speech/vad", VadEvent(event="start", utterance_id="u", audio_ns=onset_ns),
                    published_ns)


def cut(audible_ns: int, published_ns: int) -> BagMessage:
    return recorded("audio/playhead", Playhead(persona="mika", request_id="r", sentence_index=0,
                                               sample=100, sample_rate=24000, state="cut",
                                               audible_ns=audible_ns), published_ns)


def test_each_voice_is_timed_to_its_own_start_and_cut_and_a_miss_is_counted() -> None:
    first, second, third = 10_000 * MS, 20_000 * MS, 30_000 * MS
    bag = [
        vad_start(first - 20 * MS, first + 70 * MS), cut(first + 90 * MS, first + 80 * MS),
        # the persona had finished: the voice starts speech but cuts nothing
        vad_start(second + 10 * MS, second + 95 * MS),
        vad_start(third + 5 * MS, third + 60 * MS), cut(third + 75 * MS, third + 70 * MS),
    ]
    got = barge_in_heard(bag, [first, second, third])
    assert got["barge_ins"] == 3 and got["barge_ins_cut"] == 2
    assert got["barge_in_vad_ms_all"] == [70.0, 95.0, 60.0]
    assert got["barge_in_heard_ms_all"] == [90.0, 75.0]
    assert got["barge_in_heard_ms"] == 82.5


def test_no_voice_no_figures() -> None:
    assert barge_in_heard([cut(5, 5)], []) == {}
