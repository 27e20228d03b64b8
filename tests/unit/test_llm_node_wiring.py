"""The node's wiring without a bus or a model: the scripted backend (and one added by this
module as a plug-in), driven by NodeHarness; its parameters, live and read at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from helpers.launch import assert_params_refused

from bus.errors import ParameterError, PluginError
from bus.node import NodeOptions
from bus.params import check_values
from bus.testing import NodeHarness, wait_until
from messages.llm import Cancel, ChatTurn, LlmDone, LlmRequest, ToolSpec
from nodes.llm.backends import BACKENDS
from nodes.llm.backends.base import Delta, Generation, LlmBackendError, OnDelta, Outcome
from nodes.llm.backends.scripted import ScriptedBackend
from nodes.llm.context import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from nodes.llm.node import DEFAULT_SHOW_PROMPT, LlmNode
from nodes.llm.params import Params
from nodes.llm.personas import DEFAULT_PERSONAS
from nodes.llm.prompts import MAX_LABEL_STOPS, chosen_style

UNUSED_BUS = "ipc:///tmp/vt-unit-llm-unused"
SCRIPT = "[happy] Hello chat! Alice is wrong. [sad] Sadly so. The end"


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[NodeHarness]:
    params: dict[str, Any] = {"backend": "scripted", "script": SCRIPT,
                              **getattr(request, "param", {})}
    node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters=params))
    yield NodeHarness(node)
    await node.close()


def ask(request_id: str, persona: str = "rook", **kwargs: Any) -> LlmRequest:
    return LlmRequest(request_id=request_id, persona=persona,
                      messages=[ChatTurn(role="user", name="bob", content="hi")], **kwargs)


async def done(harness: NodeHarness, request_id: str) -> LlmDone:
    found = await wait_until(lambda: [d for d in harness.messages("llm/done")
                                      if d.request_id == request_id], 5, what="llm/done")
    return found[0]  # type: ignore[no-any-return]


class TestReplies:
    async def test_sentences_with_emotions_then_done(self, harness: NodeHarness) -> None:
        header = harness.feed("llm/request", ask("r1", persona="mika"))
        finished = await done(harness, "r1")
        sentences = harness.messages("llm/sentence")
        assert [(s.index, s.text, s.emotion, s.final) for s in sentences] == [
            (0, "Hello chat!", "happy", False),
            (1, "Alice is wrong.", "happy", False),
            (2, "Sadly so.", "sad", False),
            (3, "The end", "sad", True),
        ]
        assert finished.text == "Hello chat! Alice is wrong. Sadly so. The end"
        assert not finished.cut_off and not finished.error
        traces = {h.trace_id for t, h, _ in harness.published if t.startswith("llm/")}
        assert traces == {header.trace_id}

    async def test_the_persona_s_sentence_limit_stops_early(self, harness: NodeHarness) -> None:
        harness.feed("llm/request", ask("r1", persona="rook"))  # rook: max_sentences = 3
        finished = await done(harness, "r1")
        texts = [s.text for s in harness.messages("llm/sentence")]
        assert texts == ["Hello chat!", "Alice is wrong.", "Sadly so.", ""]  # then the marker
        assert not finished.cut_off

    async def test_requests_are_answered_in_order(self, harness: NodeHarness) -> None:
        for rid in ("a", "b", "c"):
            harness.feed("llm/request", ask(rid))
        await done(harness, "c")
        assert [d.request_id for d in harness.messages("llm/done")] == ["a", "b", "c"]


class TestRefusals:
    async def test_an_unknown_persona_is_answered_with_an_error(
        self, harness: NodeHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        harness.feed("llm/request", ask("x", persona="zed"))
        harness.feed("llm/request", ask("y", persona="zed"))
        assert (await done(harness, "y")).error.startswith("unknown persona 'zed'")
        assert harness.node.counters["bad_requests"] == 2
        warnings = [r for r in caplog.records if "zed" in r.getMessage()]
        assert len(warnings) == 1, "logged once, counted always"
        assert warnings[0].levelname == "WARNING"

    async def test_a_request_cancelled_before_it_runs_is_cut_off_and_silent(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/cancel", Cancel(request_id="later"))
        harness.feed("llm/request", ask("later"))
        finished = await done(harness, "later")
        assert finished.cut_off and finished.text == ""
        assert harness.messages("llm/sentence") == []

    async def test_cancel_all_covers_requests_sent_before_it_only(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/request", ask("before"))
        harness.feed("llm/cancel", Cancel())
        harness.feed("llm/request", ask("after"))
        assert (await done(harness, "before")).cut_off
        assert not (await done(harness, "after")).cut_off


class TestTools:
    @pytest.mark.parametrize(
        "harness",
        [{"script": '{"name": "move", "arguments": {"direction": "left"}}'}],
        indirect=True,
    )
    async def test_a_json_reply_is_a_tool_call(self, harness: NodeHarness) -> None:
        move = ToolSpec(name="move", parameters={"type": "object"})
        harness.feed("llm/request", ask("game", tools=[move], tool_choice="auto"))
        finished = await done(harness, "game")
        (call,) = harness.messages("llm/tool_call")
        assert (call.name, call.arguments) == ("move", {"direction": "left"})
        assert finished.text == ""
        assert [s.text for s in harness.messages("llm/sentence")] == [""]


class TestPrefill:
    async def test_a_prefill_says_nothing_and_the_next_request_is_served(
        self, harness: NodeHarness
    ) -> None:
        harness.feed("llm/request", ask("p1", persona="mika", prefill=True))
        harness.feed("llm/request", ask("p2", persona="zed", prefill=True))  # unknown: ignored
        harness.feed("llm/request", ask("r1", persona="mika"))
        await done(harness, "r1")
        assert {m.request_id for m in harness.messages("llm/sentence")} == {"r1"}
        assert [d.request_id for d in harness.messages("llm/done")] == ["r1"]
        assert harness.node.counters["prefills"] == 1


class SmallContext(ScriptedBackend):
    """The scripted reply from a server with a small context, refusing a longer prompt in
    llama.cpp's words, whose tokenizer counts far more tokens than the node's estimate (a
    chat template's tokens, an unknown vocabulary)."""

    context = 900

    def __init__(self) -> None:
        super().__init__(ScriptedBackend.Settings(script=SCRIPT))
        self.prompts: list[int] = []

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        tokens = sum(3 * estimate_tokens(m["content"]) for m in generation.messages)
        self.prompts.append(tokens)
        if tokens > self.context:
            raise LlmBackendError(f"the model server reported an error: request ({tokens} tokens) "
                               f"exceeds the available context size ({self.context} tokens)")
        return super().generate(generation, on_delta)


class TestContextOverflow:
    @pytest.mark.parametrize("harness", [{"warm_up": False}], indirect=True)
    async def test_a_refused_prompt_is_built_again_smaller_and_answered(
        self, harness: NodeHarness
    ) -> None:
        backend = harness.node.backend = SmallContext()
        long_history = [ChatTurn(role="user", name=f"viewer{i}", content=f"line {i} " * 20)
                        for i in range(40)]
        for rid in ("r1", "r2"):
            harness.feed("llm/request", LlmRequest(request_id=rid, persona="mika",
                                                   messages=long_history))
            finished = await done(harness, rid)
            assert (finished.error, finished.text) == ("", "Hello chat! Alice is wrong. "
                                                           "Sadly so. The end")
        assert harness.node.counters["context_overflows"] == 2
        assert len(backend.prompts) == 4 and backend.prompts[1] <= SmallContext.context

    @pytest.mark.parametrize("harness", [{"warm_up": False}], indirect=True)
    async def test_a_second_refusal_is_reported_not_retried_again(
        self, harness: NodeHarness
    ) -> None:
        backend = harness.node.backend = SmallContext()
        backend.context = 0  # every prompt is refused: the retry fails too, and says why
        harness.feed("llm/request", ask("r1"))
        assert "exceeds the available context size" in (await done(harness, "r1")).error
        assert len(backend.prompts) == 2, "retried once, not more"


class RecordingBackend:
    """An LLM backend added the way any is: this class (its Settings, its constructor) and
    one line in `BACKENDS` (the ``recording`` fixture adds it). It answers every request
    with ``reply`` and keeps what it was asked; its tokenizer counts two tokens a word."""

    class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        reply: str = "[happy] Recorded."
        tokenizer: bool = True
        context: int = 0
        """Given by the node's ``context`` parameter, as the llamacpp backend's is."""

    name = "recording"
    tools_in_prompt: ClassVar[bool] = False

    def __init__(self, settings: Settings, *, personas: Sequence[str] = ()):
        self.settings = settings
        self.personas = list(personas)
        self.generations: list[Generation] = []
        self.counted: list[str] = []

    def wait_ready(self, timeout: float) -> None:
        """Ready at once."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        self.generations.append(generation)
        on_delta(Delta(self.settings.reply))
        return Outcome("stop", 1)

    def count_tokens(self, text: str) -> int | None:
        if not self.settings.tokenizer:
            return None
        self.counted.append(text)
        return 2 * len(text.split())

    def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS.entries, "recording", f"{__name__}:RecordingBackend")


def recording_node(**params: Any) -> tuple[NodeHarness, RecordingBackend]:
    node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
        "backend": "recording", "warm_up": False, **params}))
    assert isinstance(node.backend, RecordingBackend)
    return NodeHarness(node), node.backend


@pytest.mark.usefixtures("recording")
class TestPluginBackend:
    async def test_a_kind_added_as_a_plug_in_answers_through_the_node(self) -> None:
        harness, backend = recording_node(context=2048,
                                          backend_settings={"reply": "[sad] From a plug-in."})
        try:
            harness.feed("llm/request", ask("p1", persona="mika"))
            finished = await done(harness, "p1")
        finally:
            await harness.node.close()
        assert (finished.text, finished.error) == ("From a plug-in.", "")
        assert [(s.text, s.emotion) for s in harness.messages("llm/sentence")] == [
            ("From a plug-in.", "sad")]
        # its settings: the table, and the node parameter named like one of its fields
        assert backend.settings == RecordingBackend.Settings(reply="[sad] From a plug-in.",
                                                             context=2048)
        assert backend.personas == ["mika", "rook"]
        assert [g.persona for g in backend.generations] == ["mika"]

    @pytest.mark.parametrize("tokenizer", [True, False])
    async def test_the_prompt_is_counted_by_the_backend_s_tokenizer_if_it_has_one(
        self, tokenizer: bool
    ) -> None:
        harness, backend = recording_node(backend_settings={"tokenizer": tokenizer})
        try:
            harness.feed("llm/request", ask("c1", persona="mika"))
            await done(harness, "c1")
        finally:
            await harness.node.close()
        (generation,) = backend.generations
        count = backend.count_tokens if tokenizer else estimate_tokens
        assert generation.prompt_tokens == sum(
            count(m["content"]) + MESSAGE_OVERHEAD_TOKENS  # type: ignore[operator]
            for m in generation.messages)
        assert bool(backend.counted) == tokenizer, "the estimate only without a tokenizer"

    def test_a_setting_its_struct_does_not_have_is_refused_by_name(self) -> None:
        with pytest.raises(PluginError, match=r"LLM backend 'recording' settings: .*`replyy`"):
            recording_node(backend_settings={"replyy": "typo"})

    def test_an_unknown_kind_names_the_known_ones(self) -> None:
        with pytest.raises(LlmBackendError, match="parameter backend must be llamacpp, openai, "
                                                  "scripted or recording, got 'gpt5'"):
            LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters={"backend": "gpt5"}))
        assert issubclass(LlmBackendError, PluginError)


@pytest.mark.usefixtures("recording")
class TestParameters:
    async def test_live_parameters_hold_from_the_next_request(self) -> None:
        harness, backend = recording_node()
        try:
            harness.feed("llm/request", ask("before", persona="mika",
                                            tools=[ToolSpec(name="move")],
                                            tool_choice="auto"))
            await done(harness, "before")
            answer = await harness.set_parameters(show_prompt="A new show.", seed=7,
                                          tools_in_prompt=True)
            assert answer.successful, answer.reason
            harness.feed("llm/request", ask("after", persona="mika",
                                            tools=[ToolSpec(name="move")],
                                            tool_choice="auto"))
            await done(harness, "after")
        finally:
            await harness.node.close()
        before, after = backend.generations
        assert before.messages[0]["content"].startswith(DEFAULT_SHOW_PROMPT)
        assert after.messages[0]["content"].startswith("A new show.\n\n")
        assert (before.sampling.seed, after.sampling.seed) == (None, 7)
        # the backend's default (tools to the server), then described in the prompt
        assert [len(before.tools), len(after.tools)] == [1, 0]
        assert "- move:" in after.messages[0]["content"]

    @pytest.mark.parametrize(("name", "value"), [("model_path", "/models/other.gguf"),
                                                 ("backend", "scripted"),
                                                 ("backend_settings", {"reply": "x"})])
    async def test_a_parameter_read_at_start_is_refused_with_the_restart(
        self, name: str, value: Any
    ) -> None:
        harness, _ = recording_node()
        try:
            answer = await harness.set_parameters(**{name: value})
        finally:
            await harness.node.close()
        assert not answer.successful
        assert f"{name} is read at start: restart the node with -p {name}:=VALUE" in \
            answer.reason
        assert harness.node.params.backend == "recording"

    async def test_a_live_value_out_of_bounds_is_refused(self) -> None:
        harness, _ = recording_node()
        try:
            answer = await harness.set_parameters(max_sentence_chars=5)
        finally:
            await harness.node.close()
        assert not answer.successful and "max_sentence_chars" in answer.reason
        assert harness.node.params.max_sentence_chars == 220


class TestLaunchCheck:
    def test_a_wrong_value_is_refused_at_its_line(self, tmp_path: Path) -> None:
        assert_params_refused(tmp_path, "llm", 'backend = "openai", context = "big"',
                              r"parameter 'context' expects int, got 'big'")

    @pytest.mark.parametrize(("values", "error"), [
        ({"max_sentence_chars": 10}, "'max_sentence_chars' expects int"),
        ({"seed": -2}, "'seed' expects int"),
        ({"threads": -1}, "'threads' expects int"),
        ({"backend_settings": "reply=x"}, "'backend_settings' expects dict"),
        ({"model_pth": "x.gguf"}, "did you mean model_path"),
    ])
    def test_out_of_bounds_values_are_refused(self, values: dict[str, Any], error: str) -> None:
        with pytest.raises(ParameterError, match=error):
            check_values(Params, values, node="llm")

    @pytest.mark.parametrize("kind", ["llamacpp", "openai", "scripted"])
    def test_a_parameter_named_like_a_setting_has_the_setting_s_default(self, kind: str) -> None:
        """Without parameters a backend gets its own defaults: the node's declaration and
        the backend's Settings do not drift apart."""
        settings = BACKENDS.plugin_class(kind).Settings()
        shared = set(settings.__struct_fields__) & set(Params.__struct_fields__)
        assert shared
        assert {n: getattr(Params(), n) for n in shared} == {
            n: getattr(settings, n) for n in shared}


@pytest.mark.usefixtures("recording")
class TestPromptStyle:
    """Issue 19: the bundled 135M model gets prompts made for it (a short persona prompt,
    her examples first, recent history only); a capable model keeps the full ones. Both stop
    where another speaker's label begins a line."""

    LONG = [ChatTurn(role="user", name=f"viewer{i}", content=f"line {i}") for i in range(30)]

    async def generation(self, persona: str = "mika", **params: Any) -> Generation:
        harness, backend = recording_node(**params)
        try:
            harness.feed("llm/request", LlmRequest(request_id="s1", persona=persona,
                                                   messages=self.LONG))
            await done(harness, "s1")
        finally:
            await harness.node.close()
        (generation,) = backend.generations
        return generation

    async def test_small_prompts_examples_and_recent_lines(self) -> None:
        mika = DEFAULT_PERSONAS[0]
        generation = await self.generation(prompt_style="small")
        system, *rest = generation.messages
        assert system["content"] == f"{DEFAULT_SHOW_PROMPT}\n\n{mika.small_prompt}"
        examples = [m["content"] for m in rest[:2 * len(mika.examples)]]
        assert examples == [text for e in mika.examples for text in (e.line, e.reply)]
        conversation = "\n".join(m["content"] for m in rest[2 * len(mika.examples):])
        assert "viewer29: line 29" in conversation and "viewer17: line 17" not in conversation
        # the examples are in the prompt's count (the recording tokenizer: 2 a word)
        assert generation.prompt_tokens == sum(
            2 * len(m["content"].split()) + MESSAGE_OVERHEAD_TOKENS for m in generation.messages)

    async def test_large_prompts_are_the_full_ones(self) -> None:
        generation = await self.generation(prompt_style="large")
        system, *rest = generation.messages
        assert system["content"] == f"{DEFAULT_SHOW_PROMPT}\n\n{DEFAULT_PERSONAS[0].system_prompt}"
        assert "viewer0: line 0" in rest[0]["content"] and len(rest) == 1

    @pytest.mark.parametrize("style", ["small", "large"])
    async def test_stops_at_other_speakers_labels_on_a_new_line(self, style: str) -> None:
        stops = (await self.generation(persona="mika", prompt_style=style)).stop
        assert {"\nRook:", "\nrook:", "\nviewer29:", "\nViewer29:"} <= set(stops)
        assert not any("mika" in s.lower() for s in stops)
        assert len(stops) <= 2 * MAX_LABEL_STOPS

    @pytest.mark.parametrize(("style", "backend", "model_path", "chosen"), [
        ("", "llamacpp", "", "small"),          # the bundled model
        ("", "llamacpp", "/m/llama-70b.gguf", "large"),
        ("", "openai", "", "large"),            # vLLM
        ("small", "openai", "", "small"),       # said
    ])
    def test_the_style_by_default_follows_the_model(self, style: str, backend: str,
                                                    model_path: str, chosen: str) -> None:
        assert chosen_style(style, backend, model_path) == chosen

    def test_a_style_it_does_not_know_is_refused(self) -> None:
        with pytest.raises(ParameterError, match="prompt_style"):
            check_values(Params, {"prompt_style": "tiny"}, node="llm")


class CopyingBackend(RecordingBackend):
    """Copies the question with seed 7 (what the bundled model did to recent lines); with
    any other seed it says something new."""

    def generate(self, generation: Generation, on_delta: OnDelta) -> Outcome:
        self.generations.append(generation)
        question = generation.messages[-1]["content"].split(": ", 1)[-1]
        on_delta(Delta(question if generation.sampling.seed == 7 else "[happy] Brand new words."))
        return Outcome("stop", 1)


class TestRegeneration:
    """Issue 19: a reply made only of copies of recent lines is generated again, not
    spoken; the next seed gives other words."""

    QUESTION = "What is your favourite game tonight?"

    async def reply_to_a_copier(self, monkeypatch: pytest.MonkeyPatch,
                                **params: Any) -> tuple[NodeHarness, CopyingBackend]:
        monkeypatch.setitem(BACKENDS.entries, "copying", f"{__name__}:CopyingBackend")
        node = LlmNode(options=NodeOptions(bus=UNUSED_BUS, parameters={
            "backend": "copying", "warm_up": False, "prompt_style": "small", **params}))
        assert isinstance(node.backend, CopyingBackend)
        harness = NodeHarness(node)
        harness.feed("llm/request", LlmRequest(request_id="g1", persona="mika", messages=[
            ChatTurn(role="user", name="alice", content=f"alice: {self.QUESTION}")]))
        await done(harness, "g1")
        await node.close()
        return harness, node.backend

    async def test_a_reply_of_copies_is_generated_again_with_the_next_seed(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        harness, backend = await self.reply_to_a_copier(monkeypatch, seed=7)
        assert [g.sampling.seed for g in backend.generations] == [7, 8]
        assert [g.sampling.temperature for g in backend.generations] == [0.9, 1.0]
        assert [(s.text, s.emotion, s.final) for s in harness.messages("llm/sentence")] == [
            ("Brand new words.", "happy", True)]
        assert harness.messages("llm/done")[0].text == "Brand new words."
        assert harness.node.counters["regenerated"] == 1

    async def test_with_the_large_style_a_repeat_is_said(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        # the scripted stand-in says one reply: cut as a copy after its first turn, every
        # stand-in show (the chaos test, the soak) went silent
        harness, backend = await self.reply_to_a_copier(monkeypatch, seed=7,
                                                        prompt_style="large")
        assert len(backend.generations) == 1
        assert [s.text for s in harness.messages("llm/sentence")] == [self.QUESTION]

    async def test_once_only(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(CopyingBackend, "generate", _always_copies)
        harness, backend = await self.reply_to_a_copier(monkeypatch, seed=7)
        assert len(backend.generations) == 2
        # silent, but the reply is closed: TTS and the director are not left waiting
        assert [(s.text, s.final) for s in harness.messages("llm/sentence")] == [("", True)]
        assert harness.messages("llm/done")[0].text == ""


def _always_copies(self: CopyingBackend, generation: Generation, on_delta: OnDelta) -> Outcome:
    self.generations.append(generation)
    on_delta(Delta(generation.messages[-1]["content"].split(": ", 1)[-1]))
    return Outcome("stop", 1)
