"""A game on the table, from the director's side: whose move it is, and what to say about it.

The game node (``nodes/game``) publishes the latched ``game/state`` and ``game/event``.
`GameTable` keeps the latest state and offers two kinds of game turn to
`nodes.director.turns`, as `Candidate` s:

- **A move**: the state's ``turn`` is a persona of the cast, and the game is on (not
  finished, not stopped). That persona is offered the floor once per ``move_id``; its request
  (`move_request`) carries the state's actions as tools, and a prompt with the position, the
  ranked options with their notes (best first), the last moves and, on a retry, why the last
  call was refused. Its id is ``MOVE_ID/SUFFIX``: the game node applies a call whose request
  answers its current ``move_id``. A move left unanswered (the LLM failed, or the reply ended
  without a call) is the game node's to ask again, with a new ``move_id`` and ``attempt`` + 1
  (after its ``move_timeout_s``); only a move the human interrupted before its call came is
  offered once more, after them (the game is not at fault, and it costs no attempt). A move
  whose ``move_id`` is no longer the state's is stale: dropped, never asked.
- **A comment**: an event with ``speak=True`` (the outcome, an automatic move, a trivia
  question or round, a Neuro game's spoken context, chat's vote): said by the persona the
  event names (``persona``, or ``data["persona"]`` as the Neuro server puts it), else the
  game's host, else a persona who does not play (a spectator commentates), else whoever's
  turn it is to talk. Only the newest ``max_comments`` wait, none longer than
  ``comment_max_s``: the rest are dropped and counted (a game flooding events cannot hold
  the floor, nor have its news read out long after).

A comment goes before a move (it says what just happened). Chat is not starved by a game
played back to back (each move takes a whole reply): while chat waits, up to
``chat_between`` chat replies go between two game turns (0: the game always goes first).

A game that takes requests from chat (``hears_chat``: Minecraft's "Mika, come to me") answers
them with a move, so the chat line must not also get a chat reply: a new chat line is held up
to ``claim_s`` (the game node takes it within milliseconds), and a line the game took (its id
in the state's ``asks``) is dropped when chat's turn comes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence

from messages.game import ActionOption, GameAction, GameEvent, GameState
from messages.llm import ChatTurn, LlmRequest, ToolCall, ToolSpec
from nodes.director.decisions import Candidate, CommentAsk, Count, Log, MoveAsk, Out
from nodes.director.floor import Plan, Priority
from nodes.director.history import shorten

__all__ = ["GameTable", "answers", "comment_prompt", "move_prompt", "move_request", "tools"]

MOVE_ASKS_MAX = 2
"""Offers of one ``move_id``: the first, and one more after the human interrupted it."""
OPTIONS_SHOWN = 8
"""Ranked options named in a move's prompt (a chess position has 30 legal moves: the schema
still allows every one, and prompt time is the slowest hop on a CPU)."""
MOVES_SHOWN = 6
"""The last moves named in a move's prompt."""
COMMENT_CHARS = 400
TAKEN_KEPT = 256
"""Chat lines a game took, remembered (the chat node may offer one long after)."""
HELD_MAX = 64
"""Chat lines held for a game at once (a flood is answered as chat after ``claim_s``)."""
"""An event's text is cut to this in a prompt (a Neuro game's context can be long)."""

_HOW = {"question": "Read this out to chat, with every choice:"}
"""How to say an event, by its kind; others are told in the persona's own words."""


def answers(request_id: str, move_id: str) -> bool:
    """Whether a call made for ``request_id`` answers the ask ``move_id`` (the game node's
    rule: the id alone, or followed by ``/`` and anything)."""
    return bool(move_id) and (request_id == move_id or request_id.startswith(move_id + "/"))


def tools(state: GameState) -> list[ToolSpec]:
    """The mover's legal actions as tools (the schema's ``enum`` holds the legal choices)."""
    return [ToolSpec(name=action.name, description=action.description,
                     parameters=action.schema) for action in state.actions]


def _ranked(actions: Sequence[GameAction]) -> list[tuple[str, ActionOption]]:
    # best first across actions; on a tie each action keeps the game's own order
    pairs = [(action.name, option) for action in actions for option in action.options]
    return sorted(pairs, key=lambda pair: -pair[1].score)


def _choice(name: str, option: ActionOption, named: bool) -> str:
    """An option as the persona would say it: ``5``, ``column=3, row=2``, ``drop 3``."""
    arguments = option.arguments
    values = ", ".join(str(value) if len(arguments) == 1 else f"{key}={value}"
                       for key, value in arguments.items())
    text = f"{name} {values}".strip() if named else values or name
    return f"{text} ({option.note})" if option.note else text


def move_prompt(state: GameState, persona: str) -> str:
    """What the persona is told when it is its move (a small model cannot read a board: the
    game's ranked options and their notes say what is good and why)."""
    sides = [side for side, who in state.players.items() if who == persona]
    lines = [f"(It is your move in {state.game}" + (f", playing {sides[0]}." if sides else ".")]
    if state.text:
        lines.append(state.text)
    if state.moves:
        lines.append("Moves so far: " + "; ".join(state.moves[-MOVES_SHOWN:]) + ".")
    named = len(state.actions) > 1
    options = [_choice(name, option, named)
               for name, option in _ranked(state.actions)[:OPTIONS_SHOWN]]
    if options:
        lines.append("Your choices, best first: " + "; ".join(options) + ".")
    if state.attempt and state.last_error:
        lines.append(f"Your last choice was refused: {state.last_error} Choose again.")
    lines.append("Make your move with the tool, and say one short line about it to chat.)")
    return "\n".join(lines)


def comment_prompt(event: GameEvent) -> str:
    """What the persona is told to say about a game event."""
    how = _HOW.get(event.event, "Tell chat about it in your own words, in a sentence or two:")
    return f"(In the {event.game} game. {how} {shorten(event.text, COMMENT_CHARS)})"


def move_request(request_id: str, persona: str, messages: list[ChatTurn], state: GameState,
                 memories: list[str]) -> LlmRequest:
    """The request for a move: the conversation, the move's prompt last, the actions as tools."""
    return LlmRequest(request_id=request_id, persona=persona,
                      messages=[*messages, ChatTurn(role="user",
                                                    content=move_prompt(state, persona))],
                      memories=memories, tools=tools(state))


class GameTable:
    """The latest game state and the game turns waiting for the floor.

    Parameters
    ----------
    cast:
        The personas' names (a ``turn`` naming anyone else is not the director's to ask).
    moves:
        Whether the personas make their moves (off: the game node's timeouts and automatic
        moves play for them).
    comments:
        Whether spoken events are said.
    max_comments, comment_max_s:
        How many spoken events wait, and for how long at most.
    chat_between:
        Chat replies that may go between two game turns while chat waits.
    claim_s:
        How long a chat line waits for a game that takes requests from chat.
    """

    def __init__(self, cast: Sequence[str], *, moves: bool = True, comments: bool = True,
                 max_comments: int = 3, comment_max_s: float = 60.0, chat_between: int = 1,
                 claim_s: float = 0.5):
        self.cast = list(cast)
        self.moves = moves
        self.comments = comments
        self.max_comments = max_comments
        self.comment_max_s = comment_max_s
        self.chat_between = chat_between
        self.claim_s = claim_s
        self.state: GameState | None = None
        self.taken: OrderedDict[str, None] = OrderedDict()
        """Chat lines the game took as requests (not answered as chat)."""
        self.held: OrderedDict[str, float] = OrderedDict()
        """Chat line id -> until when it waits for the game to take it."""
        self.waiting: deque[CommentAsk] = deque()
        """Spoken events, oldest first."""
        self.offered = False
        """Whether the current ``move_id`` was offered (and not given back by a cut)."""
        self.offers = 0
        self.called = False
        """Whether a call answering the current ``move_id`` was seen."""
        self.chat_since_game = 0

    # ------------------------------------------------------------ inputs

    def state_changed(self, state: GameState) -> None:
        old = self.state
        self.state = state
        if old is None or old.move_id != state.move_id:
            self.offered, self.offers, self.called = False, 0, False
        for chat_id in state.asks:
            self.taken[chat_id] = None
            self.held.pop(chat_id, None)
        while len(self.taken) > TAKEN_KEPT:
            self.taken.popitem(last=False)

    def hold(self, chat_id: str, now: float) -> float:
        """A chat line arrived: while the game takes requests from chat, it waits for the game
        up to ``claim_s``; returns how long (0: not held)."""
        state = self.state
        if not (chat_id and self.claim_s > 0 and state is not None and state.hears_chat):
            return 0.0
        self.held[chat_id] = now + self.claim_s
        while len(self.held) > HELD_MAX:
            self.held.popitem(last=False)
        return self.claim_s

    def holding(self, now: float) -> bool:
        """Whether a chat line still waits for the game to take it."""
        for chat_id, until in list(self.held.items()):
            if now < until:
                return True
            del self.held[chat_id]
        return False

    def took(self, chat_id: str) -> bool:
        """Whether the game took this chat line as a request (its move answers it)."""
        return chat_id in self.taken

    def event(self, event: GameEvent, now: float) -> list[Out]:
        """A game event: a spoken one waits for a persona to say it (the newest few)."""
        if not (event.speak and self.comments and event.text.strip()):
            return []
        self.waiting.append(CommentAsk(event, now))
        outs: list[Out] = []
        while len(self.waiting) > self.max_comments:
            dropped = self.waiting.popleft()
            outs += [Count("game_comments_dropped"),
                     Log(f"too many game events to say: {dropped.event.event!r} dropped", 20)]
        return outs

    def tool_call(self, call: ToolCall) -> None:
        state = self.state
        if state is not None and answers(call.request_id, state.move_id):
            self.called = True

    def expire(self, now: float) -> list[Out]:
        """Drop the spoken events that waited longer than ``comment_max_s``."""
        outs: list[Out] = []
        while self.waiting and now - self.waiting[0].at > self.comment_max_s:
            dropped = self.waiting.popleft()
            outs += [Count("game_comments_dropped"),
                     Log(f"the game's {dropped.event.event!r} waited more than "
                         f"{self.comment_max_s:g} s for the floor: dropped", 20)]
        return outs

    # ------------------------------------------------------------ the next game turn

    def current(self, move: MoveAsk) -> GameState | None:
        """The state that still asks for ``move`` (its latest text and options), or None: the
        move is stale (played, asked again under a new id, the game over or stopped)."""
        state = self.state
        if (state is None or not self.moves or state.move_id != move.move_id
                or not self._asks_a_persona(state)):
            return None
        return state

    def _asks_a_persona(self, state: GameState) -> bool:
        # a move without actions could not be answered by a call: the game node's to sort out
        return bool(state.game and state.move_id and state.actions) and not state.finished and (
            state.turn in self.cast)

    def chat_first(self, chat_waiting: bool) -> bool:
        """Whether chat goes before the game's next turn."""
        return chat_waiting and self.chat_since_game < self.chat_between

    def next_turn(self, talker: str) -> Candidate | None:
        """The next game turn: a spoken event (``talker``: who says one that names nobody),
        else the move waiting, if not offered yet; None: the game wants nothing."""
        if self.waiting:
            comment = self.waiting.popleft()
            persona = self.speaker(comment.event) or talker
            return Candidate(Plan(persona, "game", Priority.GAME,
                                  shorten(comment.event.text, COMMENT_CHARS)),
                             keep=True, game=comment)
        state = self.state
        if state is None or self.offered or not self.moves or not self._asks_a_persona(state):
            return None
        self.offered = True
        self.offers += 1
        return Candidate(Plan(state.turn, "move", Priority.GAME, reply_to=state.move_id),
                         keep=True, game=MoveAsk(state))

    def speaker(self, event: GameEvent) -> str:
        """Who says ``event``: the persona it names, the host, a spectator; "" anyone."""
        for named in (event.persona, event.data.get("persona")):
            if named in self.cast:
                return str(named)
        players = self.state.players if self.state is not None else {}
        host = players.get("host", "")
        if host in self.cast:
            return host
        spectators = [name for name in self.cast if name not in players.values()]
        return spectators[0] if spectators else ""

    def interrupted(self, move: MoveAsk) -> None:
        """The human cut ``move``'s turn: offered once more, if no call answered it yet."""
        if self.current(move) is not None and not self.called and self.offers < MOVE_ASKS_MAX:
            self.offered = False

    def started(self, plan: Plan) -> None:
        """A turn took the floor: count chat replies since the game's last turn."""
        if plan.why in ("move", "game"):
            self.chat_since_game = 0
        elif plan.why in ("chat", "addressed"):
            self.chat_since_game += 1
