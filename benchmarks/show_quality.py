"""Show quality: what the personas said to a fixed script of chat lines, scored.

Runs the whole show (`vtlaunch stream.launch.toml` with the bundled models, ``llm_seed`` fixed,
no microphone or avatar, audio to WAV files), puts a fixed script of chat lines into
``chat/incoming`` one at a time (the next when the show has gone quiet: the answer and the
banter after it are over), records the run as a bag and scores every sentence that reached
TTS (``llm/sentence``, which the tts node speaks):

- ``stage_directions_spoken_pct``: sentences holding text in parentheses or asterisks, or a
  bracket (a tag left unparsed): "(smiling mischievously)" read aloud.
- ``name_labels_spoken_pct``: sentences with a ``Name:`` label at their start or at the start
  of a sentence inside them ("Mika: hi", "mike: Rook, ...").
- ``self_name_pct``: a persona's sentences that hold her own name ("Mika here!").
- ``repeated_pct``: sentences copied from the last `RECENT_LINES` lines of the conversation
  (chat lines and replies, the reply's own earlier sentences included): of
  `MIN_REPEAT_WORDS` words or more found word for word inside one, or nearly (`NEAR_COPY`
  similarity); shorter ones (`MIN_EXACT_WORDS` or more) when they are one of its sentences.
- ``on_topic_pct``: replies to a chat line (or, for banter, to the other persona's reply)
  that share a content word with it, or a content word whose embedding (the memory node's
  all-MiniLM-L6-v2) is within `NEIGHBOUR_COSINE` of one of its content words.
- ``emotion_nonneutral_pct``: sentences whose emotion is not ``neutral``.
- ``e2e_p50_ms``: chat line -> first audible sample of its answer (`benchmarks.e2e`'s chains).

``--quick``: the first `QUICK_LINES` lines (a CI test runs it). ``--seeds 7,11``: one show per
seed, the figures summed over all. ``--dump FILE`` writes every scored sentence as JSON.
``--rescore BAG...`` scores shows recorded before (``--bag-dir`` keeps them).

Usage: ``python benchmarks/show_quality.py [--json] [--quick] [--seeds 7] [--dump FILE]``.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder would come first and its bus.py shadow the `bus` package
sys.path[:1] = [str(ROOT)]

from benchmarks.report import arguments, emit, machine  # noqa: E402

LAUNCH = ROOT / "launch" / "stream.launch.toml"
PERSONAS = ("mika", "rook")
SCRIPT: tuple[tuple[str, str], ...] = (
    # (viewer, line): addressed to one persona, to both, or to nobody; some invite a stage
    # direction ("do a dance"), some an emotion, some a name label or a repeat
    ("alice", "Hi Mika! What is your favourite game?"),
    ("bob", "Rook, what do you think about chess?"),
    ("carol", "Good evening everyone, I just got home from work."),
    ("dave", "Mika, can you do a little dance for us?"),
    ("erin", "What should I cook for dinner tonight?"),
    ("frank", "Rook, tell me a joke."),
    ("grace", "My cat knocked my coffee off the table again."),
    ("heidi", "Mika, do you like the rain?"),
    ("ivan", "Who is smarter, Mika or Rook?"),
    ("judy", "I am sad today, my exam went badly."),
    ("mallory", "Rook, which is better, cats or dogs?"),
    ("niaj", "What music do you listen to?"),
    ("olivia", "Mika, say hi to my little sister!"),
    ("peggy", "Have you ever been to the sea?"),
    ("rupert", "Rook, how do I win at tic-tac-toe?"),
    ("sybil", "What is the scariest movie you have seen?"),
    ("trent", "Mika, show us your evil laugh."),
    ("ursula", "I got a new puppy today, his name is Biscuit!"),
    ("victor", "Rook, what is your favourite number and why?"),
    ("walter", "Do you two ever argue?"),
    ("alice", "Mika, what did you eat for breakfast?"),
    ("bob", "It is snowing here, what is the weather like for you?"),
    ("carol", "Rook, can you recommend a good book?"),
    ("dave", "What superpower would you pick?"),
    ("erin", "Mika, are you excited for the weekend?"),
    ("frank", "Rook, do you ever get bored?"),
    ("grace", "Tell us a fun fact about space."),
    ("heidi", "Mika, what is your dream vacation?"),
    ("ivan", "What is the best pizza topping?"),
    ("judy", "Good night everyone, thanks for the stream!"),
)
QUICK_LINES = 3
RECENT_LINES = 20
MIN_REPEAT_WORDS = 4
"""Shorter sentences ("Yes, I do.") recur in any conversation without being copied..."""
MIN_EXACT_WORDS = 2
"""... unless they are a recent sentence word for word ("No, no, no!", "I'm sorry." turn after
turn; one word is left alone: "Yes!")."""
NEAR_COPY = 0.9
"""difflib ratio over words at or above which a sentence counts as copied."""
NEIGHBOUR_COSINE = 0.6
"""Two words this close in all-MiniLM-L6-v2 are neighbours: measured here, cat/kitten 0.79,
sea/ocean 0.87, coffee/tea 0.62, rain/weather 0.67, against cat/pizza 0.38, game/ocean 0.36,
dragon/story 0.18."""
SETTLE_S = 4.0
"""The show is quiet when nothing was said or played for this long (banter starts within a
tick of the turn before it ending; its request is published at once)."""
LINE_TIMEOUT_S = 240.0
ACTIVE_TOPICS = ("director/turn", "llm/sentence", "tts/audio", "audio/playhead")
TURN_TOPICS = ("director/turn", "memory/turn", "llm/done")
"""What `turns_over` reads: a probe running a show collects these."""
RECORDED = ("chat/message", "director/turn", "llm/request", "llm/sentence", "llm/done",
            "tts/audio", "audio/playhead", "memory/turn")

_STAGE = re.compile(r"[()\[\]*]")
_LABEL = re.compile(r"(?:^|[.!?…]\s+)[\"'(]*([A-Za-z][\w'-]{0,23}):(?!\d)")
_WORD = re.compile(r"[a-z][a-z']*")
STOPWORDS = frozenset((
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "but", "by", "can", "could",
    "did", "do", "does", "doing", "don't", "down", "during", "each", "even", "ever", "every",
    "few", "for", "from", "get", "got", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its",
    "just", "know", "let", "like", "ll", "me", "more", "most", "much", "my", "no", "nor",
    "not", "now", "of", "off", "oh", "ok", "okay", "on", "once", "only", "or", "other", "our",
    "out", "over", "own", "really", "right", "say", "said", "see", "she", "so", "some",
    "such", "than", "that", "that's", "the", "their", "them", "then", "there", "these",
    "they", "think", "this", "those", "through", "to", "too", "up", "us", "very", "was", "we",
    "well", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will",
    "with", "would", "yeah", "yes", "you", "you're", "your", "yours", "tell", "today",
    "tonight", "thing", "things", "lot", "going", "go", "one", "two", "let's", "sure", "hey",
    "hi", "hello",
))


# ------------------------------------------------------------------ scoring (no bus here)

@dataclass(frozen=True)
class Said:
    """One sentence that reached TTS."""

    request_id: str
    persona: str
    index: int
    text: str
    emotion: str
    stamp_ns: int


@dataclass
class Reply:
    """A persona's turn: its sentences, and the line it answers (None: nothing to answer)."""

    request_id: str
    persona: str
    why: str
    sentences: list[Said] = field(default_factory=list)
    answers: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass
class Scored:
    """A sentence with its faults (for ``--dump``)."""

    persona: str
    why: str
    text: str
    emotion: str
    stage_direction: bool
    name_label: bool
    self_name: bool
    repeated: bool


def normalise(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation."""
    return _WORD.findall(text.lower().replace("’", "'"))


def stage_direction(text: str) -> bool:
    """Text in parentheses, asterisks or brackets (or a lone one of them) was spoken."""
    return bool(_STAGE.search(text))


def name_label(text: str) -> bool:
    """A ``Name:`` label at the start of ``text`` or of a sentence inside it."""
    return bool(_LABEL.search(text))


def self_name(text: str, persona: str) -> bool:
    """``persona`` says her own name."""
    return persona.lower() in normalise(text)


def repeated(text: str, recent: Sequence[str]) -> bool:
    """``text`` is copied from one of the ``recent`` lines: (`MIN_REPEAT_WORDS` words or
    more) inside one word for word, or nearly the same as one of its sentences; (shorter, of
    `MIN_EXACT_WORDS` words or more) the same words as one of its sentences."""
    words = normalise(text)
    if len(words) < MIN_EXACT_WORDS:
        return False
    joined = " " + " ".join(words) + " "
    for line in recent:
        if len(words) >= MIN_REPEAT_WORDS and joined in " " + " ".join(normalise(line)) + " ":
            return True
        for sentence in re.split(r"(?<=[.!?…])\s+", line):
            other = normalise(sentence)
            if other == words:
                return True
            if len(words) >= MIN_REPEAT_WORDS and len(other) >= MIN_REPEAT_WORDS and \
                    difflib.SequenceMatcher(None, words, other).ratio() >= NEAR_COPY:
                return True
    return False


def content_words(text: str, names: Iterable[str] = ()) -> set[str]:
    """Words that carry the topic: no stop words, no names, plural ``s`` and ``'s`` off."""
    skip = {n.lower() for n in names}
    found = set()
    for word in normalise(text):
        word = word.removesuffix("'s").strip("'")
        if len(word) < 3 or word in STOPWORDS or word in skip:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return found


Similarity = Callable[[set[str], set[str]], float]
"""The highest cosine between a word of one set and a word of the other."""


def on_topic(reply: str, line: str, similarity: Similarity | None,
             names: Iterable[str] = ()) -> bool:
    """``reply`` shares a content word with ``line``, or has one within `NEIGHBOUR_COSINE`
    of one of its content words (``similarity``; None: shared words only)."""
    ours, theirs = content_words(reply, names), content_words(line, names)
    if ours & theirs:
        return True
    return bool(similarity and ours and theirs and similarity(ours, theirs) >= NEIGHBOUR_COSINE)


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def score(replies: Sequence[Reply], chat: Sequence[tuple[int, str]],
          similarity: Similarity | None = None,
          names: Iterable[str] = ()) -> tuple[dict[str, Any], list[Scored]]:
    """The figures of a show: ``replies`` in the order spoken, ``chat`` as (stamp, line)."""
    names = {*PERSONAS, *names}
    events: list[tuple[int, str, Reply | None]] = [(stamp, text, None) for stamp, text in chat]
    events += [(r.sentences[0].stamp_ns, "", r) for r in replies if r.sentences]
    events.sort(key=lambda e: e[0])
    lines: list[str] = []
    scored: list[Scored] = []
    answered = topical = 0
    for _, text, reply in events:
        if reply is None:
            lines.append(text)
            continue
        recent = lines[-RECENT_LINES:]
        for n, said in enumerate(reply.sentences):
            earlier = [s.text for s in reply.sentences[:n]]
            scored.append(Scored(
                persona=reply.persona, why=reply.why, text=said.text, emotion=said.emotion,
                stage_direction=stage_direction(said.text), name_label=name_label(said.text),
                self_name=self_name(said.text, reply.persona),
                repeated=repeated(said.text, [*recent, *earlier])))
        if reply.answers is not None:
            answered += 1
            topical += on_topic(reply.text, reply.answers, similarity, names)
        lines.append(reply.text)
    total = len(scored)
    figures: dict[str, Any] = {
        "sentences": total,
        "replies": sum(1 for r in replies if r.sentences),
        "stage_directions_spoken_pct": pct(sum(s.stage_direction for s in scored), total),
        "name_labels_spoken_pct": pct(sum(s.name_label for s in scored), total),
        "self_name_pct": pct(sum(s.self_name for s in scored), total),
        "repeated_pct": pct(sum(s.repeated for s in scored), total),
        "on_topic_pct": pct(topical, answered),
        "emotion_nonneutral_pct": pct(sum(s.emotion != "neutral" for s in scored), total),
    }
    for persona in sorted({s.persona for s in scored}):
        own = [s for s in scored if s.persona == persona]
        figures[f"{persona}_sentences"] = len(own)
        figures[f"{persona}_self_name_pct"] = pct(sum(s.self_name for s in own), len(own))
    return figures, scored


def replies_of(messages: Sequence[Any]) -> tuple[list[Reply], list[tuple[int, str]]]:
    """The replies (with the line each answers) and the chat lines of a recorded show."""
    chat = {m.msg.id: (m.header.stamp_ns, m.msg.text) for m in messages
            if m.topic == "chat/message"}
    turns = {m.msg.request_id: m.msg for m in messages if m.topic == "director/turn"}
    replies: dict[str, Reply] = {}
    for m in messages:
        if m.topic != "llm/sentence" or not m.msg.text.strip():
            continue
        turn = turns.get(m.msg.request_id)
        reply = replies.setdefault(m.msg.request_id, Reply(
            m.msg.request_id, m.msg.persona, turn.why if turn else ""))
        reply.sentences.append(Said(m.msg.request_id, m.msg.persona, m.msg.index, m.msg.text,
                                    m.msg.emotion, m.header.stamp_ns))
    ordered = sorted(replies.values(), key=lambda r: r.sentences[0].stamp_ns)
    previous: Reply | None = None
    for reply in ordered:
        reply.sentences.sort(key=lambda s: s.index)
        turn = turns.get(reply.request_id)
        if turn is not None and turn.why in ("chat", "addressed") and turn.reply_to in chat:
            reply.answers = chat[turn.reply_to][1]
        elif reply.why == "banter" and previous is not None:
            reply.answers = previous.text
        previous = reply
    return ordered, sorted(chat.values())


class WordNeighbours:
    """`Similarity` by all-MiniLM-L6-v2 (the memory node's bundled encoder), words cached."""

    def __init__(self) -> None:
        from nodes.memory.embeddings import MiniLmEncoder
        self.encoder = MiniLmEncoder()
        self._vectors: dict[str, Any] = {}

    def __call__(self, ours: set[str], theirs: set[str]) -> float:
        new = sorted((ours | theirs) - self._vectors.keys())
        if new:
            self._vectors.update(zip(new, self.encoder.encode(new), strict=True))
        return max(float(self._vectors[a] @ self._vectors[b]) for a in ours for b in theirs)


# ------------------------------------------------------------------ the show

async def run_show(seed: int, lines: Sequence[tuple[str, str]], bag: Path,
                   work: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """One show through ``lines``; the bag holds what was said. Returns the run's counts."""
    from bus.bag import Recorder
    from bus.testing import Probe
    from launch.testing import LaunchProcess
    from messages.chat import ChatMessage

    args = ["mic:=false", "avatar:=false", "audio_device:=wav", "quiet_s:=1000",
            f"memory_path:={work / f'memory-{seed}'}", f"llm_seed:={seed}", *extra]
    unanswered = 0
    with LaunchProcess(LAUNCH, args) as show:
        await asyncio.to_thread(show.wait_output, "every node on the bus", 300)
        async with Probe(show.bus_url, "_quality") as probe, \
                Recorder(bag, bus=show.bus_url, topics=RECORDED):
            for topic in {*ACTIVE_TOPICS, *TURN_TOPICS}:
                probe.collect(topic)
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)
            await asyncio.sleep(1.0)  # the recorder's subscriptions settle
            await _quiet(probe, LINE_TIMEOUT_S)  # a greeting, if the show gives one
            for n, (user, text) in enumerate(lines):
                line_id = f"q{seed}-{n}"
                chat.publish(ChatMessage(platform="console", user=user, user_id=user,
                                         text=text, id=line_id))
                try:
                    await probe.wait_for("director/turn", timeout=LINE_TIMEOUT_S,
                                         where=lambda t, i=line_id: t.reply_to == i)
                except TimeoutError:
                    unanswered += 1
                await _quiet(probe, LINE_TIMEOUT_S)
        await asyncio.to_thread(show.interrupt, 60)
    return {"unanswered": unanswered}


def turns_over(probe: Any) -> bool:
    """Whether every turn the director began is over: remembered (``memory/turn``) or its
    reply came out empty (nothing said, nothing remembered)."""
    begun = {turn.request_id for turn in probe.messages("director/turn")}
    over = {t.turn_id for t in probe.messages("memory/turn")} | {
        d.request_id for d in probe.messages("llm/done") if not d.text}
    return begun <= over


async def _quiet(probe: Any, timeout: float) -> None:
    """Until every turn is over and nothing was said or played for `SETTLE_S` (or
    ``timeout``). A voice can synthesise for seconds without a message (Kokoro on a loaded
    machine), so silence alone ended a wait mid-turn and the next line queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = max((header.stamp_ns for topic in ACTIVE_TOPICS
                    for header, _ in probe.received[topic]), default=0)
        if turns_over(probe) and time.time_ns() - last >= SETTLE_S * 1e9:
            return
        await asyncio.sleep(0.5)


def measure(seeds: Sequence[int], lines: Sequence[tuple[str, str]], *,
            bag_dir: Path | None = None, extra: Sequence[str] = ()
            ) -> tuple[dict[str, Any], list[Scored]]:
    """Run one show per seed and score them together."""
    work = Path(tempfile.mkdtemp(prefix="vt-quality-", dir="/tmp"))
    bags = bag_dir or work
    bags.mkdir(parents=True, exist_ok=True)
    unanswered = 0
    started = time.monotonic()
    for seed in seeds:
        bag = bags / f"quality-{seed}.mcap"
        unanswered += asyncio.run(run_show(seed, lines, bag, work, extra))["unanswered"]
    figures, scored = score_bags([bags / f"quality-{seed}.mcap" for seed in seeds])
    return {"machine": machine(), "seeds": list(seeds), "chat_lines": len(lines) * len(seeds),
            "unanswered": unanswered, **figures,
            "run_s": round(time.monotonic() - started, 1)}, scored


def score_bags(bags: Sequence[Path]) -> tuple[dict[str, Any], list[Scored]]:
    """The figures of recorded shows, scored together (``e2e_p50_ms``: the median of each
    show's own)."""
    from benchmarks.e2e import summarise
    from bus.bag import read_messages

    replies: list[Reply] = []
    chat: list[tuple[int, str]] = []
    totals: list[float] = []
    for bag in bags:
        messages = list(read_messages(bag, strict=False))
        found, lines_seen = replies_of(messages)
        replies += found
        chat += lines_seen
        e2e = summarise(messages)
        if "total_p50_ms" in e2e:
            totals.append(e2e["total_p50_ms"])
    figures, scored = score(replies, chat, WordNeighbours(), names=[user for user, _ in SCRIPT])
    figures["e2e_p50_ms"] = round(statistics.median(totals), 1) if totals else None
    return figures, scored


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"the first {QUICK_LINES} chat lines only (CI)")
    parser.add_argument("--seeds", default="7",
                        help="comma list of llm_seed values, one show each")
    parser.add_argument("--bag-dir", type=Path, default=None, help="keep the bags here")
    parser.add_argument("--dump", type=Path, default=None,
                        help="write every scored sentence here as JSON")
    parser.add_argument("--launch-arg", action="append", default=[],
                        help="another launch argument (name:=value), e.g. banter_turns:=0")
    parser.add_argument("--rescore", type=Path, nargs="+", default=None, metavar="BAG",
                        help="score these recorded shows instead of running one")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    lines = SCRIPT[:QUICK_LINES] if args.quick else SCRIPT
    if args.rescore:
        figures, scored = score_bags(args.rescore)
        figures = {"machine": machine(), "bags": [str(b) for b in args.rescore], **figures}
    else:
        figures, scored = measure(seeds, lines, bag_dir=args.bag_dir, extra=args.launch_arg)
    if args.dump is not None:
        args.dump.write_text(json.dumps([asdict(s) for s in scored], indent=1))
    return emit(figures, args.json)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
