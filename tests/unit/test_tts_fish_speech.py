"""The Fish Speech backend against a loopback stand-in of its HTTP API server.

The stand-in follows ``tools/server/views.py`` and ``fish_speech/utils/schema.py`` of
fishaudio/fish-speech: ``POST /v1/tts`` takes a MessagePack ``ServeTTSRequest``; with
``streaming`` (WAV only, else 400) it answers a WAV header with a zero data size and then
16-bit PCM segments, chunked; without, one whole WAV. ``GET /v1/health`` answers
``{"status": "ok"}``. A real Fish Speech server needs a GPU and weights: not run here.
"""

from __future__ import annotations

import io
import json
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from helpers.audio import s16, tone
from helpers.ports import closed_port_url

from nodes.tts.backends import BACKENDS, SynthChunk, TtsBackendError
from nodes.tts.backends.fish_speech import FishSpeechVoiceOptions, WavStreamReader

RATE = 44100  # the Fish Speech decoder's rate


def wav_header(rate: int, frames: np.ndarray | None = None) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        if frames is not None:
            out.writeframes(frames.tobytes())
    return buffer.getvalue()


def speech_for(request: dict[str, Any]) -> np.ndarray:
    """A tone standing in for speech: 10 ms per character, 220 Hz for a cloned voice."""
    freq = 220.0 if request.get("references") or request.get("reference_id") else 440.0
    return np.frombuffer(s16(tone(freq, 0.01 * len(request["text"]), RATE)), "<i2")


class FishSpeechStandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[dict[str, Any]] = []
    api_key = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/v1/health":
            self._answer(200, json.dumps({"status": "ok"}).encode())
        else:
            self._answer(404, b'{"detail": "Not Found"}')

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/health":
            return self._answer(200, json.dumps({"status": "ok"}).encode())
        if self.path != "/v1/tts":
            return self._answer(404, b'{"detail": "Not Found"}')
        if self.api_key and self.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(401, b'{"detail": "Invalid token"}')
        if self.headers.get("Content-Type") == "application/msgpack":
            request = msgspec.msgpack.decode(body)
        else:
            request = json.loads(body)
        self.requests.append(request)
        if not isinstance(request.get("text"), str):
            return self._answer(422, b'{"detail": "text: field required"}')
        if not 100 <= request.get("chunk_length", 200) <= 1000:
            return self._answer(422, b'{"detail": "chunk_length: out of range"}')
        if request.get("streaming") and request.get("format", "wav") != "wav":
            return self._answer(400, b"Streaming only supports WAV format", "text/plain")
        if "FAIL" in request["text"]:
            return self._answer(500, b"No audio generated, please check the input text.",
                                "text/plain")
        audio = speech_for(request)
        if not request.get("streaming"):
            return self._answer(200, wav_header(RATE, audio), "audio/wav")
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pieces = [wav_header(RATE)[:20], wav_header(RATE)[20:]]  # a header split in two
        pieces += [audio[i:i + 4000].tobytes() for i in range(0, len(audio), 4000)]
        for piece in pieces:
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def server() -> Iterator[str]:
    FishSpeechStandIn.requests = []
    FishSpeechStandIn.api_key = ""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FishSpeechStandIn)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def synth(url: str, text: str, voice: FishSpeechVoiceOptions, **settings: Any) -> list[SynthChunk]:
    backend = BACKENDS.load("fish_speech", {"url": url, **settings})
    try:
        return [chunk async for chunk in backend.synthesize(text, voice)]
    finally:
        await backend.aclose()


class TestFishSpeech:
    @pytest.mark.parametrize("streaming", [True, False])
    async def test_speech_arrives(self, server: str, streaming: bool) -> None:
        chunks = await synth(server, "Hello there, friends.", FishSpeechVoiceOptions(),
                             streaming=streaming)
        pcm = np.concatenate([c.pcm for c in chunks])
        assert {c.sample_rate for c in chunks} == {RATE}
        np.testing.assert_array_equal(pcm, speech_for({"text": "Hello there, friends."}))
        if streaming:
            assert len(chunks) > 1  # as the server sends it, not at the end
        (request,) = FishSpeechStandIn.requests
        assert request["streaming"] is streaming and request["format"] == "wav"

    async def test_reference_audio_per_persona(self, server: str, tmp_path: Path) -> None:
        reference = tmp_path / "host.wav"
        reference.write_bytes(wav_header(RATE, np.zeros(100, np.int16)))
        voice = FishSpeechVoiceOptions(reference_audio=str(reference),
                                       reference_text="This is how I sound.")
        await synth(server, "Hi.", voice)
        (request,) = FishSpeechStandIn.requests
        assert request["references"] == [
            {"audio": reference.read_bytes(), "text": "This is how I sound."}]

    async def test_reference_id(self, server: str) -> None:
        await synth(server, "Hi.", FishSpeechVoiceOptions(voice="7f92f8afb8ec43bf81429cc1c9199cb1"))
        assert FishSpeechStandIn.requests[0]["reference_id"] == "7f92f8afb8ec43bf81429cc1c9199cb1"

    async def test_api_key_from_the_environment(self, server: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        FishSpeechStandIn.api_key = "s3cret"
        with pytest.raises(TtsBackendError, match="answered 401"):
            await synth(server, "Hi.", FishSpeechVoiceOptions())
        monkeypatch.setenv("FISH_SPEECH_API_KEY", "s3cret")
        assert await synth(server, "Hi.", FishSpeechVoiceOptions())

    async def test_server_error_is_reported(self, server: str) -> None:
        with pytest.raises(TtsBackendError, match="answered 500: No audio generated"):
            await synth(server, "FAIL please", FishSpeechVoiceOptions())

    def test_server_down_at_load(self) -> None:
        url = closed_port_url()
        with pytest.raises(TtsBackendError, match=f"Fish Speech server at {url} is not answering"):
            BACKENDS.load("fish_speech", {"url": url})

    async def test_server_down_while_speaking(self) -> None:
        url = closed_port_url()
        with pytest.raises(TtsBackendError, match=f"Fish Speech server at {url} failed: ConnectError"):
            await synth(url, "Hi.", FishSpeechVoiceOptions(), check_on_start=False)

    async def test_missing_reference_file(self, server: str) -> None:
        with pytest.raises(TtsBackendError, match=r"fish_speech reference audio /nope\.wav"):
            await synth(server, "Hi.", FishSpeechVoiceOptions(reference_audio="/nope.wav"))


class TestWavStreamReader:
    def test_header_and_samples_in_odd_pieces(self) -> None:
        samples = np.arange(-50, 50, dtype=np.int16)
        data = wav_header(16000) + samples.tobytes()
        reader = WavStreamReader()
        out = [reader.feed(data[i:i + 7]) for i in range(0, len(data), 7)]
        np.testing.assert_array_equal(np.concatenate(out), samples)
        assert reader.sample_rate == 16000

    def test_not_a_wav(self) -> None:
        with pytest.raises(TtsBackendError, match="Fish Speech sent no WAV stream"):
            WavStreamReader().feed(b"ID3\x04 an mp3 file..")

    def test_stereo_refused(self) -> None:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(8000)
        with pytest.raises(TtsBackendError, match="2 ch, 16 bit; expected PCM mono 16-bit"):
            WavStreamReader().feed(buffer.getvalue())
