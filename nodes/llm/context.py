"""Fitting a request into the model's context: a token budget filled in priority order.

Priority, highest first: the show's system prompt, the persona's prompt, memories, the current
turn, recent history (newest first), recent chat (newest first). The prompts always go in; a
memory, history turn or chat line goes in whole if it fits and is dropped otherwise (the oldest
history first, with a one-line note of how much was left out); the current turn is shortened
from its start rather than dropped. Memories may take at most ``memory_share`` of the budget, so
they never starve the turn being answered.

Both personas see the same conversation, each from its own point of view: a persona's own
lines are ``assistant`` turns, everyone else's (the other persona, viewers, the collaborator)
are ``user`` turns prefixed with the speaker's name.

The layout keeps the start of the prompt stable (show prompt, then persona prompt) so a server
that caches prompt prefixes (llama.cpp, vLLM) reuses them from one request to the next. Past
turns go back to a persona as it was given them (`GivenTurns`): a question with the memories
that came with it, its own reply as it wrote it. The conversation the director sends holds
neither, and without them the prompt would differ from the cached one at the previous
question, so the rest (the persona's own last reply, the other's) would be computed again.
A memory already given with one of those turns is not given again.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from messages.llm import ChatTurn

__all__ = ["BuiltContext", "ContextParts", "GivenTurns", "TokenCounts", "build_context",
           "estimate_tokens", "perspective"]

MESSAGE_OVERHEAD_TOKENS = 4
"""Role markers and separators a chat template adds around each message."""
NO_TURN_PROMPT = "(It is your turn to speak. Say something to keep the show going.)"

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A token count that never undercounts much without the model's tokenizer: ~3.5
    characters a token for ASCII words (English with a BPE vocabulary), and a token per UTF-8
    byte of any word with something else in it (a byte-level BPE makes at most one token of a
    byte; SmolLM2 makes 3 of each emoji and 19 of ``Z̴̢̛a̷l̸g̵o̶``, where 3.5 characters a token
    let a chat line of them overflow the context, issue 14)."""
    if text.isascii():
        return math.ceil(len(text) / 3.5)
    mixed_chars = mixed_bytes = 0
    for word in text.split():
        if not word.isascii():
            mixed_chars += len(word)
            mixed_bytes += len(word.encode("utf-8", "replace"))
    return math.ceil((len(text) - mixed_chars) / 3.5) + mixed_bytes


class TokenCounts:
    """Token counts by the model's own tokenizer (``count``: a backend's ``count_tokens``),
    cached by text, since the same turns and chat lines come back in every request; the
    estimate where the tokenizer cannot say (``count`` returns None)."""

    def __init__(self, count: Callable[[str], int | None], *, size: int = 4096):
        self._count = count
        self.size = size
        self._known: OrderedDict[bytes, int] = OrderedDict()
        self.asked = 0
        """How many counts went to the tokenizer (cache misses)."""

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        key = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
            return known
        self.asked += 1
        counted = self._count(text)
        if counted is None:  # not cached: the tokenizer may answer next time
            return estimate_tokens(text)
        self._known[key] = counted
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        return counted


@dataclass(frozen=True)
class ContextParts:
    """Everything that could go into one request, before the budget decides."""

    persona: str
    """The name the persona's own turns carry (``ChatTurn.name``, any case)."""
    persona_prompt: str
    show_prompt: str = ""
    memories: Sequence[str] = ()
    """Most relevant first."""
    conversation: Sequence[ChatTurn] = ()
    """Oldest first; the last turn not by this persona is the current turn."""
    chat: Sequence[str] = ()
    """Recent chat lines, oldest first (``"user: text"``)."""
    as_given: Mapping[str, str] = field(default_factory=dict)
    """How earlier turns were given to this persona, by their text in the conversation
    (`GivenTurns.of`): a history turn found here goes in as it was given then."""


@dataclass(frozen=True)
class BuiltContext:
    """OpenAI-style messages that fit the budget, and what was left out."""

    messages: list[dict[str, str]]
    tokens: int
    dropped_history: int = 0
    dropped_memories: int = 0
    dropped_chat: int = 0
    turn_shortened: bool = False
    notes: list[str] = field(default_factory=list)
    given_turn: tuple[str, str] | None = None
    """(the current turn's text, the turn as given with its memories), for `GivenTurns`;
    None when it went in as it is."""


class GivenTurns:
    """Per persona, how its recent turns were given to it: keeps each persona's prompt
    growing at its end only, so a prefix cache (llama.cpp's slot, vLLM's) reuses all of it."""

    def __init__(self, size: int = 256):
        self.size = size
        self._given: dict[str, OrderedDict[str, str]] = {}

    def of(self, persona: str) -> Mapping[str, str]:
        return self._given.get(persona.lower(), {})

    def remember(self, persona: str, text: str, given: str) -> None:
        """``text`` (as the conversation will hold it) was given to ``persona`` as ``given``."""
        turns = self._given.setdefault(persona.lower(), OrderedDict())
        turns[_key(text)] = given
        turns.move_to_end(_key(text))
        while len(turns) > self.size:
            turns.popitem(last=False)


def perspective(turns: Sequence[ChatTurn], persona: str) -> list[dict[str, str]]:
    """The conversation as ``persona`` sees it: its own lines as ``assistant``, everyone
    else's as ``user`` with the speaker's name; consecutive turns of one role are merged
    (several chat templates insist that roles alternate)."""
    out: list[dict[str, str]] = []
    for turn in turns:
        if _is_own(turn, persona):
            role, content = "assistant", turn.content
        elif turn.role == "system":
            role, content = "user", f"(stage direction) {turn.content}"
        else:
            role, content = "user", _named(turn)
        if out and out[-1]["role"] == role:
            out[-1]["content"] += "\n" + content
        else:
            out.append({"role": role, "content": content})
    return out


def build_context(
    parts: ContextParts,
    *,
    budget: int,
    count_tokens: TokenCounter = estimate_tokens,
    memory_share: float = 0.25,
    line_share: float = 0.25,
) -> BuiltContext:
    """Fill ``budget`` tokens in priority order (see the module docstring). A history turn or
    chat line longer than ``line_share`` of the budget is shortened to it (a turn keeps its
    end, a chat line its start), so one huge line neither fills the prompt nor pushes out all
    the history before it."""
    line_cap = max(1, int(budget * line_share))

    def cost(text: str) -> int:
        return count_tokens(text) + MESSAGE_OVERHEAD_TOKENS

    system = "\n\n".join(p for p in (parts.show_prompt, parts.persona_prompt) if p)
    used = cost(system)
    remaining = budget - used

    history, current = _split_current(parts.conversation, parts.persona)
    history = [_as_given(past, parts) for past in history]
    # a memory given with an earlier turn is still there, in that turn as given
    given_before = "\n".join(past.content for past in history) + "\n"

    memories: list[str] = []
    memory_room = min(remaining, int(budget * memory_share))
    for memory in parts.memories:
        if f"- {memory}\n" in given_before:
            continue
        line_cost = count_tokens(memory) + 1
        if line_cost <= memory_room:
            memories.append(memory)
            memory_room -= line_cost
            remaining -= line_cost
    if memories:
        remaining -= count_tokens("What you remember:") + 1

    current_msgs = perspective([current], parts.persona) if current else [
        {"role": "user", "content": NO_TURN_PROMPT}
    ]
    turn = current_msgs[0]
    turn_cost = cost(turn["content"])
    shortened = False
    if turn_cost > remaining:
        keep_tokens = max(0, remaining - MESSAGE_OVERHEAD_TOKENS)
        turn = {"role": turn["role"],
                "content": _shorten(turn["content"], keep_tokens, count_tokens, keep_end=True)}
        turn_cost = cost(turn["content"])
        shortened = True
    remaining -= turn_cost

    kept_history: list[tuple[ChatTurn, int]] = []
    for past in reversed(history):
        if cost(past.content) > line_cap:
            past = ChatTurn(role=past.role, name=past.name, content=_shorten(
                past.content, line_cap - MESSAGE_OVERHEAD_TOKENS, count_tokens, keep_end=True))
        line_cost = cost(past.content) + (count_tokens(past.name) if past.name else 0)
        if line_cost > remaining:
            break  # older turns would make the conversation jump: stop at the first gap
        kept_history.append((past, line_cost))
        remaining -= line_cost
    if len(kept_history) < len(history):  # room for the note saying so, at the oldest's cost
        while kept_history and remaining < count_tokens(_dropped_note(len(history))) + 1:
            remaining += kept_history.pop()[1]
        remaining -= count_tokens(_dropped_note(len(history) - len(kept_history))) + 1
    kept = [past for past, _ in reversed(kept_history)]
    dropped_history = len(history) - len(kept)

    chat: list[str] = []
    if parts.chat:
        remaining -= count_tokens("Recent chat (newest last):") + 1
    for line in reversed(parts.chat):
        if count_tokens(line) > line_cap:
            line = _shorten(line, line_cap, count_tokens, keep_end=False)
        line_cost = count_tokens(line) + 1
        if line_cost > remaining:
            break
        chat.append(line)
        remaining -= line_cost
    chat.reverse()

    sections = [system]
    notes: list[str] = []
    if dropped_history:
        notes.append(_dropped_note(dropped_history))
        sections.append(notes[-1])
    # memories and chat change with every request: they go with the current turn, after the
    # history, so the system prompt and the history stay a prefix the KV cache can reuse
    context = []
    if memories:
        context.append("What you remember:\n" + "\n".join(f"- {m}" for m in memories))
    if chat:
        context.append("Recent chat (newest last):\n" + "\n".join(f"- {c}" for c in chat))
    given_turn = None
    if context:
        given = "\n\n".join([*context, turn["content"]])
        if current is not None and not shortened:
            given_turn = (turn["content"], given)
        turn = {"role": turn["role"], "content": given}
    messages = [{"role": "system", "content": "\n\n".join(s for s in sections if s)}]
    messages += perspective(kept, parts.persona)
    if messages[-1]["role"] == turn["role"]:
        messages[-1] = {"role": turn["role"], "content": messages[-1]["content"] + "\n" +
                        turn["content"]}
    else:
        messages.append(turn)
    tokens = sum(cost(m["content"]) for m in messages)
    return BuiltContext(
        messages=messages,
        tokens=tokens,
        dropped_history=dropped_history,
        dropped_memories=len(parts.memories) - len(memories),
        dropped_chat=len(parts.chat) - len(chat),
        turn_shortened=shortened,
        notes=notes,
        given_turn=given_turn,
    )


def _key(text: str) -> str:
    """Turns match by their words: the director joins heard words with single spaces."""
    return " ".join(text.split())


def _as_given(turn: ChatTurn, parts: ContextParts) -> ChatTurn:
    """``turn`` as it was given to the persona, if it was; else as it is."""
    if turn.role == "system" or not parts.as_given:
        return turn
    own = _is_own(turn, parts.persona)
    given = parts.as_given.get(_key(turn.content if own else _named(turn)))
    if given is None:
        return turn
    return ChatTurn(role=turn.role, content=given, name=turn.name if own else "")


def _split_current(
    conversation: Sequence[ChatTurn], persona: str
) -> tuple[list[ChatTurn], ChatTurn | None]:
    """(history, current turn): the current turn is the last one, unless the persona spoke last
    (then it continues its own thought and there is no turn to answer)."""
    if not conversation:
        return [], None
    if _is_own(conversation[-1], persona):
        return list(conversation), None
    return list(conversation[:-1]), conversation[-1]


def _named(turn: ChatTurn) -> str:
    """``name: content``, unless the sender already wrote it so (the director does)."""
    if not turn.name or turn.content.lower().startswith(f"{turn.name.lower()}:"):
        return turn.content
    return f"{turn.name}: {turn.content}"


def _dropped_note(count: int) -> str:
    return f"({count} earlier line(s) of the conversation left out)"


def _is_own(turn: ChatTurn, persona: str) -> bool:
    """A line this persona said (names compare without case: ``mika`` is ``Mika``)."""
    return turn.role == "assistant" and turn.name.lower() in ("", persona.lower())


def _shorten(text: str, tokens: int, count_tokens: TokenCounter, *, keep_end: bool) -> str:
    """``text`` cut to fit in ``tokens``, marked with an ellipsis: its end (a long turn's
    question is at its end) or its start (a chat line's author). Cut by the estimate (no
    tokenizer call per try), then checked with ``count_tokens`` and cut shorter if it must."""
    target = tokens
    for _ in range(4):
        if target <= 0:
            break
        cut = _cut(text, target, keep_end=keep_end)
        counted = count_tokens(cut)
        if counted <= tokens:
            return cut
        target = target * tokens // counted - 1
    return ""


def _cut(text: str, tokens: int, *, keep_end: bool) -> str:
    """The longest end (or start) of ``text`` whose estimate fits in ``tokens``."""
    def piece(keep: int) -> str:
        if keep >= len(text):
            return text
        return "…" + text[len(text) - keep:] if keep_end else text[:keep] + "…"

    lo, hi = 0, len(text)
    while lo < hi:  # the most characters kept that fit
        mid = (lo + hi + 1) // 2
        if estimate_tokens(piece(mid)) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return piece(lo) if lo else ""
