"""The stt node's wiring, driven through NodeHarness (no sockets): the transcript-level echo
check, bad reference input, run-time parameters, and a recogniser plugged in by a test."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import numpy as np
import pytest

from bus.errors import ParameterError, PluginError
from bus.node import NodeOptions
from bus.testing import NodeHarness, wait_until
from messages.audio import AudioChunk, AudioFrame, Playhead
from nodes.stt.backends import RECOGNISERS
from nodes.stt.node import SttNode
from nodes.stt.streaming import RecognisedWord, Recognition
from nodes.stt.testing import Scene, persona_says, piper

pytestmark = pytest.mark.slow  # loads Whisper, synthesises with Piper

T0 = 1_700_000_000_000_000_000
LINE = "Chat, tell me which level you want us to try first."


def harness(**params: object) -> NodeHarness:
    return NodeHarness(SttNode(options=NodeOptions(bus="ipc:///tmp/vt-unused",
                                                   parameters=params)))


def feed_wav(h: NodeHarness, audio: np.ndarray, *, after_s: float = 0.0) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    t0 = T0 + int(after_s * 1e9)
    for n, i in enumerate(range(0, len(pcm) - 1023, 1024)):
        h.feed("audio/mic", AudioFrame(pcm=pcm[i: i + 1024], start_ns=t0 + n * 32_000_000))


class TestEchoTranscripts:
    async def test_an_echo_that_beats_the_gate_is_not_transcribed(self) -> None:
        # the gate is turned off (-60 dB margins), so only the transcript check is left
        h = harness(echo_margin_db=-60.0)
        scene = Scene(seed=2).silence(0.5)
        spoken = persona_says(scene, LINE, 0.5, gain=0.5)
        scene.silence(1.0).noise(0.003)
        h.feed("tts/audio", AudioChunk(
            persona="joe", request_id="r", sentence_index=0, chunk_index=0, text=LINE,
            pcm=(spoken.samples * 32767).astype("<i2").tobytes(), sample_rate=spoken.rate,
            last=True))
        h.feed("audio/playhead", Playhead(persona="joe", request_id="r", sentence_index=0,
                                          sample=0, sample_rate=spoken.rate, state="finished",
                                          audible_ns=T0 + 500_000_000))
        await h.node.start()
        try:
            feed_wav(h, scene.audio)
            await wait_until(lambda: h.node.counters["echo_transcripts"], 60,
                             what="the echo's transcript to be dropped")
            # the utterance still ends, with no words: the director need not wait for any
            (final,) = await wait_until(lambda: h.messages("speech/final"), 10,
                                        what="the utterance's final")
        finally:
            await h.node.close()
        start, end = h.messages("speech/vad")
        assert (start.event, end.event) == ("start", "end")  # no gate
        assert (final.utterance_id, final.text, final.final) == (start.utterance_id, "", True)


class TestBadReference:
    async def test_bad_reference_messages_are_counted_and_dropped(self) -> None:
        h = harness()
        try:
            h.feed("tts/audio", AudioChunk(persona="joe", request_id="r", sentence_index=0,
                                           chunk_index=0, pcm=b"\0\0", sample_rate=0))
            h.feed("tts/audio", AudioChunk(persona="joe", request_id="r", sentence_index=0,
                                           chunk_index=0, pcm=b"\0\0" * 3, sample_rate=22050,
                                           channels=2))  # a frame and a half
            h.feed("audio/playhead", Playhead(persona="joe", request_id="r", sentence_index=0,
                                              sample=0, sample_rate=0))
            h.feed("audio/mic", AudioFrame(pcm=b"\0\0\0"))
            assert h.node.counters["bad_input"] == 4
            assert h.node.counters["callback_errors"] == 0
        finally:
            await h.node.close()

    async def test_reference_in_any_format_is_heard_alike(self) -> None:
        # the same tone as f32le stereo and as s16le mono: the same echo reference
        tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
        chunks = {"f32": (np.repeat(tone, 2).astype("<f4"), "f32le", 2),
                  "s16": ((tone * 32768).astype("<i2"), "s16le", 1)}
        h = harness()
        try:
            for request_id, (samples, sample_format, channels) in chunks.items():
                h.feed("tts/audio", AudioChunk(
                    persona="joe", request_id=request_id, sentence_index=0, chunk_index=0,
                    pcm=samples.tobytes(), sample_rate=22050, channels=channels,
                    format=sample_format, last=True))
            assert h.node.counters["bad_input"] == 0
            peaks = []
            for request_id, start_ns in (("f32", T0), ("s16", T0 + 5_000_000_000)):
                h.feed("audio/playhead", Playhead(
                    persona="joe", request_id=request_id, sentence_index=0, sample=0,
                    sample_rate=22050, state="finished", audible_ns=start_ns))
                peaks.append(h.node.reference.peak(start_ns + 200_000_000,
                                                   start_ns + 300_000_000))
            assert peaks[0] == pytest.approx(0.5**2 / 2, rel=0.1)
            assert peaks[0] == pytest.approx(peaks[1], rel=1e-3)
        finally:
            await h.node.close()


class CannedSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: str = "canned words"


class CannedRecogniser:
    """A recogniser written outside nodes/stt: the same words for any speech. Plugging it in
    takes this class and one registry line (the ``canned`` fixture)."""

    Settings = CannedSettings

    def __init__(self, settings: CannedSettings):
        self.settings = settings
        self.jobs: list[tuple[float, bool]] = []
        """(seconds of audio, final) of every transcription asked for."""

    async def transcribe(self, audio: np.ndarray, *, final: bool) -> Recognition:
        self.jobs.append((len(audio) / 16000, final))
        words = tuple(RecognisedWord(w, 0.1 * i, 0.1 * i + 0.1)
                      for i, w in enumerate(self.settings.text.split()))
        return Recognition(self.settings.text, words if final else ())


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(RECOGNISERS.entries, "canned", f"{__name__}:CannedRecogniser")
    yield


@pytest.fixture(scope="module")
def sentence() -> Scene:
    """One Piper sentence of about three seconds, between silences."""
    scene = Scene(seed=6).silence(0.6)
    return scene.say(piper(LINE), LINE, "piper").silence(1.2).noise(0.003)


def vad_starts(h: NodeHarness) -> int:
    return sum(e.event == "start" for e in h.messages("speech/vad"))


@pytest.mark.usefixtures("canned")
class TestPluggedInRecogniser:
    async def test_the_node_transcribes_with_a_kind_added_by_one_registry_line(
        self, sentence: Scene
    ) -> None:
        h = harness(recogniser="canned",
                    backend_settings={"canned": {"text": "hello from a plug-in"}})
        await h.node.start()
        try:
            feed_wav(h, sentence.audio)
            (final,) = await wait_until(lambda: h.messages("speech/final"), 30,
                                        what="the plug-in's final")
        finally:
            await h.node.close()
        (start, end) = h.messages("speech/vad")
        assert final.utterance_id == start.utterance_id == end.utterance_id
        assert (final.text, final.final) == ("hello from a plug-in", True)
        assert [w.text for w in final.words] == ["hello", "from", "a", "plug-in"]
        assert isinstance(h.node.recogniser, CannedRecogniser)
        spoken_s = sentence.placed[0].end_s - sentence.placed[0].start_s
        assert [final for _, final in h.node.recogniser.jobs] == [True]
        assert h.node.recogniser.jobs[0][0] >= spoken_s  # the whole sentence, with pre-roll

    def test_its_settings_are_checked_by_its_own_struct(self) -> None:
        with pytest.raises(PluginError, match=r"STT recogniser 'canned' settings: Object "
                                              r"contains unknown field `txt`"):
            harness(recogniser="canned", backend_settings={"canned": {"txt": "typo"}})

    def test_an_enrolment_that_cannot_be_read_names_the_parameter(self) -> None:
        with pytest.raises(ParameterError, match=r"stt: cannot enrol sam from enrol_wav "
                                                 r"/nope\.wav: .*No such file"):
            harness(recogniser="canned", enrol_wav="/nope.wav", speaker_name="sam")

    def test_an_unknown_kind_is_refused_with_the_known_ones(self) -> None:
        with pytest.raises(PluginError, match=r"unknown STT recogniser 'nope'; known: "
                                              r"whisper, canned"):
            harness(recogniser="nope")


@pytest.mark.usefixtures("canned")
class TestRunTimeParameters:
    async def test_a_shorter_max_utterance_cuts_the_same_speech_from_then_on(
        self, sentence: Scene
    ) -> None:
        h = harness(recogniser="canned")
        try:
            feed_wav(h, sentence.audio)
            assert vad_starts(h) == 1
            reply = await h.set_parameters(max_utterance_s=1.0)
            assert reply.successful, reply.reason
            feed_wav(h, sentence.audio, after_s=sentence.duration_s)
            assert vad_starts(h) - 1 >= 3  # about three seconds of speech, cut every second
        finally:
            await h.node.close()

    async def test_a_model_parameter_is_refused_with_the_restart(self) -> None:
        h = harness(recogniser="canned")
        try:
            reply = await h.set_parameters(model_path="/models/large-v3")
        finally:
            await h.node.close()
        assert not reply.successful
        assert reply.reason.startswith("model_path is read at start: restart the node with "
                                       "-p model_path:=VALUE")
        assert h.node.params.model_path == ""

    async def test_thresholds_that_do_not_fit_together_are_refused(self) -> None:
        h = harness(recogniser="canned")
        try:
            reply = await h.set_parameters(end_threshold=0.6)
        finally:
            await h.node.close()
        assert not reply.successful
        assert "0 < end_threshold <= start_threshold < 1" in reply.reason
        assert h.node.params.end_threshold == 0.35
        assert h.node.segmenter.vad.settings.end_threshold == 0.35
