"""launch/llm_vllm.launch.toml: vLLM with a LoRA per persona, and the node pointed at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch.loader import Launch, Program, load
from nodes.llm.personas import DEFAULT_PERSONAS

FILE = Path(__file__).resolve().parents[2] / "launch" / "llm_vllm.launch.toml"


def program(launch: Launch, name: str) -> Program:
    (found,) = [p for p in launch.programs if p.name == name]
    return found


def node_params(launch: Launch) -> dict[str, object]:
    params: dict[str, object] = json.loads(program(launch, "llm").env["VT_PARAMS"])
    return params


class TestVllm:
    @pytest.fixture
    def launch(self) -> Launch:
        return load(FILE, {"port": "8123"})

    def test_vllm_serves_one_lora_per_default_persona(self, launch: Launch) -> None:
        command = program(launch, "vllm").command
        assert command[:2] == ["vllm", "serve"]
        assert "--enable-lora" in command
        at = command.index("--lora-modules")
        served = {word.split("=")[0] for word in command[at + 1:at + 3]}
        assert {p.adapter for p in DEFAULT_PERSONAS} == served

    def test_the_node_talks_to_it_on_the_same_port(self, launch: Launch) -> None:
        command = program(launch, "vllm").command
        assert command[command.index("--port") + 1] == "8123"
        params = node_params(launch)
        assert params["backend"] == "openai"
        assert params["base_url"] == "http://127.0.0.1:8123"
        assert params["ready_timeout_s"] == 900.0

    def test_no_cpu_stand_in(self, launch: Launch) -> None:
        assert [p.name for p in launch.programs] == ["vllm", "llm"]


def test_the_cpu_stand_in_replaces_vllm() -> None:
    launch = load(FILE, {"server": "cpu"})
    assert [p.name for p in launch.programs] == ["llm_server_cpu", "llm"]
    command = program(launch, "llm_server_cpu").command
    assert command[-4:] == ["-m", "nodes.llm.serve", "--port", "8000"]
    assert node_params(launch)["base_url"] == "http://127.0.0.1:8000"
