"""Publishes what the microphone hears on ``audio/mic``: 16 kHz mono s16le frames of 20-32 ms."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec

from bus.errors import ParameterError
from bus.node import Node, NodeOptions
from messages.audio import AudioFrame
from nodes.mic.params import Params
from nodes.mic.sources import DeviceSource, FrameSource, WavSource

SAMPLE_RATE = 16000


class MicNode(Node):
    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("mic", options=options)
        self.params = self.declare_parameters(Params)
        self.frame_samples = SAMPLE_RATE * self.params.frame_ms // 1000
        self.pub = self.create_publisher(AudioFrame, "audio/mic")
        self.source: FrameSource | None = self._open_source(self.params)
        self._capturing: asyncio.Task[None] | None = None
        if self.source is not None:
            self.log.info("capturing from %s, %d-sample frames", self.source.name,
                          self.frame_samples)
        self.add_on_set_parameters_callback(self._apply)

    def _open_source(self, params: Params) -> FrameSource | None:
        try:
            if params.wav:
                return WavSource(params.wav, frame_samples=self.frame_samples,
                                 sample_rate=SAMPLE_RATE, loop=params.loop, speed=params.speed)
            return DeviceSource(params.device, pulse_source=params.pulse_source,
                                frame_samples=self.frame_samples, sample_rate=SAMPLE_RATE)
        except Exception as exc:  # missing file, bad WAV, no such device, PortAudioError
            what = f"wav {params.wav}" if params.wav else f"device {params.device or 'default'}"
            if params.optional and not params.wav:
                self.log.warning("no microphone (%s: %s): the collaborator cannot be heard; "
                                 "set the mic's device parameter to choose one", what, exc)
                return None
            raise ParameterError(f"mic: cannot open {what}: {exc}") from None

    def _apply(self, changes: dict[str, Any]) -> tuple[bool, str] | None:
        """A ``wav`` set at run time plays from its start at once, in place of what was
        captured: how a rehearsal or a benchmark puts a voice into a running show at the
        moment it chooses (a restart takes seconds, and costs the show its mic meanwhile)."""
        if "wav" not in changes:
            return None
        new = msgspec.structs.replace(self.params, **changes)
        if not new.wav:
            return False, ("mic: wav can change at run time to another file, not to '' (the "
                           "device is opened at start: restart the node with -p wav:=)")
        try:
            source = WavSource(new.wav, frame_samples=self.frame_samples,
                               sample_rate=SAMPLE_RATE, loop=new.loop, speed=new.speed)
        except Exception as exc:  # missing file, bad WAV: the current source goes on
            return False, f"mic: cannot open wav {new.wav}: {exc}"
        if self._capturing is not None:
            self._capturing.cancel()
        if self.source is not None:
            self.source.close()
        self.source = source
        self.log.info("capturing from %s, %d-sample frames", source.name, self.frame_samples)
        self._capturing = self.create_task(self._capture(source, wait=False), "capture")
        return None

    async def on_start(self) -> None:
        if self.source is not None:
            self._capturing = self.create_task(
                self._capture(self.source, wait=self.params.wait_for_listener), "capture")

    async def _capture(self, source: FrameSource, *, wait: bool) -> None:
        if wait:
            await self._listener_joined()
        try:
            async for frame in source.frames():
                self.pub.publish(AudioFrame(pcm=frame.pcm, sample_rate=SAMPLE_RATE,
                                            source=source.name, start_ns=frame.start_ns))
        except Exception as exc:  # a device that vanished: say so loudly, the node stays up
            self.log.error("capture from %s failed: %s: %s", source.name,
                           type(exc).__name__, exc)
            return
        self.log.info("%s ended", source.name)

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

    async def on_shutdown(self) -> None:  # the capture task is cancelled by close()
        if self.source is not None:
            self.source.close()
