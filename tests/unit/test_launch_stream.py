"""What stream.launch.toml gives each node for the choices the README offers: reference voices
for the cloning TTS backends (checked by the tts node's own voice book), Mem0 with the served
model under llm:=vllm, and the two hosts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launch.loader import Launch, find_launch_file, load
from nodes.tts.voices import VoiceBook

REPO = Path(__file__).resolve().parents[2]


def _stream(**args: str) -> Launch:
    return load(find_launch_file("stream.launch.toml", cwd=REPO), args)


def _params(launch: Launch, name: str) -> dict[str, Any]:
    (program,) = [p for p in launch.programs if p.name == name]
    params: dict[str, Any] = json.loads(program.env["VT_PARAMS"])
    return params


def _book(params: dict[str, Any]) -> VoiceBook:
    return VoiceBook.from_parameters(params.get("voices", {}), params.get("backends", {}),
                                     params["default_backend"], "espeak")


class TestReferenceVoices:
    def test_fish_speech_clones_each_persona_from_its_arguments(self) -> None:
        launch = _stream(tts="fish_speech", mika_voice="/voices/mika.wav",
                         mika_voice_text="Hi, I'm Mika!", fish_speech_url="http://gpu:8080")
        params = _params(launch, "tts")
        assert params["backends"] == {"fish_speech": {"url": "http://gpu:8080"}}
        book = _book(params)
        mika, rook = book.resolve("mika"), book.resolve("rook")
        assert (mika.backend, mika.options.reference_audio, mika.options.reference_text) == (
            "fish_speech", "/voices/mika.wav", "Hi, I'm Mika!")
        assert (rook.backend, rook.options.reference_audio) == ("fish_speech", "")  # server's
        assert mika.fallback_voice != rook.fallback_voice  # told apart on espeak too
        (tts,) = [p for p in launch.programs if p.name == "tts"]
        assert tts.env_pass == ("FISH_SPEECH_API_KEY",)

    def test_styletts2_takes_each_personas_reference_and_local_weights(self) -> None:
        launch = _stream(tts="styletts2", rook_voice="/voices/rook.wav",
                         styletts2_checkpoint="/w/epochs_2nd_00020.pth",
                         styletts2_config="/w/config.yml")
        params = _params(launch, "tts")
        assert params["backends"]["styletts2"] == {"checkpoint_path": "/w/epochs_2nd_00020.pth",
                                                   "config_path": "/w/config.yml"}
        book = _book(params)
        assert book.resolve("rook").options.voice == "/voices/rook.wav"
        assert book.resolve("mika").options.voice == ""  # the backend's default_reference

    @pytest.mark.parametrize("tts", ["piper", "espeak", "tone"])
    def test_other_backends_keep_the_tts_nodes_own_voices(self, tts: str) -> None:
        params = _params(_stream(tts=tts, mika_voice="/voices/mika.wav"), "tts")
        assert params == {"default_backend": tts}


class TestMemoryFacts:
    def test_llm_vllm_gives_mem0_the_served_model_beside_it(self) -> None:
        launch = _stream(llm="vllm", vllm_port="8123")
        params = _params(launch, "memory")
        assert (params["facts"], params["llm_url"], params["llm_model"]) == (
            "mem0", "http://127.0.0.1:8123/v1", "base")
        hosts = {p.name: p.host for p in launch.programs}
        assert hosts["memory"] == hosts["vllm"] == hosts["llm"] == "gpu"  # 127.0.0.1 reaches it
        (vllm,) = [p for p in launch.programs if p.name == "vllm"]
        assert vllm.command[vllm.command.index("--port") + 1] == "8123"
        assert vllm.command[vllm.command.index("--served-model-name") + 1] == "base"

    def test_the_cpu_default_has_no_facts(self) -> None:
        assert "facts" not in _params(_stream(), "memory")


class TestHosts:
    def test_models_on_gpu_the_rest_with_vtbus_on_stream(self) -> None:
        launch = _stream()
        assert launch.bus.host == "stream"
        gpu = {p.name for p in launch.share("gpu")}
        assert gpu == {"llm", "tts", "stt", "memory"}
        assert {p.name for p in launch.share("stream")} == {
            p.name for p in launch.programs} - gpu
        assert launch.runs_bus("stream") and not launch.runs_bus("gpu")
