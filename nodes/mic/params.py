"""The mic node's parameters (read without starting it: ``vtparam describe nodes.mic``).

All but ``wav`` are read at start: the device stream is opened once, so a change needs a
restart (``vtnode restart mic`` in a show). A ``wav`` set at run time plays from its start at
once, in place of the device or the WAV before it (``vtparam set mic wav /path/voice.wav``).
"""

from __future__ import annotations

from typing import Annotated

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    device: Annotated[str, at_start(
        "sound device index or name (`python -m sounddevice` lists them); '' the default "
        "input; 'pulse' PulseAudio")] = ""
    pulse_source: Annotated[str, at_start(
        "PulseAudio source to record (`pactl list short sources`), e.g. SINK.monitor; '' "
        "PulseAudio's default")] = ""
    wav: Annotated[str, live(
        "play this WAV file instead of a device; set at run time, it plays from its start at "
        "once (loop and speed as set at start)")] = ""
    loop: Annotated[bool, at_start("WAV: start again at its end")] = False
    speed: Annotated[float, at_start(
        "WAV pacing: 1.0 real time, 2.0 twice as fast, 0 as fast as possible", ge=0)] = 1.0
    frame_ms: Annotated[int, at_start("frame length in ms (32 ms = one Silero VAD chunk)",
                                      ge=20, le=32)] = 32
    wait_for_listener: Annotated[bool, at_start(
        "start capturing once another node subscribes to audio/mic")] = False
    optional: Annotated[bool, at_start(
        "no device: warn and stay idle instead of failing (the show's default: a machine "
        "without a microphone still runs)")] = False
