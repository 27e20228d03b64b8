"""Publishes what the microphone hears on ``audio/mic``: 16 kHz mono s16le frames of 20-32 ms."""

from __future__ import annotations

import asyncio
import contextlib

from bus.errors import ParameterError
from bus.node import Node, NodeOptions
from messages.audio import AudioFrame
from nodes.mic.sources import DeviceSource, FrameSource, WavSource

SAMPLE_RATE = 16000


class MicNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("mic", options=options)
        self.device = self.declare_parameter(
            "device", "", "sound device index or name ('' default input, 'pulse' PulseAudio)")
        self.pulse_source = self.declare_parameter(
            "pulse_source", "", "PulseAudio source to record, e.g. a sink's NAME.monitor")
        self.wav = self.declare_parameter("wav", "", "play this WAV file instead of a device")
        self.loop = self.declare_parameter("loop", False, "start the WAV file again at its end")
        self.speed = self.declare_parameter(
            "speed", 1.0, "WAV pacing: 1.0 real time, 2.0 twice as fast, 0 as fast as possible")
        self.wait_for_listener = self.declare_parameter(
            "wait_for_listener", False, "start capturing once a node subscribes to audio/mic")
        self.optional = self.declare_parameter(
            "optional", False, "no device: warn and stay idle instead of failing (the show's "
            "default: a machine without a microphone still runs)")
        frame_ms = self.declare_parameter("frame_ms", 32, "frame length in ms (20-32)")
        if not 20 <= frame_ms <= 32:
            raise ParameterError(f"mic: frame_ms must be 20-32 ms, got {frame_ms}")
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self.pub = self.create_publisher(AudioFrame, "audio/mic")
        self.source: FrameSource | None = self._open_source()
        if self.source is not None:
            self.log.info("capturing from %s, %d-sample frames", self.source.name,
                          self.frame_samples)
        self._task: asyncio.Task[None] | None = None

    def _open_source(self) -> FrameSource | None:
        try:
            if self.wav:
                return WavSource(self.wav, frame_samples=self.frame_samples,
                                 sample_rate=SAMPLE_RATE, loop=self.loop, speed=self.speed)
            return DeviceSource(self.device, pulse_source=self.pulse_source,
                                frame_samples=self.frame_samples, sample_rate=SAMPLE_RATE)
        except Exception as exc:  # missing file, bad WAV, no such device, PortAudioError
            what = f"wav {self.wav}" if self.wav else f"device {self.device or 'default'}"
            if self.optional and not self.wav:
                self.log.warning("no microphone (%s: %s): the collaborator cannot be heard; "
                                 "set the mic's device parameter to choose one", what, exc)
                return None
            raise ParameterError(f"mic: cannot open {what}: {exc}") from None

    async def start(self) -> None:
        first = self._loop is None
        await super().start()
        if first:
            self._task = asyncio.get_running_loop().create_task(self._capture())

    async def _capture(self) -> None:
        if self.source is None:
            return
        if self.wait_for_listener:
            await self._listener_joined()
        try:
            async for frame in self.source.frames():
                self.pub.publish(AudioFrame(pcm=frame.pcm, sample_rate=SAMPLE_RATE,
                                            source=self.source.name, start_ns=frame.start_ns))
        except Exception as exc:  # a device that vanished: say so loudly, the node stays up
            self.log.error("capture from %s failed: %s: %s", self.source.name,
                           type(exc).__name__, exc)
            return
        self.log.info("%s ended", self.source.name)

    async def _listener_joined(self) -> None:
        """Return once another node subscribes to our topic (a WAV played to nobody is lost)."""
        topic = self.pub.topic
        while True:
            with contextlib.suppress(TimeoutError):
                graph = await self.graph(timeout=0.5)
                listed = any(status.info.name != self.name
                             and any(sub.name == topic for sub in status.info.subscriptions)
                             for status in graph.nodes)
                # the subscription itself travels separately (through vtbus's forwarder)
                if listed and await self.pub.wait_for_subscribers(timeout=5.0):
                    return
            await asyncio.sleep(0.05)

    async def on_shutdown(self) -> None:
        if self.source is not None:
            self.source.close()
        if self._task is not None:
            self._task.cancel()
