"""What waits to be played: sentences in order within a request, requests one after another.

A lane plays one request at a time, in the order the requests first arrived, each sentence in
index order; the next request starts only when the one before has played its final chunk
(or stalled: nothing arrived for ``stall_s`` while another waits). Frames are output frames
(already resampled); positions reported back are in the sentence's own samples.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Lane", "RequestAudio", "Segment", "SentenceAudio"]


@dataclass(frozen=True)
class Segment:
    """A stretch of one sentence inside an output block.

    ``offset`` and ``frames`` are output frames within the block; ``output_start`` is how many
    output frames of the sentence were played before ``offset``. ``ends`` says the sentence
    ends with this segment: played to the end (``finished``) or stopped (``cut``).
    """

    offset: int
    frames: int
    persona: str
    request_id: str
    sentence_index: int
    output_start: int
    source_rate: int
    output_rate: int
    text: str = ""
    ends: Literal["", "finished", "cut"] = ""

    def source_at(self, frame: int) -> int:
        """The sentence sample (at ``source_rate``) heard ``frame`` frames into this segment."""
        return round((self.output_start + frame) * self.source_rate / self.output_rate)

    @property
    def source_start(self) -> int:
        return self.source_at(0)


class SentenceAudio:
    """The buffered audio of one sentence."""

    def __init__(self, index: int, source_rate: int, output_rate: int):
        self.index = index
        self.source_rate = source_rate
        self.output_rate = output_rate
        self.text = ""
        self.blocks: deque[np.ndarray] = deque()
        self.played = 0
        """Output frames played so far."""
        self.complete = False
        """Its last chunk has arrived."""

    @property
    def buffered(self) -> int:
        return sum(len(b) for b in self.blocks)

    def take(self, frames: int) -> np.ndarray:
        """Up to ``frames`` buffered frames, removed from the buffer."""
        parts, wanted = [], frames
        while wanted > 0 and self.blocks:
            block = self.blocks[0]
            if len(block) <= wanted:
                parts.append(self.blocks.popleft())
                wanted -= len(block)
            else:
                parts.append(block[:wanted])
                self.blocks[0] = block[wanted:]
                wanted = 0
        taken = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        self.played += len(taken)
        return taken


class RequestAudio:
    """All the sentences of one request (one persona's reply)."""

    def __init__(self, request_id: str, persona: str, now: float):
        self.request_id = request_id
        self.persona = persona
        self.sentences: dict[int, SentenceAudio] = {}
        self.next_index = 0
        self.final_index: int | None = None
        self.last_arrival = now
        self.started = False

    def push(self, sentence_index: int, samples: np.ndarray, *, source_rate: int,
             output_rate: int, text: str, last: bool, final: bool, now: float) -> bool:
        """Buffer a chunk; False when it belongs to a sentence already played."""
        self.last_arrival = now
        if sentence_index < self.next_index:
            return False
        sentence = self.sentences.get(sentence_index)
        if sentence is None:
            sentence = self.sentences[sentence_index] = SentenceAudio(
                sentence_index, source_rate, output_rate)
        if text:
            sentence.text = text
        if len(samples):
            sentence.blocks.append(samples)
        sentence.complete = sentence.complete or last or final
        if final:
            self.final_index = sentence_index
        return True

    def current(self) -> SentenceAudio | None:
        """The sentence to play now; a missing index is skipped once a later one exists
        (the TTS sends sentences one after another, so a gap means a lost sentence)."""
        if self.next_index not in self.sentences:
            later = [i for i in self.sentences if i > self.next_index]
            if not later:
                return None
            self.next_index = min(later)
        return self.sentences[self.next_index]

    @property
    def done(self) -> bool:
        return self.final_index is not None and self.next_index > self.final_index

    def read(self, out: np.ndarray, offset: int) -> tuple[int, list[Segment]]:
        """Fill ``out[offset:]`` from this request; returns the frames written and segments."""
        segments: list[Segment] = []
        position = offset
        while position < len(out):
            sentence = self.current()
            if sentence is None:
                break
            start = sentence.played
            taken = sentence.take(len(out) - position)
            finished = sentence.complete and not sentence.blocks
            if len(taken) or finished:
                self.started = True
                out[position:position + len(taken)] = taken
                segments.append(Segment(
                    position, len(taken), self.persona, self.request_id, sentence.index, start,
                    sentence.source_rate, sentence.output_rate, sentence.text,
                    "finished" if finished else "",
                ))
                position += len(taken)
            if not finished:
                break
            del self.sentences[sentence.index]
            self.next_index = sentence.index + 1
            if self.done:
                break
        return position - offset, segments

    def cut(self, fade_frames: int) -> tuple[np.ndarray, Segment | None]:
        """Stop now: up to ``fade_frames`` more frames of the current sentence, faded to
        silence (no click), and the segment that says so; nothing if it never started."""
        sentence = self.current() if self.started else None
        if sentence is None:
            return np.zeros(0, np.float32), None
        start = sentence.played
        tail = sentence.take(fade_frames)
        tail = tail * np.linspace(1.0, 0.0, len(tail), dtype=np.float32)
        return tail, Segment(0, len(tail), self.persona, self.request_id, sentence.index, start,
                             sentence.source_rate, sentence.output_rate, sentence.text, "cut")


class Lane:
    """One output voice: requests played one at a time, oldest first."""

    def __init__(self, *, stall_s: float):
        self.stall_s = stall_s
        self.requests: OrderedDict[str, RequestAudio] = OrderedDict()
        self.stalled = 0
        self._fading: tuple[np.ndarray, Segment] | None = None

    def get(self, request_id: str, persona: str, now: float) -> RequestAudio:
        request = self.requests.get(request_id)
        if request is None:
            request = self.requests[request_id] = RequestAudio(request_id, persona, now)
        return request

    def cancel(self, request_id: str, fade_frames: int) -> bool:
        """Drop ``request_id`` (all requests when empty); the playing one fades out over
        ``fade_frames``. True if anything was dropped."""
        targets = [r for r in self.requests if not request_id or r == request_id]
        for target in targets:
            request = self.requests.pop(target)
            tail, segment = request.cut(fade_frames)
            if segment is not None:
                self._fading = (tail, segment)
        return bool(targets)

    def read(self, out: np.ndarray, now: float) -> list[Segment]:
        """Fill ``out`` (zeros where there is nothing to play); returns what was played."""
        segments: list[Segment] = []
        position = 0
        if self._fading is not None:
            tail, segment = self._fading
            self._fading = None
            count = min(len(tail), len(out))
            out[:count] = tail[:count]
            segments.append(segment)
            position = count
        while position < len(out) and self.requests:
            request = next(iter(self.requests.values()))
            written, played = request.read(out, position)
            segments.extend(played)
            position += written
            if request.done:
                del self.requests[request.request_id]
                continue
            if position < len(out):  # starved: wait for it, unless it stalled and others wait
                if len(self.requests) > 1 and now - request.last_arrival > self.stall_s:
                    del self.requests[request.request_id]
                    self.stalled += 1
                    continue
                break
        return segments
