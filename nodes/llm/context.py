"""Fitting a request into the model's context: a token budget filled in priority order.

Priority, highest first: the show's system prompt, the persona's prompt, memories, the current
turn, recent history (newest first), recent chat (newest first). The prompts always go in; a
memory, history turn or chat line goes in whole if it fits and is dropped otherwise (the oldest
history first, with a one-line note of how much was left out); the current turn is shortened
from its start rather than dropped. Memories may take at most ``memory_share`` of the budget, so
they never starve the turn being answered. `build_context` runs one phase per part, in that
order (`fit_system`, `fit_memories`, `fit_turn`, `fit_history`, `fit_chat`), each charging
what it keeps to one `TokenBudget`.

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

__all__ = ["BuiltContext", "ContextParts", "GivenTurns", "TokenBudget", "TokenCounts",
           "build_context", "estimate_tokens", "fit_chat", "fit_history", "fit_memories",
           "fit_system", "fit_turn", "perspective"]

MESSAGE_OVERHEAD_TOKENS = 4
"""Role markers and separators a chat template adds around each message."""
NO_TURN_PROMPT = "(It is your turn to speak. Say something to keep the show going.)"
MEMORY_HEADER = "What you remember:"
CHAT_HEADER = "Recent chat (newest last):"

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


@dataclass
class TokenBudget:
    """The tokens left for the prompt, and how each part is counted against them.

    A part that may be left out goes in only if it fits (`take`); the parts that always go
    in (the prompts, the current turn, a section's header) are charged whatever they cost
    (`spend`), which can leave ``remaining`` below zero: the parts after them then find no
    room.
    """

    remaining: int
    count: TokenCounter = estimate_tokens
    """The model's tokenizer (cached, `TokenCounts`) or the estimate."""
    line_cap: int = 1
    """The most one history turn or chat line may cost: a longer one is shortened."""

    def take(self, cost: int) -> bool:
        """Charge ``cost`` if it fits; False (nothing charged) if it does not."""
        if cost > self.remaining:
            return False
        self.remaining -= cost
        return True

    def spend(self, cost: int) -> None:
        """Charge ``cost``, fitting or not."""
        self.remaining -= cost

    def refund(self, cost: int) -> None:
        """Give back what a part that is taken out again cost."""
        self.remaining += cost

    def message_cost(self, text: str) -> int:
        """A message of its own: its text and the chat template's markers around it."""
        return self.count(text) + MESSAGE_OVERHEAD_TOKENS

    def line_cost(self, text: str) -> int:
        """A line in a list or a section: its text and its line break."""
        return self.count(text) + 1


def build_context(
    parts: ContextParts,
    *,
    budget: int,
    count_tokens: TokenCounter = estimate_tokens,
    memory_share: float = 0.25,
    line_share: float = 0.25,
) -> BuiltContext:
    """Fill ``budget`` tokens in priority order (see the module docstring), one phase each.
    A history turn or chat line longer than ``line_share`` of the budget is shortened to it
    (a turn keeps its end, a chat line its start), so one huge line neither fills the prompt
    nor pushes out all the history before it."""
    room = TokenBudget(budget, count_tokens, line_cap=max(1, int(budget * line_share)))
    system = fit_system(parts, room)
    history, current = _split_current(parts.conversation, parts.persona)
    history = [_as_given(past, parts) for past in history]
    # a memory given with an earlier turn is still there, in that turn as given
    given_before = "\n".join(past.content for past in history) + "\n"
    memories = fit_memories(parts.memories, given_before, room, int(budget * memory_share))
    turn, shortened = fit_turn(current, parts.persona, room)
    kept = fit_history(history, room)
    chat = fit_chat(parts.chat, room)

    dropped_history = len(history) - len(kept)
    notes = [_dropped_note(dropped_history)] if dropped_history else []
    asked = _with_context(turn, memories, chat)
    given_turn = None
    if asked is not turn and current is not None and not shortened:
        given_turn = (turn["content"], asked["content"])
    messages = _messages("\n\n".join(s for s in [system, *notes] if s), kept, asked,
                         parts.persona)
    return BuiltContext(
        messages=messages,
        tokens=sum(room.message_cost(m["content"]) for m in messages),
        dropped_history=dropped_history,
        dropped_memories=len(parts.memories) - len(memories),
        dropped_chat=len(parts.chat) - len(chat),
        turn_shortened=shortened,
        notes=notes,
        given_turn=given_turn,
    )


def fit_system(parts: ContextParts, room: TokenBudget) -> str:
    """The show's prompt, then the persona's: always in, first (a stable prefix)."""
    system = "\n\n".join(p for p in (parts.show_prompt, parts.persona_prompt) if p)
    room.spend(room.message_cost(system))
    return system


def fit_memories(memories: Sequence[str], given_before: str, room: TokenBudget,
                 share: int) -> list[str]:
    """The memories that fit in ``share`` tokens (and in ``room``), most relevant first; one
    that does not fit is skipped for a shorter one after it, one already in ``given_before``
    (an earlier turn as given) is not given again."""
    own = TokenBudget(min(room.remaining, share))
    kept = []
    for memory in memories:
        if f"- {memory}\n" in given_before:
            continue
        cost = room.line_cost(memory)
        if own.take(cost):
            room.spend(cost)
            kept.append(memory)
    if kept:
        room.spend(room.line_cost(MEMORY_HEADER))
    return kept


def fit_turn(current: ChatTurn | None, persona: str,
             room: TokenBudget) -> tuple[dict[str, str], bool]:
    """(the message to answer, whether it was shortened): the current turn, shortened from
    its start to what is left if it must be (its question is at its end), or the prompt to
    speak when there is no turn to answer."""
    turn = perspective([current], persona)[0] if current else {
        "role": "user", "content": NO_TURN_PROMPT}
    shortened = room.message_cost(turn["content"]) > room.remaining
    if shortened:
        keep = max(0, room.remaining - MESSAGE_OVERHEAD_TOKENS)
        turn = {"role": turn["role"],
                "content": _shorten(turn["content"], keep, room.count, keep_end=True)}
    room.spend(room.message_cost(turn["content"]))
    return turn, shortened


def fit_history(history: Sequence[ChatTurn], room: TokenBudget) -> list[ChatTurn]:
    """The newest turns that fit, oldest first, each shortened to ``line_cap``: they stop at
    the first that does not (older turns would make the conversation jump), and room is made
    for the note saying how many were left out (at the cost of the oldest kept)."""
    kept: list[tuple[ChatTurn, int]] = []
    for past in reversed(history):
        past = _capped(past, room)
        cost = room.message_cost(past.content) + (room.count(past.name) if past.name else 0)
        if not room.take(cost):
            break
        kept.append((past, cost))
    if len(kept) < len(history):
        while kept and room.remaining < room.line_cost(_dropped_note(len(history))):
            room.refund(kept.pop()[1])
        room.spend(room.line_cost(_dropped_note(len(history) - len(kept))))
    return [past for past, _ in reversed(kept)]


def fit_chat(lines: Sequence[str], room: TokenBudget) -> list[str]:
    """The newest chat lines that fit, oldest first, each shortened to ``line_cap`` (keeping
    its start: who wrote it)."""
    if lines:
        room.spend(room.line_cost(CHAT_HEADER))
    kept = []
    for line in reversed(lines):
        if room.count(line) > room.line_cap:
            line = _shorten(line, room.line_cap, room.count, keep_end=False)
        if not room.take(room.line_cost(line)):
            break
        kept.append(line)
    return kept[::-1]


def _capped(turn: ChatTurn, room: TokenBudget) -> ChatTurn:
    """``turn`` shortened (keeping its end) to cost at most ``line_cap``."""
    if room.message_cost(turn.content) <= room.line_cap:
        return turn
    return ChatTurn(role=turn.role, name=turn.name, content=_shorten(
        turn.content, room.line_cap - MESSAGE_OVERHEAD_TOKENS, room.count, keep_end=True))


def _with_context(turn: dict[str, str], memories: list[str],
                  chat: list[str]) -> dict[str, str]:
    """``turn`` with the memories and chat that go with it (before it), or ``turn`` itself
    when there are none. They change with every request: after the history, so the system
    prompt and the history stay a prefix the KV cache can reuse."""
    context = []
    if memories:
        context.append(MEMORY_HEADER + "\n" + "\n".join(f"- {m}" for m in memories))
    if chat:
        context.append(CHAT_HEADER + "\n" + "\n".join(f"- {c}" for c in chat))
    if not context:
        return turn
    return {"role": turn["role"], "content": "\n\n".join([*context, turn["content"]])}


def _messages(system: str, history: list[ChatTurn], turn: dict[str, str],
              persona: str) -> list[dict[str, str]]:
    """The system message, the history from ``persona``'s point of view, then ``turn``
    (merged into the last message when that has its role: roles alternate)."""
    messages = [{"role": "system", "content": system}, *perspective(history, persona)]
    if messages[-1]["role"] == turn["role"]:
        messages[-1] = {"role": turn["role"],
                        "content": messages[-1]["content"] + "\n" + turn["content"]}
    else:
        messages.append(turn)
    return messages


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
