"""Both backends on the real bundled model: in process (xllamacpp) and over HTTP (the same model
served by xllamacpp in another process, standing in for vLLM)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_servers import ModelServer, free_port

from nodes.llm.backends.base import Backend, BackendError, Delta, Generation
from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings, bundled_model_path
from nodes.llm.backends.openai_compat import OpenAICompatBackend, OpenAICompatSettings
from nodes.llm.personas import Sampling

pytestmark = pytest.mark.slow

STORY = Generation(
    messages=[{"role": "user", "content": "Tell me a long story about a dragon."}],
    sampling=Sampling(temperature=0.0, seed=1),
    max_tokens=64,
)


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    served = ModelServer().start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def embedded() -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(LlamaCppSettings(threads=2, slots=1, context=1024))
    yield backend
    backend.close()


@pytest.fixture(params=["embedded", "http"])
def backend(request: pytest.FixtureRequest, server: ModelServer,
            embedded: LlamaCppBackend) -> Iterator[Backend]:
    if request.param == "embedded":
        yield embedded
        return
    http = OpenAICompatBackend(OpenAICompatSettings(base_url=server.url))
    http.wait_ready(30)
    yield http
    http.close()


class TestGeneration:
    def test_streams_text_to_the_end(self, backend: Backend) -> None:
        pieces: list[Delta] = []
        outcome = backend.generate(STORY, lambda d: pieces.append(d) is not None)
        assert outcome.finish_reason in ("stop", "length")
        assert outcome.tokens >= len(pieces) > 3
        assert "".join(p.text for p in pieces).strip()

    @pytest.mark.parametrize("stop_at", [1, 5])
    def test_stops_at_the_token_that_asked(self, backend: Backend, stop_at: int) -> None:
        seen: list[str] = []

        def on_delta(delta: Delta) -> bool:
            seen.append(delta.text)
            return len(seen) >= stop_at

        outcome = backend.generate(STORY, on_delta)
        assert outcome.finish_reason == "stopped"
        assert len(seen) == stop_at  # no piece after the one that said stop
        assert outcome.tokens == stop_at

    def test_the_same_seed_gives_the_same_text(self, backend: Backend) -> None:
        texts = []
        for _ in range(2):
            pieces: list[str] = []
            backend.generate(STORY, lambda d: pieces.append(d.text) is not None)
            texts.append("".join(pieces))
        assert texts[0] == texts[1]

    def test_a_prompt_too_long_is_a_clear_error(self, backend: Backend) -> None:
        huge = Generation(messages=[{"role": "user", "content": "cat " * 9000}], max_tokens=4)
        with pytest.raises(BackendError, match="exceeds the available context size"):
            backend.generate(huge, lambda d: False)


class TestReadiness:
    def test_wait_ready_finds_the_served_model(self, server: ModelServer) -> None:
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=server.url))
        http.wait_ready(30)
        assert http.model.endswith(".gguf")
        http.close()

    def test_nothing_listening_times_out_with_the_address(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=url))
        with pytest.raises(BackendError, match=rf"the LLM server at {url} did not answer "
                                               r"/v1/models within 1 s \(last: ConnectError"):
            http.wait_ready(1)
        http.close()

    def test_a_missing_api_key_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VT_TEST_LLM_KEY", raising=False)
        with pytest.raises(BackendError, match="set the environment variable VT_TEST_LLM_KEY"):
            OpenAICompatBackend(OpenAICompatSettings(api_key_env="VT_TEST_LLM_KEY"))


class TestServerFailures:
    def test_a_server_killed_mid_stream_is_an_error(self) -> None:
        dying = ModelServer().start()
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=dying.url))
        seen: list[str] = []

        def kill_after_three(delta: Delta) -> bool:
            seen.append(delta.text)
            if len(seen) == 3:
                dying.kill()
            return False

        try:
            with pytest.raises(BackendError, match=r"the LLM stream from .* (broke|ended) after"):
                http.generate(STORY, kill_after_three)
        finally:
            dying.stop()
            http.close()
        assert len(seen) >= 3

    def test_an_error_status_is_reported(self, server: ModelServer) -> None:
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=server.url))
        http.wait_ready(30)
        no_content = Generation(messages=[{"role": "user"}], max_tokens=4)
        with pytest.raises(BackendError, match=r"answered HTTP 400 for model '.*gguf'.*"
                                               r"must contain 'content'"):
            http.generate(no_content, lambda d: False)
        http.close()


def test_the_bundled_model_is_found_without_importing_its_package() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
