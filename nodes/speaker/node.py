"""The speaker node: plays ``tts/audio`` and publishes ``audio/playhead``.

It owns the audio output: a sound device (a PulseAudio sink for OBS included) or, when there
is none, WAV files in the run folder. Chunks are resampled to the output rate as they arrive;
the mixer keeps the personas from talking over each other; ``llm/cancel`` and
``audio/control`` stop fade the sound out within one block plus ``fade_ms``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bus.errors import PcmError
from bus.node import Node, NodeOptions
from messages.audio import AudioChunk, Playhead, SpeakerControl
from messages.llm import Cancel
from messages.pcm import decode_mono
from nodes.speaker.mixer import Block, Mixer
from nodes.speaker.params import Params
from nodes.speaker.playback import AudioOutput, OutputError, SoundDeviceOutput, WavOutput
from nodes.speaker.resample import StreamResampler
from nodes.speaker.timeline import Timeline

__all__ = ["SpeakerNode"]

WAV_DEVICES = ("none", "wav")
MAX_STREAMS = 256
"""Sentences resampled at once (each closed by its last chunk; a sender that never sends
one must not grow the node)."""


class SpeakerNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("speaker", options=options)
        self.params = self.declare_parameters(Params)
        self.mixer = Mixer(self.params.sample_rate, overlap=self.params.overlap,
                           stall_s=self.params.stall_s, fade_ms=self.params.fade_ms)
        self.timeline = Timeline(self.params.sample_rate)
        self.output: AudioOutput | None = None
        self._resamplers: dict[tuple[str, int], StreamResampler] = {}
        self.playhead = self.create_publisher(Playhead, "audio/playhead")
        self.create_subscription(AudioChunk, "tts/audio", self.on_chunk)
        self.create_subscription(Cancel, "llm/cancel", self.on_cancel)
        self.create_subscription(SpeakerControl, "audio/control", self.on_control)
        self.playhead_timer = self.create_timer(self.params.playhead_ms / 1000,
                                                self.publish_playhead)
        self.add_on_set_parameters_callback(self.on_set)

    def on_set(self, changes: dict[str, Any]) -> None:
        """The mixer plays and the playhead ticks as set from now on."""
        self.mixer.configure(overlap=changes.get("overlap"), stall_s=changes.get("stall_s"),
                             fade_ms=changes.get("fade_ms"))
        if "playhead_ms" in changes:
            self.playhead_timer.set_period(changes["playhead_ms"] / 1000)

    async def on_start(self) -> None:
        self.output = self._open_output()
        loop = asyncio.get_running_loop()

        def report(audible_ns: int, block: Block) -> None:
            if block.segments:
                loop.call_soon_threadsafe(self.timeline.add, audible_ns, block.segments)

        try:
            self.output.start(self._pull, report)
        except OutputError as exc:  # listed, but would not open (e.g. no PulseAudio running)
            self.log.warning("%s: writing WAV files instead", exc)
            self.output = self._wav_output()
            self.output.start(self._pull, report)
        self.log.info("playing on %s at %d Hz, latency %.1f ms", self.output.description,
                      self.params.sample_rate, self.output.latency_s * 1000)

    def _block_frames(self) -> int:
        return max(1, int(self.params.sample_rate * self.params.block_ms / 1000))

    def _open_output(self) -> AudioOutput:
        p = self.params
        if p.device not in WAV_DEVICES:
            try:
                return SoundDeviceOutput(
                    p.device, sample_rate=p.sample_rate, channels=p.channels,
                    block_frames=self._block_frames(), pulse_sink=p.pulse_sink,
                    latency=p.latency_ms / 1000 if p.latency_ms > 0 else "low",
                )
            except OutputError as exc:
                self.log.warning("no sound device (%s): writing WAV files instead", exc)
        return self._wav_output()

    def _wav_output(self) -> WavOutput:
        return WavOutput(self._wav_folder(), sample_rate=self.params.sample_rate,
                         block_frames=self._block_frames())

    def _wav_folder(self) -> Path:
        base = self.params.run_dir or os.environ.get("VT_RUN_DIR", "")
        if not base:
            base = str(self.address.folder) if self.address.folder else "."
        return Path(base) / "speaker"

    def _pull(self, frames: int) -> Block:
        return self.mixer.read(frames, time.monotonic())

    # ------------------------------------------------------------ callbacks

    def on_chunk(self, chunk: AudioChunk) -> None:
        if chunk.sample_rate <= 0:
            self.report_bad_input(chunk.persona, "tts/audio",
                                  f"unsupported audio: a sample rate of {chunk.sample_rate} Hz")
            return
        try:  # any format and channel count: the mixer plays mono float (mixed down here)
            samples = decode_mono(chunk.pcm, chunk.format, chunk.channels)
        except PcmError as exc:
            self.report_bad_input(chunk.persona, "tts/audio", f"unsupported audio: {exc}")
            return
        key = (chunk.request_id, chunk.sentence_index)
        resampler = self._resamplers.get(key)
        if resampler is None:
            resampler = self._resamplers[key] = StreamResampler(chunk.sample_rate,
                                                                self.params.sample_rate)
            if len(self._resamplers) > MAX_STREAMS:  # keyed by outside input: bounded
                del self._resamplers[next(iter(self._resamplers))]
        accepted = self.mixer.push(
            persona=chunk.persona, request_id=chunk.request_id,
            sentence_index=chunk.sentence_index, samples=resampler.process(samples),
            source_rate=chunk.sample_rate, text=chunk.text, last=chunk.last, final=chunk.final,
            now=time.monotonic(),
        )
        if not accepted:
            self.counters["late_chunks"] += 1
        if chunk.last or chunk.final or not accepted:
            self._resamplers.pop(key, None)

    def on_cancel(self, cancel: Cancel) -> None:
        self.stop(cancel.request_id)

    def on_control(self, control: SpeakerControl) -> None:
        if control.action == "stop":
            self.stop(control.request_id)
        else:
            self.mixer.paused = control.action == "pause"

    def stop(self, request_id: str) -> None:
        if self.mixer.cancel(request_id):
            self.counters["stopped"] += 1
        for key in [k for k in self._resamplers if request_id in ("", k[0])]:
            del self._resamplers[key]

    def publish_playhead(self) -> None:
        if self.output is not None and self.output.underflows:
            self.counters["underflows"] = self.output.underflows
        for heard in self.timeline.poll(time.time_ns()):
            self.playhead.publish(Playhead(
                persona=heard.persona, request_id=heard.request_id,
                sentence_index=heard.sentence_index, sample=heard.sample,
                sample_rate=heard.sample_rate, state=heard.state, text=heard.text,
                audible_ns=heard.audible_ns,
            ))

    async def on_shutdown(self) -> None:
        if self.output is not None:
            self.output.close()
