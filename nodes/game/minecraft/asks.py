"""Requests read from chat: "Mika, come to me", "@rook get some dirt", "rook: dig 3 dirt".

A line is an ask only when it starts by naming a persona and what follows is a request.
Known requests become an intent whose arguments are pinned (a 135M model then only has to
call the one action); a request with a verb the bots can act on but no known shape becomes a
``task`` in free text, for a skill; anything else addressed to a persona ("mika you're cute",
"rook, how are you?") is chat, answered by the director, and `parse_ask` returns None.

Pure and bounded: the text is a viewer's, so only its first `MAX_TEXT` characters are read,
every pattern is anchored, counts are capped at `MAX_COUNT`, and nothing is evaluated.
An ask the game cannot carry out still parses, with `Ask.problem` saying why (an unknown
block, an asker with no player in the world), so the persona can say so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal, get_args

import msgspec

from nodes.game.minecraft.checks import Check

__all__ = ["DEFAULT_COUNT", "INTENTS", "MAX_COUNT", "MAX_TEXT", "Ask", "Intent", "parse_ask"]

MAX_TEXT = 300
"""Characters of a chat line read; the rest is ignored."""
MAX_COUNT = 64
"""Most blocks one ask collects (a stack)."""
DEFAULT_COUNT = 3
"""Blocks collected when the line gives no number ("get some dirt")."""
NEAR_PLAYER = 3.0
"""Blocks from a player that count as "there" (the pathfinder stops within 2)."""
NEAR_POSITION = 2.0
"""Blocks from coordinates that count as "there" (the pathfinder stops within 1)."""
WORLD_LIMIT = 30_000_000
"""Coordinates beyond Minecraft's world border cannot be walked to."""

Intent = Literal["come", "goto_player", "follow", "collect", "goto", "goto_block", "place", "stop",
                 "task"]
INTENTS: tuple[str, ...] = get_args(Intent)


class Ask(msgspec.Struct, frozen=True, kw_only=True):
    """A chat line the game takes as a request to one persona's bot.

    Attributes
    ----------
    persona:
        The persona addressed (a key of ``cast``).
    text:
        The request after the name ("come to me"), at most `MAX_TEXT` characters.
    intent:
        What to do (`INTENTS`); ``task`` is free text for a skill.
    arguments:
        The sidecar op's arguments (``come`` and ``goto_player``: op ``goto_player``; ``place``
        gets its position from the game; ``task``: ``{"task": text}``).
    check:
        What must hold afterwards (`checks.verify`); an ``inventory`` check carries the count
        and gets its baseline from the state before (`checks.with_baseline`).
    asker:
        Who asked (the chat user).
    chat_id:
        The chat message's id.
    platform:
        The chat message's platform.
    problem:
        Why the game must refuse it, in words; empty when it can be tried.
    """

    persona: str
    text: str
    intent: Intent
    arguments: dict[str, Any]
    check: Check
    asker: str
    chat_id: str = ""
    platform: str = ""
    problem: str = ""


# --- vocabulary -----------------------------------------------------------------------------

_NUMBER = r"[-+]?\d{1,9}(?:\.\d{1,6})?"
_PLAYER = r"@?(?P<player>[A-Za-z0-9_]{1,16})"
_ADDRESS = re.compile(
    r"\s*(?:(?:hey|hi|hello|yo|oi|ok|okay|dear)[\s,]+)?@?(?P<name>[A-Za-z0-9_]{1,32})"
    r"(?:[\s,:;.!\-]+|$)(?P<rest>.*)", re.IGNORECASE | re.DOTALL)
_POLITE_START = re.compile(
    r"(?:please|pls|plz|kindly|(?:can|could|would|will) (?:you|u)|i (?:want|need) you to|"
    r"go ahead and|try (?:to|and)|quickly|now|and)\b[\s,]*", re.IGNORECASE)
_POLITE_END = re.compile(
    r"[\s,]*\b(?:please|pls|plz|now|right now|for me|thanks|thank you|quickly|asap)$",
    re.IGNORECASE)
_CLAUSE_END = re.compile(r"[!?;\n]|\.(?!\d)")

_STOP = re.compile(
    r"(?:stop|halt|cancel|freeze|hold on|stand still|stay(?: there| here)?|wait(?: there| here)?)"
    r"(?: it| that| everything| (?:following|moving|walking)(?: me)?| what you(?:'re| are) doing)?",
    re.IGNORECASE)
_COME = re.compile(
    r"come(?: back| over)?(?: here| over here| to me| my way)?|"
    r"(?:get|run|walk|hurry|go)(?: back| over)? (?:here|to me|over here)", re.IGNORECASE)
_FOLLOW = re.compile(r"(?:keep )?follow(?:ing)? " + _PLAYER + r"(?: around)?", re.IGNORECASE)
_GO = r"(?:goto|(?:go|walk|run|move|head|travel|get|come)(?: over| back)? to)"
_GOTO = re.compile(
    _GO + r"\s*(?:the )?(?:coordinates?|coords|position|pos|location|spot|point)?\s*:?\s*\(?\s*"
    r"(?:x\s*=?\s*)?(?P<x>" + _NUMBER + r")[\s,]+(?:y\s*=?\s*)?(?P<y>" + _NUMBER + r")[\s,]+"
    r"(?:z\s*=?\s*)?(?P<z>" + _NUMBER + r")\s*\)?", re.IGNORECASE)
_GO_TO_THING = re.compile(
    r"(?:" + _GO + r"|find|look for|search for|locate)\s+(?P<article>(?:the |a |an |some )?"
    r"(?:(?:nearest|closest) )?)(?P<thing>[A-Za-z_@][A-Za-z0-9_ '-]{0,40})", re.IGNORECASE)
_COLLECT = re.compile(
    r"(?P<verb>collect|mine|gather|dig(?: up)?|chop(?: down)?|harvest|cut(?: down)?|break|get|"
    r"bring|fetch|grab|pick up)(?: me| us)? (?P<what>.+?)"
    r"(?: to me| to us| here| back| over here)?", re.IGNORECASE)
_STRONG_COLLECT = frozenset({"collect", "mine", "gather", "dig", "chop", "harvest", "cut", "break"})
_PLACE = re.compile(
    r"(?:place|put(?: down)?|set down)(?P<what>(?: [A-Za-z_'-]+){1,5}?)"
    r"(?: block| blocks)?(?: here| down| next to me| beside me| in front of you| in front of me)?",
    re.IGNORECASE)

_COUNT_WORDS = {
    "a": 1, "an": 1, "one": 1, "single": 1, "a single": 1, "two": 2, "couple": 2,
    "a couple": 2, "a couple of": 2, "a pair of": 2, "three": 3, "few": 3, "a few": 3,
    "some": 3, "four": 4, "five": 5, "several": 5, "six": 6, "seven": 7, "eight": 8,
    "a bunch of": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a dozen": 12,
    "dozen": 12, "lots of": 16, "a lot of": 16, "twenty": 20, "thirty": 30, "a stack of": 64,
    "a stack": 64, "stack of": 64,
}
_QUANTITY = re.compile(
    r"(?:(?P<digits>\d+)|(?P<word>" + "|".join(
        sorted((re.escape(w) for w in _COUNT_WORDS), key=len, reverse=True)) + r"))\s+(.*)",
    re.IGNORECASE | re.DOTALL)
_FILLER = re.compile(r"^(?:(?:more|of|the|some|any|blocks? of|pieces? of)\s+)+", re.IGNORECASE)
_NAME = re.compile(r"[a-z][a-z _'-]{0,40}")

_ALIASES = {
    "wood": "oak_log", "log": "oak_log", "tree": "oak_log", "plank": "oak_planks",
    "planks": "oak_planks", "wooden_plank": "oak_planks", "leaves": "oak_leaves",
    "leaf": "oak_leaves", "grass": "grass_block", "earth": "dirt", "soil": "dirt",
    "cobble": "cobblestone", "rock": "stone", "diamond": "diamond_ore", "coal": "coal_ore",
    "iron": "iron_ore", "gold": "gold_ore", "copper": "copper_ore",
}
"""Everyday words for blocks (without a list of known blocks these are the only checks)."""
_KEEP_PLURAL = frozenset({"leaves", "planks", "stairs", "bricks", "tiles", "glass", "grass", "moss"})
"""Last words that stay plural in block names (oak_planks, stone_bricks)."""
_DROPS = {
    "stone": "cobblestone", "grass_block": "dirt", "dirt_path": "dirt", "farmland": "dirt",
    "deepslate": "cobbled_deepslate", "coal_ore": "coal", "diamond_ore": "diamond",
    "iron_ore": "raw_iron", "gold_ore": "raw_gold", "copper_ore": "raw_copper",
    "redstone_ore": "redstone", "lapis_ore": "lapis_lazuli", "emerald_ore": "emerald",
}
"""What mining a block puts in the inventory, where that is not the block itself."""
_SOURCES = {"cobblestone": "stone", "cobbled_deepslate": "deepslate"}
"""Blocks to mine for an item that does not occur as a block in a fresh world."""
_TASK_VERBS = frozenset({
    "build", "make", "craft", "dig", "mine", "chop", "collect", "gather", "harvest", "bring",
    "fetch", "grab", "go", "walk", "run", "move", "head", "travel", "find", "search", "explore",
    "look", "place", "put", "plant", "jump", "equip", "hold", "attack", "kill", "fight", "hunt",
    "give", "drop", "throw", "eat", "sleep", "fish", "farm", "climb", "swim", "cross", "light",
    "open", "close", "use", "dance", "turn", "sit", "guard", "protect", "defend", "clear",
    "flatten", "fill", "cut", "destroy", "break", "smelt", "cook", "tame", "ride", "follow",
    "stack", "pick", "tunnel", "stand", "crouch", "sneak", "spin",
})
"""First words of a request the bots could act on with a skill (not "tell", "say": chat)."""


# --- parsing --------------------------------------------------------------------------------

def parse_ask(text: str, *, user: str, platform: str, cast: Mapping[str, str] | Iterable[str],
              me: str, known_blocks: Collection[str] = (), chat_id: str = "") -> Ask | None:
    """The request in a chat line addressed to a persona, or None when it is not one.

    Parameters
    ----------
    text:
        The chat line (only its first `MAX_TEXT` characters are read).
    user, platform, chat_id:
        Who wrote it, where, and its id (carried into the `Ask`).
    cast:
        The personas, or persona -> the bot's in-game name (then the bot's name addresses it
        too, and "go to Rook" goes to Rook's player).
    me:
        The asker's in-game player name; "" when the asker has no player in the world (then
        "come"/"follow me" parse with ``player: ""`` and a `Ask.problem`).
    known_blocks:
        Block names the server knows (minecraft-data); a name not among them still parses, with
        a problem ("no block called X"). Empty: names are not checked.
    """
    players = _players(cast)
    start = _ADDRESS.match(text[:MAX_TEXT])
    if start is None or start.group("name").casefold() not in players:
        return None
    persona, _ = players[start.group("name").casefold()]
    request = " ".join(start.group("rest").split())
    clause = _first_clause(request)
    if not clause:
        return None
    shape = _shape(clause, me=me, players=players, known=frozenset(known_blocks))
    if shape is None:
        return None
    intent, arguments, check, problem = shape
    return Ask(persona=persona, text=request, intent=intent, arguments=arguments, check=check,
               asker=user, chat_id=chat_id, platform=platform, problem=problem)


_Shape = tuple[Intent, dict[str, Any], Check, str]


def _shape(clause: str, *, me: str, players: dict[str, tuple[str, str]],
           known: frozenset[str]) -> _Shape | None:
    """The intent of one request clause (already stripped of politeness)."""
    if _STOP.fullmatch(clause):
        return "stop", {}, Check(), ""
    if _COME.fullmatch(clause):
        return _towards("come", me, me)
    if match := _FOLLOW.fullmatch(clause):
        return _towards("follow", _player(match.group("player"), me, players), me)
    if match := _GOTO.fullmatch(clause):
        return _goto(*(float(match.group(axis)) for axis in "xyz"))
    if match := _GO_TO_THING.fullmatch(clause):
        shape = _go_to_thing(match.group("article").strip().lower(), match.group("thing"),
                             me=me, players=players, known=known)
        if shape is not None:
            return shape
    if match := _COLLECT.fullmatch(clause):
        shape = _collect(match.group("verb").split()[0].lower(), match.group("what"), known)
        if shape is not None:
            return shape
    if match := _PLACE.fullmatch(clause):
        shape = _place(match.group("what"), known)
        if shape is not None:
            return shape
    if clause.split()[0].lower() in _TASK_VERBS:
        return "task", {"task": clause}, Check(), ""
    return None


def _towards(intent: Intent, player: str, me: str) -> _Shape:
    """Going to a player (``come``: the asker) or following one."""
    problem = "" if player else "the asker has no player in this world"
    if intent == "come" and not me:
        problem = "the asker has no player in this world to come to"
    return intent, {"player": player}, Check(kind="near", player=player, distance=NEAR_PLAYER), \
        problem


def _goto(x: float, y: float, z: float) -> _Shape:
    position = (x, y, z)
    outside = any(abs(c) > WORLD_LIMIT for c in position)
    problem = f"({x:.10g}, {y:.10g}, {z:.10g}) is outside the world" if outside else ""
    return "goto", {"x": x, "y": y, "z": z}, \
        Check(kind="near", position=position, distance=NEAR_POSITION), problem


def _go_to_thing(article: str, thing: str, *, me: str, players: dict[str, tuple[str, str]],
                 known: frozenset[str]) -> _Shape | None:
    """"go to me", "go to Rook", "go to Alice", "go to the nearest oak log", "find a tree"."""
    words = thing.split()
    if not article and len(words) == 1:
        word = words[0].lstrip("@")
        if word.lower() == "me":
            return _towards("come", me, me)
        is_known = _block(word, known)[1]
        # with no list of blocks, only the everyday block words are taken for blocks
        everyday = word.lower() in _ALIASES or word.lower() in _DROPS
        if word.casefold() in players or is_known is False or (is_known is None and not everyday):
            return _towards("goto_player", _player(word, me, players), me)
    block, is_known = _block(thing, known)
    if block is None or (is_known is False and "nearest" not in article \
            and "closest" not in article):
        return None  # "go to the village": a task, if anything
    problem = "" if is_known is not False else f"no block called {block}"
    return "goto_block", {"block": block}, Check(kind="near", block=block), problem


def _collect(verb: str, what: str, known: frozenset[str]) -> _Shape | None:
    """"get some dirt", "mine 5 stone", "chop a tree": None when it is no collecting."""
    count, said, rest = _quantity(what)
    block, is_known = _block(rest, known)
    if block is None:
        return None
    vague = said in {"", "a", "an"}
    if vague and (is_known is False or (is_known is None and verb not in _STRONG_COLLECT)):
        return None  # "dig a hole", "get lost", "bring me a diamond sword": a task or chat
    block = _SOURCES.get(block, block)
    item = _DROPS.get(block, block)
    problem = "" if is_known is not False else f"no block called {block}"
    return "collect", {"block": block, "count": count}, \
        Check(kind="inventory", item=item, count=count), problem


def _place(what: str, known: frozenset[str]) -> _Shape | None:
    """"place a dirt block", "put down some cobblestone"."""
    _, _, rest = _quantity(what.strip())
    block, is_known = _block(rest, known)
    if block is None or (is_known is False and "_" in block):
        return None  # "put a torch on the wall": a task
    problem = "" if is_known is not False else f"no block called {block}"
    return "place", {"item": block}, Check(), problem


def _quantity(what: str) -> tuple[int, str, str]:
    """(count, the words that gave it or "", the rest): "5 oak logs" -> (5, "5", "oak logs")."""
    what = what.strip()
    match = _QUANTITY.fullmatch(what)
    if match is None:
        return DEFAULT_COUNT, "", _FILLER.sub("", what)
    if match.group("digits"):
        said = match.group("digits")
        digits = said.lstrip("0") or "0"
        count = int(digits) if len(digits) <= 3 else MAX_COUNT  # never parse 300 digits
    else:
        said = match.group("word").lower()
        count = _COUNT_WORDS[said]
    return max(1, min(MAX_COUNT, count)), said, _FILLER.sub("", match.group(3))


def _block(words: str, known: frozenset[str]) -> tuple[str | None, bool | None]:
    """The block name for ``words`` and whether it is known (None: no list to know by);
    (None, None) when the words cannot be a block name."""
    words = words.strip().lower()
    if not _NAME.fullmatch(words):
        return None, None
    phrase = re.sub(r"[\s'-]+", "_", words).strip("_")
    if not phrase:
        return None, None
    singular = _singular(phrase)
    forms = [phrase, singular, _unblock(phrase), _unblock(singular)]
    if known:
        for form in forms:
            for name in (form, _ALIASES.get(form, "")):
                if name in known:
                    return name, True
        return _unblock(singular), False
    return _ALIASES.get(forms[-1], forms[-1]), None


def _singular(phrase: str) -> str:
    """"oak_logs" -> "oak_log", "oak_planks" stays (its name is plural)."""
    *head, last = phrase.split("_")
    if last in _KEEP_PLURAL or last.endswith("ss") or not last.endswith("s") or len(last) < 3:
        return phrase
    last = last[:-3] + "y" if last.endswith("ies") else last[:-1]
    return "_".join([*head, last])


def _unblock(phrase: str) -> str:
    """"dirt_block" -> "dirt" (a trailing "block" a viewer adds; grass_block is in the list)."""
    stripped = re.sub(r"_blocks?$", "", phrase)
    return stripped or phrase


def _player(name: str, me: str, players: dict[str, tuple[str, str]]) -> str:
    """The in-game name a request means: "me" is the asker, a persona is its bot."""
    name = name.lstrip("@")
    if name.casefold() == "me":
        return me
    return players.get(name.casefold(), ("", name))[1]


def _players(cast: Mapping[str, str] | Iterable[str]) -> dict[str, tuple[str, str]]:
    """casefolded persona or bot name -> (persona, bot's in-game name)."""
    pairs = cast.items() if isinstance(cast, Mapping) else ((p, p) for p in cast)
    table: dict[str, tuple[str, str]] = {}
    for persona, username in pairs:
        table[persona.casefold()] = (persona, username)
        table[username.casefold()] = (persona, username)
    return table


def _first_clause(request: str) -> str:
    """The first sentence of a request, without "please", "can you" or "thanks"."""
    clause = _CLAUSE_END.split(request, maxsplit=1)[0].strip(" ,.")
    previous = None
    while previous != clause:
        previous = clause
        if polite := _POLITE_START.match(clause):
            clause = clause[polite.end():]
        clause = _POLITE_END.sub("", clause).strip(" ,.")
    return clause
