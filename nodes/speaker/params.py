"""The speaker node's parameters. The output stream is opened once, so what it is opened with
is read at start; how the mixer plays (overlap, fades, stalls) and the playhead's period
are applied on a set."""

from __future__ import annotations

from typing import Annotated

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    device: Annotated[str, at_start(
        "PortAudio device name or index ('' default; 'wav' or 'none': files)")] = ""
    pulse_sink: Annotated[str, at_start(
        "PulseAudio sink to play into (e.g. an OBS null sink)")] = ""
    sample_rate: Annotated[int, at_start("output rate, Hz", ge=8000, le=384_000)] = 48000
    channels: Annotated[int, at_start("output channels (mono copied)", ge=1, le=32)] = 1
    block_ms: Annotated[float, at_start("audio per device callback, ms", gt=0, le=1000)] = 10.0
    latency_ms: Annotated[float, at_start(
        "device latency asked of PortAudio, ms (0: its low default)", ge=0, le=2000)] = 20.0
    run_dir: Annotated[str, at_start(
        "folder for WAV output ('' : $VT_RUN_DIR, else the bus folder)")] = ""
    overlap: Annotated[bool, live(
        "let the personas speak at once (mixed) instead of in turn; a set applies to the "
        "replies that start after it")] = False
    fade_ms: Annotated[float, live("fade-out when stopped, ms", ge=0, le=1000)] = 5.0
    stall_s: Annotated[float, live(
        "a reply with no audio for this long gives way to the next, s", gt=0)] = 5.0
    playhead_ms: Annotated[float, live("playhead period, ms", gt=0, le=10_000)] = 20.0
