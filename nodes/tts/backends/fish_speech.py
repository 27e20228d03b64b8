"""Fish Speech through its HTTP API server (``tools/api_server.py``), reference audio per persona.

``POST /v1/tts`` with a MessagePack ``ServeTTSRequest`` (text, references [{audio, text}] or
reference_id, format, streaming ...). With ``streaming: true`` and ``format: "wav"`` the server
sends a WAV header, then raw 16-bit PCM as it is generated; otherwise one whole WAV file. Both
are read here the same way: header, then samples as they arrive.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from nodes.tts.backends import SynthChunk, TtsBackendError

__all__ = ["FishSpeechBackend", "FishSpeechSettings", "FishSpeechVoiceOptions", "WavStreamReader"]


class FishSpeechSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str = "http://127.0.0.1:8080"
    api_key_env: str = "FISH_SPEECH_API_KEY"
    """Environment variable holding the server's ``--api-key``, if it has one."""
    timeout_s: float = 30.0
    connect_timeout_s: float = 2.0
    streaming: bool = True
    chunk_length: int = 200
    """Text batch size the server uses (100-1000)."""
    temperature: float = 0.8
    top_p: float = 0.8
    repetition_penalty: float = 1.1
    check_on_start: bool = True
    """Ask ``/v1/health`` when loading, so a server that is down is known at once."""


class FishSpeechVoiceOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How one persona sounds on Fish Speech: a voice to clone, or one the server knows."""

    voice: str = ""
    """A server-side ``reference_id``."""
    reference_audio: str = ""
    """A WAV of the voice to clone, sent with each request."""
    reference_text: str = ""
    """What is said in ``reference_audio``."""


class FishSpeechBackend:
    """A Fish Speech server: voice cloning from each persona's reference audio."""

    name = "fish_speech"
    Settings = FishSpeechSettings
    Voice = FishSpeechVoiceOptions

    def __init__(self, settings: FishSpeechSettings):
        self.settings = settings
        headers = {"Content-Type": "application/msgpack"}
        api_key = os.environ.get(settings.api_key_env, "")
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = httpx.AsyncClient(base_url=settings.url, headers=headers, timeout=timeout)
        self._references: dict[str, bytes] = {}
        if settings.check_on_start:
            try:
                response = httpx.get(f"{settings.url}/v1/health",
                                     timeout=settings.connect_timeout_s)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise TtsBackendError(
                    f"Fish Speech server at {settings.url} is not answering ({exc}): start it with "
                    "`python tools/api_server.py` or fix the fish_speech url"
                ) from None

    def _request(self, text: str, voice: FishSpeechVoiceOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": text,
            "format": "wav",
            "streaming": self.settings.streaming,
            "chunk_length": self.settings.chunk_length,
            "temperature": self.settings.temperature,
            "top_p": self.settings.top_p,
            "repetition_penalty": self.settings.repetition_penalty,
            "references": [],
            "reference_id": voice.voice or None,
        }
        if voice.reference_audio:
            body["references"] = [
                {"audio": self._reference(voice.reference_audio), "text": voice.reference_text}
            ]
        return body

    def _reference(self, path: str) -> bytes:
        if path not in self._references:
            try:
                self._references[path] = Path(path).read_bytes()
            except OSError as exc:
                raise TtsBackendError(f"fish_speech reference audio {path}: {exc}") from None
        return self._references[path]

    async def synthesize(self, text: str, voice: FishSpeechVoiceOptions) -> AsyncIterator[SynthChunk]:
        payload = msgspec.msgpack.encode(self._request(text, voice))
        reader = WavStreamReader()
        try:
            async with self._client.stream("POST", "/v1/tts", content=payload) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise TtsBackendError(
                        f"Fish Speech /v1/tts answered {response.status_code}: {detail}"
                    )
                async for data in response.aiter_bytes():
                    pcm = reader.feed(data)
                    if len(pcm):
                        yield SynthChunk(pcm, reader.sample_rate)
        except httpx.HTTPError as exc:
            raise TtsBackendError(
                f"Fish Speech server at {self.settings.url} failed: {type(exc).__name__}: {exc}"
            ) from None
        if reader.sample_rate == 0:
            raise TtsBackendError("Fish Speech sent no WAV header")

    async def aclose(self) -> None:
        await self._client.aclose()


class WavStreamReader:
    """Reads a WAV byte stream in pieces: the RIFF header first, then mono s16le samples.

    The data size in a streamed header is a placeholder, so samples are read to the end of
    the stream whatever it says.
    """

    def __init__(self) -> None:
        self.sample_rate = 0
        self._buffer = b""
        self._in_data = False

    def feed(self, data: bytes) -> np.ndarray:
        """Samples completed by ``data`` (none while the header is still arriving)."""
        self._buffer += data
        if not self._in_data and not self._parse_header():
            return np.zeros(0, np.int16)
        usable = len(self._buffer) - len(self._buffer) % 2
        pcm = np.frombuffer(self._buffer[:usable], np.int16).copy()
        self._buffer = self._buffer[usable:]
        return pcm

    def _parse_header(self) -> bool:
        buf = self._buffer
        if len(buf) < 12:
            return False
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise TtsBackendError(f"Fish Speech sent no WAV stream (starts {buf[:12]!r})")
        position = 12
        while position + 8 <= len(buf):
            chunk_id = buf[position:position + 4]
            (size,) = struct.unpack("<I", buf[position + 4:position + 8])
            body = position + 8
            if chunk_id == b"fmt ":
                if len(buf) < body + 16:
                    return False
                fmt = struct.unpack("<HHIIHH", buf[body:body + 16])
                audio_format, channels, rate, bits = fmt[0], fmt[1], fmt[2], fmt[5]
                if audio_format != 1 or channels != 1 or bits != 16:
                    raise TtsBackendError(
                        f"Fish Speech WAV is format {audio_format}, {channels} ch, {bits} bit; "
                        "expected PCM mono 16-bit"
                    )
                self.sample_rate = rate
            elif chunk_id == b"data":
                if self.sample_rate == 0:
                    raise TtsBackendError("Fish Speech WAV has its data before its fmt chunk")
                self._buffer = buf[body:]
                self._in_data = True
                return True
            position = body + size + (size & 1)
        return False
