"""The LLM node: requests in, sentences streamed out as soon as each is complete, cancellable.

Requests are handled one at a time, in order. Generation runs in a worker thread; every token
passes through a callback that checks the request's stop flag, so ``llm/cancel`` stops it at the
next token. The reply is assembled on the event loop (`nodes.llm.reply`), which publishes each
sentence, then the tool calls, then ``llm/done``.

A request that must be answered with a call (``tool_choice`` ``required`` with tools: a game
move) is decoded under a JSON schema of its tools (`nodes.llm.moves`): the call is published
the moment its action is decoded, then the line the persona says about it streams out as
the reply's sentences; a call that fails validation is not made, and ``llm/done`` says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from bus.node import Node, NodeOptions, Trace
from messages.base import Header
from messages.llm import Cancel, LlmDone, LlmRequest, Sentence, ToolCall
from nodes.llm.backends import BACKENDS
from nodes.llm.backends.base import (
    IMAGE_MEDIA_TYPES,
    Backend,
    Delta,
    Generation,
    LlmBackendError,
    Outcome,
    context_overflow,
)
from nodes.llm.context import (
    MESSAGE_OVERHEAD_TOKENS,
    ContextParts,
    GivenTurns,
    TokenCounts,
    build_context,
)
from nodes.llm.moves import (
    MOVE_MIN_TOKENS,
    MoveFormat,
    MoveFormatError,
    MoveReply,
    move_format,
    with_instruction,
)
from nodes.llm.params import Params
from nodes.llm.personas import Persona, load_personas
from nodes.llm.prompts import (
    SHOW_PROMPT,
    chosen_style,
    example_messages,
    label_stops,
    recent_block,
)
from nodes.llm.reply import ReplyAssembler, SpokenSentence
from nodes.llm.spoken import RECENT_LINES
from nodes.llm.tools import ParsedCall, tools_prompt

__all__ = ["DEFAULT_SHOW_PROMPT", "LlmNode", "backend_settings", "load_backend"]

DEFAULT_SHOW_PROMPT = SHOW_PROMPT
"""The show prompt of both styles (`nodes.llm.prompts`)."""
PROMPT_MARGIN_TOKENS = 32
"""Left free in the context besides the reply, for the estimate's error."""
RETRY_READY_S = 5.0
"""After the first readiness wait failed, later requests wait only this long."""
REGENERATIONS = 1
"""A reply whose every sentence was left unsaid (copied from the recent lines, a stage
direction) is generated once more with the next seed; after that the turn is silent."""
REGENERATION_TEMPERATURE = 1.0
"""A reply generated again samples at least this hot."""
OVERFLOW_RETRY_SHARE = 0.8
"""A prompt the server refused as too long is built again, once, at this share of what fits
by the server's own count (our count scaled by available over requested tokens)."""


def backend_settings(params: Params, kind: str) -> dict[str, Any]:
    """The settings table of backend ``kind``: the parameters named like the fields of its
    ``Settings`` (the names launch files give: ``model_path``, ``base_url``...), with
    ``backend_settings`` over them."""
    fields = BACKENDS.plugin_class(kind).Settings.__struct_fields__
    named = {name: getattr(params, name) for name in fields if name in Params.__struct_fields__}
    return {**named, **params.backend_settings}


def load_backend(params: Params, personas: Sequence[str]) -> Backend:
    """The backend ``params.backend`` names, built (its model loaded) from its settings.

    Raises
    ------
    LlmBackendError
        An unknown kind, or the backend's own failure to load.
    PluginError
        Settings its ``Settings`` refuses (the message names the field).
    """
    kind = params.backend
    if kind not in BACKENDS:
        *others, last = BACKENDS.kinds()
        raise LlmBackendError(
            f"parameter backend must be {', '.join(others)} or {last}, got {kind!r}")
    return BACKENDS.load(kind, backend_settings(params, kind), personas=personas)


class LlmNode(Node):
    """Streams replies from an LLM backend, one persona per request."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("llm", options=options)
        self.params = self.declare_parameters(Params)
        self.personas: dict[str, Persona] = load_personas(self.params.personas_file,
                                                          self.params.personas)
        self.backend = load_backend(self.params, list(self.personas))
        self.count_tokens = TokenCounts(self.backend.count_tokens)
        """The model's own counts, cached: the same turns come back in every request."""
        self.sentence_pub = self.create_publisher(Sentence, "llm/sentence")
        self.done_pub = self.create_publisher(LlmDone, "llm/done")
        self.tool_pub = self.create_publisher(ToolCall, "llm/tool_call")
        self.create_subscription(LlmRequest, "llm/request", self.on_request)
        self.create_subscription(Cancel, "llm/cancel", self.on_cancel)
        self._stop_flags: dict[str, threading.Event] = {}
        self._cancelled: deque[str] = deque(maxlen=256)
        self._cancel_all_ns = 0
        self.given = GivenTurns()
        """How each persona's recent turns went into its prompts (keeps them cacheable)."""
        self._ready_task: asyncio.Task[None] | None = None
        self._ready_failed = False
        self._warming: asyncio.Task[None] | None = None
        self._requested = False
        """A request came in: the warm-up stops (requests come first)."""
        self._keywords_said: set[str] = set()
        """Schema keywords already logged as not constrained (JSON Schema's, so bounded)."""

    async def on_start(self) -> None:
        # ready (for vtlaunch's "all up" and the director's greeting) once the model answers
        # and the personas' prompts are computed: a greeting asked earlier paid for both
        self.set_loading("model")
        self._ensure_ready()  # a starting vLLM takes minutes: begin waiting now

    async def on_shutdown(self) -> None:
        for flag in self._stop_flags.values():
            flag.set()
        if self._warming is not None:
            self._warming.cancel()
        await asyncio.to_thread(self.backend.close)

    # ------------------------------------------------------------ callbacks

    def on_cancel(self, msg: Cancel, header: Header) -> None:
        if not msg.request_id:
            self._cancel_all_ns = header.stamp_ns
            flags = list(self._stop_flags.values())
        else:
            self._cancelled.append(msg.request_id)
            flags = [f for rid, f in self._stop_flags.items() if rid == msg.request_id]
        for flag in flags:
            flag.set()
        self.counters["cancels"] += 1

    async def on_request(self, request: LlmRequest, header: Header) -> None:
        persona = self.personas.get(request.persona)
        if request.prefill:
            if persona is not None:
                await self._prefill(request, persona)
            return
        if persona is None:
            self._refuse(request, header, f"unknown persona {request.persona!r} (known: "
                         f"{', '.join(sorted(self.personas))})")
            return
        request = self._seeable(request, header)
        move = None
        if request.tools and request.tool_choice == "required":
            try:
                move = self._move_format(request)
            except MoveFormatError as exc:  # at once: the game counts it as a failed try
                self._refuse(request, header, str(exc))
                return
        try:
            await asyncio.shield(self._ensure_ready())
        except LlmBackendError as exc:
            self._fail(request, persona, str(exc), None)
            return
        await self._after_warm_up_step()
        if request.request_id in self._cancelled or header.stamp_ns <= self._cancel_all_ns:
            self.done_pub.publish(LlmDone(request_id=request.request_id, persona=persona.name,
                                          text="", cut_off=True))
            return
        await self._generate(request, persona, self.current_trace(), move)

    def _seeable(self, request: LlmRequest, header: Header) -> LlmRequest:
        """``request`` without the images of an encoding no backend takes (reported as bad
        input: the reply goes on without them)."""
        images = [image for image in request.images if image.encoding in IMAGE_MEDIA_TYPES]
        if len(images) == len(request.images):
            return request
        unknown = sorted({i.encoding[:16] for i in request.images} - set(IMAGE_MEDIA_TYPES))
        self.report_bad_input(header.publisher, "llm/request", (
            f"request {request.request_id!r}: image(s) encoded as "
            f"{', '.join(map(repr, unknown))} left out (jpeg or png expected)"))
        return msgspec.structs.replace(request, images=images)

    # ------------------------------------------------------------ the work

    def _ensure_ready(self) -> asyncio.Task[None]:
        ready = self._ready_task
        if ready is None or (ready.done() and ready.exception() is not None):
            timeout = RETRY_READY_S if self._ready_failed else self.params.ready_timeout_s
            ready = self._ready_task = self.create_task(self._wait_ready(timeout), "ready")
        return ready

    async def _wait_ready(self, timeout: float) -> None:
        try:
            await asyncio.to_thread(self.backend.wait_ready, timeout)
        except LlmBackendError as exc:
            self._ready_failed = True
            self.log.error("%s", exc)
            raise
        self.log.info("%s backend ready", self.backend.name)
        if self.params.warm_up:
            self.set_loading("persona prompts")
            self._warming = self.create_task(self._warm_up(), "warm-up")
            self._warming.add_done_callback(lambda _: self.set_loading(""))
        else:
            self.set_loading("")

    async def _warm_up(self) -> None:
        """One token for each persona: its system prompt is then in the cache (llama.cpp's
        slot, vLLM's prefix cache) and its first reply computes only the conversation.

        It gives way to the first real request: after a restart the director re-sends the
        turn it lost, and warming both personas first kept it waiting 18 s on a loaded CPU."""
        started = time.perf_counter()
        for persona in self.personas.values():
            if self._requested:
                self.log.info("warm-up left to the requests: one came in")
                return
            try:
                await asyncio.to_thread(self._compute_prompt,
                                        LlmRequest(request_id="warm-up", persona=persona.name),
                                        persona)
            except LlmBackendError as exc:  # the first real request will say it again
                self.log.warning("warming up %s failed: %s", persona.name, exc)
                return
        self.log.info("%d persona prompt(s) computed in %.1f s", len(self.personas),
                      time.perf_counter() - started)

    async def _after_warm_up_step(self) -> None:
        """Stop the warm-up and wait for the one prompt it may be computing (the backend
        computes one prompt at a time)."""
        self._requested = True
        if self._warming is not None and not self._warming.done():
            await asyncio.wait([self._warming])

    async def _prefill(self, request: LlmRequest, persona: Persona) -> None:
        """Compute ``request``'s prompt in the persona's cache; say nothing."""
        try:
            await asyncio.shield(self._ensure_ready())
            await self._after_warm_up_step()
            await asyncio.to_thread(self._compute_prompt, request, persona)
        except LlmBackendError as exc:  # only time lost: the real request will say it
            self.log.debug("prefill %s failed: %s", request.request_id, exc)
            return
        self.counters["prefills"] += 1

    def _compute_prompt(self, request: LlmRequest, persona: Persona) -> None:
        """The prompt of ``request`` computed and one token generated (blocking): the cache
        then holds it. The budget is the real request's, so the prompts match."""
        generation = dataclasses.replace(self._generation(request, persona), max_tokens=1)
        self.backend.generate(generation, lambda _: True)

    def _move_format(self, request: LlmRequest) -> MoveFormat:
        """The reply format of a move; schema keywords that will only be validated are said
        once each (log) and counted per request."""
        move = move_format(request.tools, say_max_chars=self.params.say_max_chars)
        for name, keywords in move.unconstrained.items():
            if not keywords:
                continue
            self.counters["moves_validated_only"] += 1
            new = sorted(set(keywords) - self._keywords_said)
            if new:
                self._keywords_said.update(new)
                self.log.warning(
                    "tool %r: schema keyword(s) %s cannot be constrained; its calls are decoded "
                    "without them and validated (an invalid call is not made)", name,
                    ", ".join(new))
        return move

    def _generate_fitting(self, request: LlmRequest, persona: Persona,
                          on_delta: Callable[[Delta], bool],
                          move: MoveFormat | None = None, reseed: int = 0) -> Outcome:
        """Build the prompt and stream the reply (blocking). A prompt the server refuses as
        longer than its context (counted wrong: no tokenizer, a template's tokens) is built
        again, smaller, once: one line of emoji in the history must not silence the show."""
        generation = self._generation(request, persona, move=move, reseed=reseed)
        try:
            return self.backend.generate(generation, on_delta)
        except LlmBackendError as exc:
            overflow = context_overflow(str(exc))
            if overflow is None:
                raise
            requested, available = overflow
            self.counters["context_overflows"] += 1
            self.log.warning("request %s: the server counted %d prompt tokens for a context of "
                             "%d; built again smaller", request.request_id, requested, available)
        budget = int(generation.prompt_tokens * OVERFLOW_RETRY_SHARE * available
                     / max(1, requested))
        return self.backend.generate(
            self._generation(request, persona, budget, move=move, reseed=reseed), on_delta)

    async def _generate(self, request: LlmRequest, persona: Persona, trace: Trace | None,
                        move: MoveFormat | None = None) -> None:
        stop = self._stop_flags[request.request_id] = threading.Event()
        try:
            for attempt in range(1 + REGENERATIONS):
                reply, error, tokens = await self._attempt(request, persona, trace, move, stop,
                                                           attempt)
                cut_off = stop.is_set() and not reply.enough
                if error or cut_off or isinstance(reply, MoveReply):
                    break
                sentences, calls = reply.finish()
                if not reply.silenced or reply.enough or attempt == REGENERATIONS:
                    break  # (enough: another speaker's line began; the stop flag is set)
                # everything it wrote was left unsaid (copies, directions): silence is worse
                self.counters["regenerated"] += 1
                self.log.info("request %s: nothing left to say of %d token(s) (%d copied "
                              "sentence(s)); generated again: %r", request.request_id, tokens,
                              reply.cut, reply.written[:160])
        finally:
            del self._stop_flags[request.request_id]
        if error:
            self._fail(request, persona, error, reply)
            return
        if isinstance(reply, MoveReply):
            self._finish_move(request, persona, reply, cut_off=cut_off, tokens=tokens)
            return
        if cut_off:
            sentences, calls = [], []
        written = reply.as_written
        if not cut_off and written is not None:  # its next prompt repeats it as written
            self.given.remember(persona.name, reply.spoken_text, written)
        self._publish(request, persona, sentences, final=not cut_off,
                      next_index=len(reply.sentences))
        for call in calls:
            if call.error:
                self.counters["bad_tool_calls"] += 1
                self.log.warning("request %s: tool call %r dropped: %s", request.request_id,
                                 call.name, call.error)
                continue
            self._publish_call(request, persona, call)
        self.counters["replies"] += 1
        self.counters["cut_off"] += cut_off
        self.done_pub.publish(LlmDone(request_id=request.request_id, persona=persona.name,
                                      text=reply.spoken_text, cut_off=cut_off, tokens=tokens))

    async def _attempt(self, request: LlmRequest, persona: Persona, trace: Trace | None,
                       move: MoveFormat | None, stop: threading.Event, attempt: int
                       ) -> tuple[ReplyAssembler | MoveReply, str, int]:
        """One generation of the reply, streamed as it comes: (the reply, the error if the
        backend failed, the tokens generated). ``attempt`` > 0: the seed moves on by it."""
        speech = ReplyAssembler(tool_names=() if move else {t.name for t in request.tools},
                                max_sentences=persona.max_sentences,
                                max_chars=self.params.max_sentence_chars,
                                first_clause_chars=self.params.first_clause_chars,
                                speaker_names=self._speakers(request),
                                persona=persona.speaker,
                                recent=self._recent_lines(request, persona, move))
        reply: ReplyAssembler | MoveReply = speech if move is None else MoveReply(move, speech)
        loop = asyncio.get_running_loop()

        def on_delta(delta: Delta) -> bool:  # in the worker thread: one call per token
            if stop.is_set():
                return True
            loop.call_soon_threadsafe(self._on_delta, request, persona, reply, delta, trace)
            return stop.is_set()

        try:
            outcome = await asyncio.to_thread(self._generate_fitting, request, persona, on_delta,
                                              move, attempt)
        except LlmBackendError as exc:
            return reply, str(exc), 0
        except Exception as exc:  # a bug must still end the reply: the director waits for it
            self.log.exception("request %s: the backend raised", request.request_id)
            return reply, f"{type(exc).__name__}: {exc}", 0
        finally:
            await asyncio.sleep(0)  # deltas queued by the thread are handled before this
        return reply, "", outcome.tokens

    def _finish_move(self, request: LlmRequest, persona: Persona, reply: MoveReply, *,
                     cut_off: bool, tokens: int) -> None:
        """The end of a move: the line's last sentences, the call if it was not out yet,
        and ``llm/done``, with an error when no valid call was made."""
        sentences, problem = ([], "") if cut_off else reply.finish()
        self._publish(request, persona, sentences, final=not cut_off,
                      next_index=len(reply.sentences))
        call = reply.take_call()
        if call is not None:
            self._publish_call(request, persona, call)
        self.counters["moves"] += 1
        self.counters["cut_off"] += cut_off
        if problem:
            self.counters["moves_without_call"] += 1
            self.log.warning("request %s: %s", request.request_id, problem)
        self.done_pub.publish(LlmDone(request_id=request.request_id, persona=persona.name,
                                      text=reply.spoken_text, cut_off=cut_off, tokens=tokens,
                                      error=problem))

    def _publish_call(self, request: LlmRequest, persona: Persona, call: ParsedCall) -> None:
        self.tool_pub.publish(ToolCall(request_id=request.request_id, persona=persona.name,
                                       call_id=call.call_id, name=call.name,
                                       arguments=call.arguments))

    def _on_delta(self, request: LlmRequest, persona: Persona,
                  reply: ReplyAssembler | MoveReply, delta: Delta, trace: Trace | None) -> None:
        stop = self._stop_flags.get(request.request_id)
        if stop is None or stop.is_set():
            return  # cancelled: what follows is never spoken
        with self.traced(trace):
            self._publish(request, persona, reply.feed(delta), final=False)
            call = reply.take_call() if isinstance(reply, MoveReply) else None
            if call is not None:  # the move is decided: the game need not wait for the line
                self._publish_call(request, persona, call)
        if reply.enough:
            stop.set()

    def _publish(self, request: LlmRequest, persona: Persona, sentences: list[SpokenSentence],
                 *, final: bool, next_index: int = 0) -> None:
        for i, sentence in enumerate(sentences):
            self.sentence_pub.publish(Sentence(
                request_id=request.request_id, persona=persona.name, index=sentence.index,
                text=sentence.text, emotion=sentence.emotion,
                final=final and i == len(sentences) - 1,
            ))
        if final and not sentences:  # the end marker: TTS and avatar close the reply
            self.sentence_pub.publish(Sentence(request_id=request.request_id,
                                               persona=persona.name, index=next_index,
                                               text="", final=True))

    def _generation(self, request: LlmRequest, persona: Persona, budget: int | None = None,
                    *, move: MoveFormat | None = None, reseed: int = 0) -> Generation:
        """The request as the backend takes it, its prompt within ``budget`` tokens (None:
        the context less the reply); blocking: it may ask the model server to count tokens.
        A move's reply format goes to the backend as its ``response_schema``, its
        instruction at the end of the prompt, and no tools."""
        tools: list[dict[str, Any]] = [] if move is not None else [
            {"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}}
            for t in request.tools
        ]
        max_tokens = request.max_tokens or persona.max_tokens
        added_tokens = 0  # outside the context built below: the move's instruction, the examples
        if move is not None:
            max_tokens = max(max_tokens, MOVE_MIN_TOKENS)
            added_tokens = self.count_tokens(move.instruction) + MESSAGE_OVERHEAD_TOKENS
        small = move is None and self._small_prompts()  # a move keeps its measured prompt
        prompt = (persona.small_prompt or persona.system_prompt) if small else \
            persona.system_prompt
        tools_in_prompt = self.params.tools_in_prompt
        if tools_in_prompt is None:
            tools_in_prompt = self.backend.tools_in_prompt
        if tools and tools_in_prompt:
            prompt += "\n\n" + tools_prompt(tools)
        examples = example_messages(persona) if small else []
        added_tokens += sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS
                                  for m in examples)
        built = build_context(
            ContextParts(persona=persona.name, persona_prompt=prompt,
                         show_prompt=self.params.show_prompt or DEFAULT_SHOW_PROMPT,
                         memories=request.memories,
                         conversation=(recent_block(request.messages) if small
                                       else request.messages),
                         chat=request.chat,
                         as_given=self.given.of(persona.name)),
            budget=(budget if budget is not None else (
                self.params.context - max_tokens - PROMPT_MARGIN_TOKENS)) - added_tokens,
            count_tokens=self.count_tokens,
        )
        if built.dropped_history or built.turn_shortened:
            self.counters["context_trimmed"] += 1
        if built.given_turn is not None:
            self.given.remember(persona.name, *built.given_turn)
        seed = self.params.seed
        sampling = persona.sampling if seed < 0 else msgspec.structs.replace(
            persona.sampling, seed=seed)
        if reseed:  # a reply generated again: other words (Rook at 0.6 drew "I'm not sure."
            # again with the next seed alone, and his turn went silent)
            sampling = msgspec.structs.replace(
                sampling, seed=None if sampling.seed is None else sampling.seed + reseed,
                temperature=max(sampling.temperature, REGENERATION_TEMPERATURE))
        messages = [*built.messages[:1], *examples, *built.messages[1:]]
        if move is not None:
            messages = with_instruction(messages, move.instruction)
        own = {persona.name.lower(), persona.speaker.lower()}
        others = [name for name in (*(p.speaker for p in self.personas.values()),
                                    *(t.name for t in reversed(request.messages) if t.name))
                  if name.lower() not in own]
        return Generation(messages=messages, sampling=sampling,
                          max_tokens=max_tokens, model=persona.adapter, persona=persona.name,
                          stop=[*persona.stop, *label_stops(others)],
                          prompt_tokens=built.tokens + added_tokens,
                          tools=[] if tools_in_prompt else tools,
                          response_schema=move.schema if move is not None else None,
                          images=list(request.images))

    def _recent_lines(self, request: LlmRequest, persona: Persona,
                      move: MoveFormat | None) -> list[str]:
        """What a sentence must not copy, with the small style only (the bundled model copies
        what is in front of it): the conversation's last `RECENT_LINES` and the persona's
        example replies. A large model is trusted to repeat only on purpose, and the
        stand-in backends repeat by design (the scripted one says one reply: cut as a copy,
        every stand-in show after its first turn went silent). A move's line is never cut:
        a move is not asked again, and a silent one leaves viewers guessing (in the e2e game
        show Mika's seventh move went unheard; with its line kept, every move is)."""
        if move is not None or not self._small_prompts():
            return []
        return [*(e.reply for e in persona.examples),
                *(t.content for t in request.messages[-RECENT_LINES:])]

    def _small_prompts(self) -> bool:
        """Whether requests get the prompts made for a small model (``prompt_style``)."""
        params = self.params
        return chosen_style(params.prompt_style, params.backend, params.model_path) == "small"

    def _speakers(self, request: LlmRequest) -> set[str]:
        """Everyone who may speak: every persona and everyone named in the conversation
        (small models copy the ``name: text`` format of the conversation into their
        answer, so these names are labels to remove, or to stop at)."""
        return {*(n for p in self.personas.values() for n in (p.name, p.speaker)),
                *(t.name for t in request.messages if t.name)}

    def _refuse(self, request: LlmRequest, header: Header, reason: str) -> None:
        """Bad input: counted, logged once per sender (in bounded memory), answered with an
        error (the director waits for llm/done)."""
        self.counters["bad_requests"] += 1
        self.report_bad_input(header.publisher, "llm/request",
                              f"request {request.request_id!r} refused: {reason}")
        self.done_pub.publish(LlmDone(request_id=request.request_id, persona=request.persona,
                                      text="", error=reason))

    def _fail(self, request: LlmRequest, persona: Persona, error: str,
              reply: ReplyAssembler | MoveReply | None) -> None:
        """The backend failed: say so on system/log and llm/done; the node serves on."""
        self.counters["errors"] += 1
        self.log.warning("request %s failed: %s", request.request_id, error)
        self._publish(request, persona, [], final=True,
                      next_index=len(reply.sentences) if reply else 0)
        self.done_pub.publish(LlmDone(request_id=request.request_id, persona=persona.name,
                                      text=reply.spoken_text if reply else "", error=error))
