"""The mic node as a process: a WAV file, and a real PulseAudio source (a null sink's monitor)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.audio import tone

from bus.errors import ParameterError
from bus.params import check_values
from bus.testing import NodeProcess, Probe
from messages.pcm import decode_mono
from messages.system import ParamSetRequest, SetParameters
from nodes.mic.params import Params
from nodes.mic.sources import write_wav


def dominant_hz(pcm: bytes) -> float:
    samples = decode_mono(pcm, "s16le", 1)  # audio/mic is 16 kHz mono s16le
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 16000)[np.argmax(spectrum)])


def start_looping_tone(start_node: Callable[..., NodeProcess], tmp_path: Path) -> NodeProcess:
    """The mic node playing a 0.1 s tone at 500 Hz (3 frames) in a loop, as fast as it can."""
    wav = write_wav(tmp_path / "short.wav", tone(500, 0.1, 16000), 16000)
    return start_node("nodes.mic", params={"wav": str(wav), "loop": True, "speed": 0.0,
                                           "wait_for_listener": True})


class TestWavInput:
    async def test_a_wav_file_becomes_16k_frames_stamped_in_order(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path
    ) -> None:
        wav = write_wav(tmp_path / "tone.wav", tone(1000, 0.5, 44100), 44100)
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            start_node("nodes.mic", params={"wav": str(wav), "frame_ms": 20, "speed": 4.0,
                                            "wait_for_listener": True})
            frames = await probe.wait_for("audio/mic", count=25)
        assert all(f.sample_rate == 16000 and len(f.pcm) == 640 for f in frames)
        stamps = [f.start_ns for f in frames]
        assert stamps == sorted(stamps)
        assert abs(dominant_hz(b"".join(f.pcm for f in frames[2:22])) - 1000) < 20

    async def test_loop_plays_the_file_again(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path
    ) -> None:
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            start_looping_tone(start_node, tmp_path)
            frames = await probe.wait_for("audio/mic", count=9)
        assert frames[0].pcm == frames[3].pcm == frames[6].pcm

    async def test_a_source_parameter_set_at_run_time_is_refused_with_the_restart(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path
    ) -> None:
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            start_looping_tone(start_node, tmp_path)
            await probe.wait_for("audio/mic", count=3)
            vtparam = [str(Path(sys.executable).parent / "vtparam"), "--bus", bus_url]
            refused = subprocess.run([*vtparam[:1], "set", "mic", "speed", "2", *vtparam[1:]],
                                     capture_output=True, text=True, timeout=30)
            kept = subprocess.run([*vtparam[:1], "get", "mic", "speed", *vtparam[1:]],
                                  capture_output=True, text=True, timeout=30)
        assert refused.returncode == 1
        assert ("mic refused speed=2: speed is read at start: restart the node with "
                "-p speed:=VALUE") in " ".join(refused.stderr.split())
        assert json.loads(kept.stdout)["value"] == 0.0

    async def test_a_wav_set_at_run_time_plays_at_once_from_its_start(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path
    ) -> None:
        # how a benchmark puts a voice into a running show at a moment it chooses
        voice = write_wav(tmp_path / "voice.wav", tone(1000, 0.5, 16000), 16000)
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            start_looping_tone(start_node, tmp_path)
            await probe.wait_for("audio/mic", count=3)
            client = probe.create_client(SetParameters, "mic/set_parameters")
            missing = await client.call(ParamSetRequest(
                values={"wav": str(tmp_path / "nope.wav")}), timeout=10)
            device = await client.call(ParamSetRequest(values={"wav": ""}), timeout=10)
            asked_ns = time.time_ns()
            played = await client.call(ParamSetRequest(values={"wav": str(voice)}), timeout=10)
            frames = await probe.wait_for("audio/mic", count=15,
                                          where=lambda f: f.source == "wav:voice.wav")
        assert not missing.successful and "nope.wav" in missing.reason
        assert not device.successful and "restart the node" in device.reason
        assert played.successful, played.reason
        # the new file from its first sample, stamped from the set on, at its own pitch
        assert frames[0].start_ns >= asked_ns
        assert np.allclose(decode_mono(frames[0].pcm, "s16le", 1), tone(1000, 0.5, 16000)[:512],
                           atol=3 / 32767)
        assert abs(dominant_hz(b"".join(f.pcm for f in frames)) - 1000) < 20

    def test_a_frame_length_out_of_range_is_refused_before_anything_starts(self) -> None:
        with pytest.raises(ParameterError, match=r"node mic: parameter 'frame_ms' expects int, "
                                                 r"got 40 \(Expected `int` <= 32\)"):
            check_values(Params, {"frame_ms": 40}, node="mic")

    async def test_a_wav_that_ends_says_so_once_and_the_node_idles(
        self, bus_url: str, tmp_path: Path
    ) -> None:
        # a show's mic_wav plays once: the node stays up (an exit would be restarted by
        # supervisord, replaying the file in a loop), quietly: one info line, no traceback
        wav = write_wav(tmp_path / "short.wav", tone(440, 0.2, 16000), 16000)
        node = NodeProcess("nodes.mic", bus_url, params={"wav": str(wav), "speed": 0.0,
                                                         "wait_for_listener": True})
        log = tmp_path / "mic.log"
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            with log.open("wb") as stderr:
                proc = subprocess.Popen(node.cmd, env=node.env, stderr=stderr)
                try:
                    await probe.wait_for("audio/mic", count=6, timeout=30)
                    deadline = time.monotonic() + 30
                    while "ended" not in log.read_text() and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    await probe.wait_for_node("mic")  # still on the bus after the end
                    alive = proc.poll() is None
                finally:
                    proc.terminate()
                    proc.wait(10)
        lines = log.read_text().splitlines()
        assert [line.split(" ", 2)[2] for line in lines] == [
            "INFO mic: capturing from wav:short.wav, 512-sample frames",
            "INFO mic: wav:short.wav ended"]
        assert alive
        assert len(probe.messages("audio/mic")) == 6  # 0.2 s: six whole 32 ms frames

    async def test_a_missing_file_fails_the_node_with_its_path(
        self, bus_url: str, start_node: Callable[..., NodeProcess], tmp_path: Path
    ) -> None:
        node = start_node("nodes.mic", params={"wav": str(tmp_path / "nope.wav")})
        assert node.proc is not None
        assert node.proc.wait(30) != 0


@pytest.fixture
def pulse_server() -> Iterator[str]:
    """A private PulseAudio daemon with one null sink, ``vtsink``; yields PULSE_SERVER."""
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.skip("needs pulseaudio and pulseaudio-utils (apt-get install)")
    folder = Path(tempfile.mkdtemp(prefix="vt-pa-", dir="/tmp"))
    server = f"unix:{folder}/native"
    env = {**os.environ, "HOME": str(folder), "PULSE_RUNTIME_PATH": str(folder / "run")}
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         f"--load=module-native-protocol-unix socket={folder}/native auth-anonymous=1",
         "--load=module-null-sink sink_name=vtsink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "-s", server, "info"], capture_output=True,
                             env=env).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip("pulseaudio did not start here")
            time.sleep(0.1)
        yield server
    finally:
        daemon.terminate()
        daemon.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


class TestPulseAudioInput:
    async def test_captures_what_plays_into_a_sink(
        self, bus_url: str, start_node: Callable[..., NodeProcess], pulse_server: str,
        tmp_path: Path
    ) -> None:
        wav = write_wav(tmp_path / "tone.wav", tone(440, 3.0, 22050), 22050)
        env = {"PULSE_SERVER": pulse_server}
        async with Probe(bus_url) as probe:
            probe.collect("audio/mic")
            start_node("nodes.mic", params={"device": "pulse", "pulse_source": "vtsink.monitor"},
                       env=env)
            await probe.wait_for("audio/mic", count=5, timeout=20)
            player = subprocess.Popen(["paplay", "-s", pulse_server, "-d", "vtsink", str(wav)])
            try:
                await probe.wait_for("audio/mic", timeout=10,
                                     where=lambda f: dominant_hz(f.pcm) == pytest.approx(440,
                                                                                       abs=40))
            finally:
                player.wait(20)
            frames = probe.messages("audio/mic")
        assert all(len(f.pcm) == 1024 and f.sample_rate == 16000 for f in frames)
        assert frames[0].source == "device:pulse (vtsink.monitor)"


async def test_optional_mic_without_a_device_stays_up_and_says_why(
    bus_url: str, start_node: Callable[..., NodeProcess]
) -> None:
    # a machine with no microphone still runs the show: the node warns and idles
    mic = start_node("nodes.mic", params={"device": "no such device", "optional": True})
    async with Probe(bus_url) as probe:
        probe.collect("system/log")
        await probe.wait_for_node("mic")
        (warning,) = await probe.wait_for("system/log", where=lambda e: e.node == "mic")
        assert "no microphone" in warning.message and "device" in warning.message
        assert mic.proc is not None and mic.proc.poll() is None
