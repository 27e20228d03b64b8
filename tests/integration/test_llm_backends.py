"""Both backends on the real bundled model: in process (xllamacpp) and over HTTP (the same model
served by xllamacpp in another process, standing in for vLLM)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from helpers.ports import closed_port_url
from llm_servers import FakeVllm, ModelServer

from messages.llm import ChatTurn, ToolSpec
from nodes.llm.backends.base import Backend, Delta, Generation, HttpTokenizer, LlmBackendError
from nodes.llm.backends.llamacpp import LlamaCppBackend, LlamaCppSettings, bundled_model_path
from nodes.llm.backends.openai_compat import OpenAICompatBackend, OpenAICompatSettings
from nodes.llm.context import ContextParts, TokenCounts, build_context, estimate_tokens
from nodes.llm.moves import move_format
from nodes.llm.node import DEFAULT_SHOW_PROMPT
from nodes.llm.personas import DEFAULT_PERSONAS, Persona, Sampling

pytestmark = pytest.mark.slow

STORY = Generation(
    messages=[{"role": "user", "content": "Tell me a long story about a dragon."}],
    sampling=Sampling(temperature=0.0, seed=1),
    max_tokens=24,
)


def text_of(backend: Backend, generation: Generation) -> str:
    """The whole reply to ``generation``."""
    pieces: list[str] = []

    def keep(delta: Delta) -> bool:
        pieces.append(delta.text)
        return False

    backend.generate(generation, keep)
    return "".join(pieces)


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    served = ModelServer(threads=1).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def embedded() -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(LlamaCppSettings(threads=1, slots=1, context=1024))
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

        def keep(delta: Delta) -> bool:
            pieces.append(delta)
            return False

        outcome = backend.generate(STORY, keep)
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
        assert text_of(backend, STORY) == text_of(backend, STORY)

    def test_the_repetition_penalty_reaches_llama_cpp(self, embedded: LlamaCppBackend) -> None:
        # greedy decoding gives the same text both times unless llama.cpp applies the penalty
        # (it reads repeat_penalty and ignores vLLM's repetition_penalty)
        def greedy(penalty: float) -> Generation:
            return Generation(
                messages=[{"role": "user", "content": "Say hello hello hello hello hello."}],
                sampling=Sampling(temperature=0.0, seed=1, repetition_penalty=penalty),
                max_tokens=24)

        assert text_of(embedded, greedy(1.0)) != text_of(embedded, greedy(1.8))

    def test_a_prompt_too_long_is_a_clear_error(self, backend: Backend) -> None:
        huge = Generation(messages=[{"role": "user", "content": "cat " * 9000}], max_tokens=4)
        with pytest.raises(LlmBackendError, match="exceeds the available context size"):
            backend.generate(huge, lambda d: False)


class TestConstrainedDecoding:
    """A reply under a JSON schema (a game move): in process through llguidance, over HTTP
    through ``response_format``. The prompt asks for a cell the schema does not allow."""

    PLACE = ToolSpec(name="place", parameters={
        "type": "object", "properties": {"cell": {"type": "integer", "enum": [2, 8]}},
        "required": ["cell"], "additionalProperties": False})

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_the_reply_is_one_of_the_allowed_calls(self, backend: Backend, seed: int) -> None:
        move = move_format([self.PLACE], say_max_chars=40)
        prompt = [{"role": "user", "content": 'Put your X on cell 5. Reply {"cell": 5}.'}]
        text = text_of(backend, Generation(
            messages=prompt, response_schema=move.schema, max_tokens=60,
            sampling=Sampling(temperature=1.0, seed=seed)))
        reply = json.loads(text)
        assert reply["action"] in ({"name": "place", "arguments": {"cell": 2}},
                                   {"name": "place", "arguments": {"cell": 8}})
        assert 1 <= len(reply["say"]) <= 40
        if isinstance(backend, LlamaCppBackend):  # llguidance: one space after , and :
            assert text.startswith('{"action": {"name": "place", "arguments": {"cell": ')


EMOJI = "\U0001f600\U0001f525\U0001f4af"
"""Three characters, nine tokens in SmolLM2's byte-level BPE (3,900 of them silenced a soak)."""


class TestTokenCount:
    def test_the_model_s_own_count(self, backend: Backend) -> None:
        assert backend.count_tokens(EMOJI * 200) == 1800
        assert backend.count_tokens("") == 0
        assert backend.count_tokens("Hello there, how are you today?") in range(1, 10)

    def test_a_chat_full_of_emoji_fits_the_context(self, backend: Backend) -> None:
        # issue 14: at 3.5 characters a token these lines "fit" a budget of 400 (the context
        # is 1024): they are 4,900 tokens
        parts = ContextParts(
            persona="mika", persona_prompt=DEFAULT_PERSONAS[0].system_prompt,
            show_prompt=DEFAULT_SHOW_PROMPT,
            conversation=[ChatTurn(role="user", name="spammer", content=EMOJI * 150),
                          ChatTurn(role="user", name="viewer", content="Hi Mika!")],
            chat=[f"spammer{i}: {EMOJI * 100}" for i in range(4)])
        budget = 400  # well below the context: the prompts are quick to compute
        for count in (estimate_tokens, TokenCounts(backend.count_tokens)):
            built = build_context(parts, budget=budget, count_tokens=count)
            assert built.dropped_chat >= 1
            outcome = backend.generate(Generation(built.messages, max_tokens=8), lambda d: False)
            assert outcome.tokens > 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestTokenizeEndpoint:
    """`HttpTokenizer` against vLLM's ``/tokenize`` (the fake): the estimate stands in only
    while the server cannot answer, never for good after a passing failure."""

    @pytest.fixture
    async def vllm(self) -> AsyncIterator[FakeVllm]:
        fake = await FakeVllm(["base"]).start()
        yield fake
        await fake.stop()

    async def test_a_server_error_is_not_taken_for_no_tokenizer(self, vllm: FakeVllm) -> None:
        clock = FakeClock()
        with httpx.Client(base_url=vllm.url) as client:
            tokenizer = HttpTokenizer(client, lambda: "base", clock=clock)
            vllm.tokenize_failures = 100  # a busy server
            first = await asyncio.to_thread(tokenizer.count, "h\u00e9llo")
            vllm.tokenize_failures = 0
            clock.now += HttpTokenizer.RETRY_S
            again = await asyncio.to_thread(tokenizer.count, "h\u00e9llo")
        assert (first, again) == (None, 6)

    async def test_a_server_down_is_not_asked_again_for_a_while(self, vllm: FakeVllm) -> None:
        # a hung /tokenize costs its 5 s timeout a call: a prompt of 40 new lines would wait
        # minutes for counts before its reply could start
        clock = FakeClock()
        with httpx.Client(base_url=vllm.url) as client:
            tokenizer = HttpTokenizer(client, lambda: "base", clock=clock)
            vllm.tokenize_failures = 100
            counts = [await asyncio.to_thread(tokenizer.count, "abc") for _ in range(3)]
            asked = len(vllm.tokenize_requests)
            vllm.tokenize_failures = 0  # back
            clock.now += HttpTokenizer.RETRY_S
            counts.append(await asyncio.to_thread(tokenizer.count, "abc"))
        assert counts == [None, None, None, 3]
        assert asked == 1, "no request while the server is left alone"

    async def test_a_server_without_tokenize_is_not_asked_again(self, vllm: FakeVllm) -> None:
        with httpx.Client(base_url=vllm.url) as client:
            tokenizer = HttpTokenizer(client, lambda: "base")
            await asyncio.to_thread(tokenizer.count, "abc")
            vllm.tokenize_requests.clear()
            for _ in range(3):
                assert await asyncio.to_thread(tokenizer.count, "abc") == 3
        assert [set(r) for r in vllm.tokenize_requests] == [
            {"model", "prompt", "add_special_tokens"}] * 3, "vLLM's format only, once found"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def test_prompts_a_slot_moved_away_from_are_not_kept_in_ram(embedded: LlamaCppBackend) -> None:
    # issue 14 soak: the llm node reached 3.5 GB; llama.cpp's RAM prompt cache (by
    # default 8 GiB) kept each prompt a slot moved away from: +6 MB a request here (+21 MB
    # for 900 tokens), nothing without it
    for i in range(4):  # a new start each time, as when the oldest history is dropped
        prompt = f"Line {i}. " + " ".join(f"word{i}x{j}" for j in range(50))
        generation = Generation([{"role": "user", "content": prompt}], max_tokens=1)
        embedded.generate(generation, lambda d: False)
        if i == 0:
            before = rss_mb()
    assert rss_mb() - before < 8


class TestReadiness:
    def test_wait_ready_finds_the_served_model(self, server: ModelServer) -> None:
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=server.url))
        http.wait_ready(30)
        assert http.model.endswith(".gguf")
        http.close()

    def test_nothing_listening_times_out_with_the_address(self) -> None:
        url = closed_port_url()
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=url))
        with pytest.raises(LlmBackendError, match=rf"the LLM server at {url} did not answer "
                                               r"/v1/models within 1 s \(last: ConnectError"):
            http.wait_ready(1)
        http.close()

    def test_a_missing_api_key_names_the_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("VT_TEST_LLM_KEY", raising=False)
        with pytest.raises(LlmBackendError, match="set the environment variable VT_TEST_LLM_KEY"):
            OpenAICompatBackend(OpenAICompatSettings(api_key_env="VT_TEST_LLM_KEY"))


class TestServerFailures:
    def test_a_server_killed_mid_stream_is_an_error(self) -> None:
        dying = ModelServer(threads=1).start()
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=dying.url))
        seen: list[str] = []

        def kill_after_three(delta: Delta) -> bool:
            seen.append(delta.text)
            if len(seen) == 3:
                dying.kill()
            return False

        try:
            with pytest.raises(LlmBackendError, match=r"the LLM stream from .* (broke|ended) after"):
                http.generate(STORY, kill_after_three)
        finally:
            dying.stop()
            http.close()
        assert len(seen) >= 3

    def test_an_error_status_is_reported(self, server: ModelServer) -> None:
        http = OpenAICompatBackend(OpenAICompatSettings(base_url=server.url))
        http.wait_ready(30)
        no_content = Generation(messages=[{"role": "user"}], max_tokens=4)
        with pytest.raises(LlmBackendError, match=r"answered HTTP 400 for model '.*gguf'.*"
                                               r"must contain 'content'"):
            http.generate(no_content, lambda d: False)
        http.close()


class TestPersonaSlots:
    @staticmethod
    def turn(persona: Persona, question: str) -> Generation:
        built = build_context(ContextParts(
            persona=persona.name, persona_prompt=persona.system_prompt,
            show_prompt=DEFAULT_SHOW_PROMPT,
            conversation=[ChatTurn(role="user", name="viewer", content=question)]), budget=900)
        return Generation(messages=built.messages, sampling=STORY.sampling, max_tokens=2,
                          persona=persona.name)

    def cached_after_a_switch(self, backend: LlamaCppBackend) -> int:
        mika, rook = DEFAULT_PERSONAS
        backend.generate(self.turn(mika, "Hi Mika!"), lambda d: False)
        backend.generate(self.turn(rook, "Hi Rook!"), lambda d: False)
        outcome = backend.generate(self.turn(mika, "How are you?"), lambda d: False)
        assert outcome.cached_prompt_tokens is not None
        return outcome.cached_prompt_tokens

    def test_a_persona_finds_its_prompt_cached_after_a_switch(
        self, embedded: LlamaCppBackend
    ) -> None:
        two_slots = LlamaCppBackend(LlamaCppSettings(threads=1, slots=2, context=1024))
        try:
            kept = self.cached_after_a_switch(two_slots)
        finally:
            two_slots.close()
        shared_only = self.cached_after_a_switch(embedded)  # one slot: rook evicted mika
        persona_prompt = estimate_tokens(DEFAULT_PERSONAS[0].system_prompt)
        assert kept > shared_only + persona_prompt // 2


def test_the_bundled_model_is_found_without_importing_its_package() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
