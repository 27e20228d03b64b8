"""The mixer: what the output device pulls, block by block, from the audio thread.

By default one lane plays everything, so the two personas never talk over each other; with
``overlap`` each persona gets its own lane and the lanes are summed. Every method takes the
lock: chunks arrive on the event loop while the device callback reads. `Mixer.configure`
changes how it plays while it plays (a run-time parameter set).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from nodes.speaker.queue import Lane, Segment

__all__ = ["Block", "Mixer"]


@dataclass
class Block:
    """``samples`` (float32, mono, output rate) and the sentence stretches inside them."""

    samples: np.ndarray
    segments: list[Segment] = field(default_factory=list)


class Mixer:
    """Buffers chunks per request and mixes the lanes into output blocks."""

    def __init__(self, output_rate: int, *, overlap: bool = False, stall_s: float = 5.0,
                 fade_ms: float = 5.0):
        self.output_rate = output_rate
        self.overlap = overlap
        self.stall_s = stall_s
        self.fade_ms = fade_ms
        self.paused = False
        self.late_chunks = 0
        """Chunks of sentences already played or requests already cancelled."""
        self._lanes: dict[str, Lane] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    @property
    def fade_frames(self) -> int:
        return max(1, int(self.output_rate * self.fade_ms / 1000))

    def configure(self, *, overlap: bool | None = None, stall_s: float | None = None,
                  fade_ms: float | None = None) -> None:
        """Play differently from now on: a reply already buffered stays in its lane when
        ``overlap`` changes (the replies that start after it follow the new setting);
        ``stall_s`` and ``fade_ms`` apply at once."""
        with self._lock:
            if overlap is not None:
                self.overlap = overlap
            if stall_s is not None:
                self.stall_s = stall_s
                for lane in self._lanes.values():
                    lane.stall_s = stall_s
            if fade_ms is not None:
                self.fade_ms = fade_ms

    def push(self, *, persona: str, request_id: str, sentence_index: int, samples: np.ndarray,
             source_rate: int, text: str, last: bool, final: bool, now: float) -> bool:
        """Buffer one chunk (``samples`` already at the output rate); False if it is late."""
        with self._lock:
            if request_id in self._cancelled:
                self.late_chunks += 1
                return False
            lane = self._lane(persona, request_id)
            request = lane.get(request_id, persona, now)
            accepted = request.push(sentence_index, samples, source_rate=source_rate,
                                    output_rate=self.output_rate, text=text, last=last,
                                    final=final, now=now)
            if not accepted:
                self.late_chunks += 1
            return accepted

    def cancel(self, request_id: str = "") -> bool:
        """Silence ``request_id`` (everything when empty) within one fade; later chunks of
        it are refused. True if anything was playing or queued."""
        with self._lock:
            if request_id:
                self._cancelled.add(request_id)
                if len(self._cancelled) > 4096:
                    self._cancelled.clear()
            dropped = [lane.cancel(request_id, self.fade_frames) for lane in self._lanes.values()]
            return any(dropped)

    def read(self, frames: int, now: float) -> Block:
        """The next ``frames`` output frames."""
        block = Block(np.zeros(frames, np.float32))
        with self._lock:
            if self.paused:
                return block
            lane_out = np.zeros(frames, np.float32)
            for lane in self._lanes.values():
                lane_out.fill(0.0)
                block.segments.extend(lane.read(lane_out, now))
                block.samples += lane_out
            summed = len(self._lanes) > 1
        if summed:
            np.clip(block.samples, -1.0, 1.0, out=block.samples)
        return block

    def busy(self) -> bool:
        with self._lock:
            return any(lane.requests for lane in self._lanes.values())

    @property
    def stalled(self) -> int:
        return sum(lane.stalled for lane in self._lanes.values())

    def _lane(self, persona: str, request_id: str) -> Lane:
        for started_in in self._lanes.values():  # a reply stays where it started
            if request_id in started_in.requests:
                return started_in
        key = persona if self.overlap else ""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(stall_s=self.stall_s)
        return lane
