"""End to end: chat message -> audible speech, hop by hop, read from a recorded bag.

Runs the whole show (`vtlaunch stream.launch.toml`) twice in one run: with the bundled models
(SmolLM2 on llama.cpp, Piper) and with zero-time stand-ins (``llm:=scripted tts:=tone``), so
the framework's own cost shows. Chat lines go in as `vttopic pub` would put them; every
message of a chain carries the trace of its chat line, so each hop is measured from the bag:

    chat in -> director/turn -> llm/request -> first llm/sentence -> first tts/audio -> audible

``framework_overhead_p50_ms`` is the stand-in run's chat -> first audio chunk (the budget in
DESIGN.md); ``framework_to_audible_p50_ms`` adds the speaker's output block. The stand-in run
also leaves memory out (its query embedding is a model's time, shown as
``director_to_request`` in the bundled run). ``persona_switch_ms``: from the speaker's
``finished`` playhead of one persona's turn to the director's request for the other persona
(two chat lines queued); ``turn_gap_heard_ms`` measures the same from the last audible
sample. ``barge_in_stop_ms``: from the human's voice-activity start to the speaker's ``cut``
playhead (the audio stopped). ``barge_in_heard_ms``: from the onset of a voice in a WAV played
into the show's microphone (``mic_wav``) through the real mic, VAD and STT nodes, to the
persona's last audible sample (the ``cut`` playhead's ``audible_ns``), median over
``--barge-ins`` voices; ``barge_in_vad_ms`` is its part up to the published VAD start. The mic
hears a quiet room throughout (a long WAV); at each barge-in, once a persona is into a reply
with `LEFT_S` still to say, the benchmark tells the running mic node to play the voice's WAV
(`VOICE_AT_S` of quiet, then the words; a live set of its ``wav``). The onset is that WAV's
first frame's capture stamp plus the voice's place in it, so the set itself is not in the
figure. (Restarting the mic node on the voice instead
took 2-3 s here, by which time the bundled model's short replies had mostly ended; a WAV with
voices at fixed offsets would land in silence as often as in a reply.) A voice that came
after the persona had finished cuts nothing and is counted apart (``barge_ins_cut``).
Lines that waited for a turn in progress are counted apart.

Usage: ``python benchmarks/e2e.py [--json] [--turns N] [--barge-ins N] [--modes M,...]
[--stt NAME:=VALUE] [--bag-dir DIR]`` (``--stt start_alone_threshold:=0``: the two-chunk floor).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, this folder would come first and its bus.py shadow the `bus` package
sys.path[:1] = [str(ROOT)]

from benchmarks.report import arguments, emit, machine, percentile  # noqa: E402
from benchmarks.show_quality import TURN_TOPICS, turns_over  # noqa: E402
from bus.bag import BagMessage, Recorder, read_messages  # noqa: E402
from bus.params import parse_assignment  # noqa: E402
from bus.testing import Probe  # noqa: E402
from launch.testing import LaunchProcess  # noqa: E402
from messages.chat import ChatMessage  # noqa: E402
from messages.speech import VadEvent  # noqa: E402
from messages.system import ParamSetRequest, SetParameters  # noqa: E402
from nodes.stt.testing import Scene, espeak  # noqa: E402

LAUNCH = ROOT / "launch" / "stream.launch.toml"
QUESTIONS = ("What game should we play tonight?", "Have you ever been to the sea?",
             "Which song do you like best?", "Tell us about your favourite food.",
             "What is the best movie ever made?", "Do you like the rain?")
QUEUED_MS = 500.0
INTERRUPTION = "Wait, stop, I have a question."
VOICE_AT_S = 0.2
"""Where the voice starts in the WAV the mic plays at a barge-in (a quiet room before it)."""
QUIET_ROOM_S = 900.0
"""The mic hears a quiet room between barge-ins, without a gap, as a real one does: the stt
node's echo gate learns the echo path from what the mic hears while the personas speak (a mic
silent but for the voices learnt the voices as echo: the later cuts came 0.7 s late)."""
STORIES = ("Tell a story about a dragon.", "Tell a story about the sea.",
           "Tell a story about a robot.", "Tell a story about a lost cat.",
           "Tell a story about a haunted castle.", "Tell a story about a space trip.",
           "Tell a story about a baker.", "Tell a story about a storm.")
"""Long replies to cut: a different one each time (the llm node cuts copies of recent lines)."""
HOPS = ("chat_to_director", "director_to_request", "request_to_first_sentence",
        "first_sentence_to_first_audio", "first_audio_to_audible")


def asked(messages: list[BagMessage]) -> list[BagMessage]:
    """The requests for words: not the director's prefills (prompts computed ahead)."""
    return [m for m in messages if m.topic == "llm/request" and not m.msg.prefill]


def chains(messages: list[BagMessage]) -> list[dict[str, float]]:
    """Per chat line answered: the stamp of each step, from the bag."""
    requests = {m.msg.request_id: m for m in asked(messages)}
    firsts: dict[tuple[str, str], int] = {}
    for m in messages:
        if m.topic in ("llm/sentence", "tts/audio") and m.msg.request_id in requests:
            firsts.setdefault((m.topic, m.msg.request_id), m.header.stamp_ns)
        elif m.topic == "audio/playhead" and m.msg.request_id in requests \
                and m.msg.state in ("playing", "finished") and m.msg.sample_rate:
            first_sample = m.msg.audible_ns - m.msg.sample * 1_000_000_000 // m.msg.sample_rate
            firsts.setdefault(("audible", m.msg.request_id), first_sample)
    turns = {m.msg.request_id: m for m in messages if m.topic == "director/turn"}
    found = []
    for request_id, request in requests.items():
        turn = turns.get(request_id)
        if turn is None or turn.msg.why not in ("chat", "addressed"):
            continue
        steps = [request.header.trace_stamp_ns, turn.header.stamp_ns, request.header.stamp_ns,
                 firsts.get(("llm/sentence", request_id)), firsts.get(("tts/audio", request_id)),
                 firsts.get(("audible", request_id))]
        if any(s is None for s in steps):
            continue
        ms = [(b - a) / 1e6 for a, b in itertools.pairwise(steps)]  # type: ignore[operator]
        found.append({**dict(zip(HOPS, ms, strict=True)),
                      "to_first_audio": (steps[-2] - steps[0]) / 1e6,  # type: ignore[operator]
                      "total": (steps[-1] - steps[0]) / 1e6})  # type: ignore[operator]
    return found


def switches(messages: list[BagMessage], *, from_audible: bool) -> list[float]:
    """A persona's turn ends -> the director's request for the other persona that follows:
    from the speaker's `finished` playhead as published (the director's own cost), or from
    the last audible sample (``from_audible``: what a viewer hears as the gap)."""
    ends: dict[str, tuple[str, int]] = {}
    for m in messages:
        if m.topic == "audio/playhead" and m.msg.state == "finished":
            ends[m.msg.request_id] = (
                m.msg.persona, m.msg.audible_ns if from_audible else m.header.stamp_ns)
    requests = asked(messages)
    gaps = []
    for previous, current in itertools.pairwise(requests):
        end = ends.get(previous.msg.request_id)
        if end and end[0] != current.msg.persona and current.header.stamp_ns > end[1]:
            gaps.append((current.header.stamp_ns - end[1]) / 1e6)
    return gaps


def barge_ins(messages: list[BagMessage]) -> list[float]:
    starts = [m.header.stamp_ns for m in messages
              if m.topic == "speech/vad" and m.msg.event == "start"]
    cuts = [m.header.stamp_ns for m in messages
            if m.topic == "audio/playhead" and m.msg.state == "cut"]
    return [(min(c for c in cuts if c >= s) - s) / 1e6 for s in starts
            if any(c >= s for c in cuts)]


def barge_in_heard(messages: list[BagMessage], voices_ns: list[int]) -> dict[str, Any]:
    """Each voice's onset (capture clock) -> the VAD start it caused and the last sample heard
    of the persona it cut (the first of each within 3 s of the onset; a voice that came after
    the persona had finished cut nothing and counts as missed)."""
    if not voices_ns:
        return {}
    starts = [(m.msg.audio_ns, m.header.stamp_ns) for m in messages
              if m.topic == "speech/vad" and m.msg.event == "start"]
    cuts = [m.msg.audible_ns for m in messages
            if m.topic == "audio/playhead" and m.msg.state == "cut"]
    vad_ms, heard_ms = [], []
    for voice_ns in voices_ns:
        window = voice_ns + 3_000_000_000
        started = [stamp for onset, stamp in starts
                   if voice_ns - 200_000_000 <= onset <= window]
        cut = [c for c in cuts if voice_ns <= c <= window]
        if started:
            vad_ms.append((min(started) - voice_ns) / 1e6)
        if cut:
            heard_ms.append((min(cut) - voice_ns) / 1e6)
    out: dict[str, Any] = {"barge_ins": len(voices_ns), "barge_ins_cut": len(heard_ms)}
    if vad_ms:
        out["barge_in_vad_ms"] = statistics.median(vad_ms)
        out["barge_in_vad_ms_all"] = [round(v, 1) for v in vad_ms]
    if heard_ms:
        out["barge_in_heard_ms"] = statistics.median(heard_ms)
        out["barge_in_heard_ms_max"] = max(heard_ms)
        out["barge_in_heard_ms_all"] = [round(v, 1) for v in heard_ms]
    return out


def voice_wav(path: Path) -> float:
    """The human cutting in: ``INTERRUPTION`` (espeak-ng) from `VOICE_AT_S`, in a quiet room,
    written to ``path``; returns where its first sample lies in the WAV (seconds)."""
    scene = Scene(seed=12).silence(VOICE_AT_S)
    scene.say(espeak(INTERRUPTION), INTERRUPTION, "person").silence(1.5)
    scene.noise(0.003).write(path)
    return scene.placed[0].start_s


async def run_show(mode: str, turns: int, barge_ins: int, bag: Path, work: Path,
                   stt_params: dict[str, Any] | None = None) -> tuple[list[BagMessage], list[int]]:
    """The show's bag, and (bundled) the capture times of the voices' onsets at the barge-ins."""
    # a fixed seed: the bundled model says the same words each run, so runs compare
    args = ["avatar:=false", "audio_device:=wav", "quiet_s:=1000",
            "banter_turns:=0", f"memory_path:={work / ('memory-' + mode)}", "llm_seed:=7"]
    mic_wav = work / f"mic-{mode}.wav"
    if mode == "bundled":  # the mic hears a quiet room until a barge-in puts a voice there
        Scene(seed=12).silence(QUIET_ROOM_S).noise(0.003).write(mic_wav)
        args += [f"mic_wav:={mic_wav}"]
    else:
        args += ["mic:=false"]
    if mode == "standins":  # memory's query embedding is a model too: measured in bundled
        args += ["llm:=scripted", "tts:=tone", "memory:=false"]
    voices_ns: list[int] = []
    with LaunchProcess(LAUNCH, args) as show:
        await asyncio.to_thread(show.wait_output, "every node on the bus", 240)
        async with Probe(show.bus_url, "_bench") as probe, Recorder(bag, bus=show.bus_url):
            for topic in TURN_TOPICS:
                probe.collect(topic)
            probe.collect("audio/playhead")
            probe.collect("audio/mic")
            probe.collect("tts/audio")
            chat = probe.create_publisher(ChatMessage, "chat/incoming")
            await chat.wait_for_subscribers(30)
            if stt_params and mode == "bundled":  # e.g. the floor before: start_alone_threshold 0
                answer = await probe.create_client(SetParameters, "stt/set_parameters").call(
                    ParamSetRequest(values=stt_params), timeout=10)
                if not answer.successful:
                    raise RuntimeError(f"stt refused {stt_params}: {answer.reason}")
            await asyncio.sleep(1.0)  # the recorder's subscriptions settle
            # one line at a time: chat -> audible without queueing
            # (a reply can come out empty: the turn is over with nothing remembered)
            for n in range(turns):
                chat.publish(ChatMessage(platform="console", user=f"viewer{n}",
                                         text=QUESTIONS[n % len(QUESTIONS)], id=f"b{mode}{n}"))
                await probe.wait_for("director/turn", timeout=120,
                                     where=lambda t, i=f"b{mode}{n}": t.reply_to == i)
                await _until(lambda: turns_over(probe), 120)
            # two lines at once: the second waits for the first, then the other persona
            for n, text in enumerate(("Mika, coffee or tea?", "Rook, cats or dogs?")):
                chat.publish(ChatMessage(platform="console", user=f"pair{n}", text=text,
                                         id=f"p{mode}{n}"))
            try:
                await probe.wait_for("director/turn", timeout=180,
                                     where=lambda t: t.reply_to == f"p{mode}1")
                await _until(lambda: turns_over(probe), 180)
            except TimeoutError:  # a loaded machine: the switch goes unmeasured, not the rest
                print(f"{mode}: the two queued lines were not both answered in 180 s",
                      file=sys.stderr)
            # the human cuts in while a persona speaks
            cut: set[str] = set()
            for n in range(barge_ins if mode == "bundled" else 1):
                request_id = await _persona_speaking(probe, chat, cut, f"l{mode}{n}", n)
                cut.add(request_id)
                if mode == "bundled":
                    voices_ns.append(await _cut_in(probe, work, n, mic_wav))
                else:
                    await _cut_in_by_event(probe)
            await asyncio.sleep(0.5)
        await asyncio.to_thread(show.interrupt, 60)
    return list(read_messages(bag, strict=False)), voices_ns


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    """Wait until ``condition()`` holds; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s")
        await asyncio.sleep(0.2)


LEFT_S = 0.8
"""A voice is played only into a reply with at least this much synthesised audio still to be
heard (the voice, the VAD and the cut take 0.3-0.4 s): the bundled model's replies are often
one short sentence ("A cat.", 0.5 s), which a voice would reach after its end."""


def audio_left_s(probe: Probe, p: Any) -> float:
    """Seconds of ``p``'s reply synthesised but not yet heard at playhead ``p``."""
    samples = 0
    for chunk in probe.messages("tts/audio"):
        if chunk.request_id == p.request_id and chunk.sentence_index >= p.sentence_index:
            width = (2 if chunk.format == "s16le" else 4) * chunk.channels
            samples += len(chunk.pcm) // width
    return (samples - p.sample) / max(1, p.sample_rate)


async def _persona_speaking(probe: Probe, chat: Any, cut: set[str], line_id: str,
                            n: int) -> str:
    """Wait until a persona is into a reply not cut before with `LEFT_S` still to say (the
    answer to the last interruption will do); ask for a story while none comes. Returns its
    request id."""
    def speaking(p: Any) -> bool:
        return p.state == "playing" and p.sample > 2000 and p.request_id not in cut \
            and p.request_id not in {t.turn_id for t in probe.messages("memory/turn")} \
            and audio_left_s(probe, p) >= LEFT_S

    seen = sum(map(speaking, probe.messages("audio/playhead")))  # wait for a new one
    for attempt in range(6):
        try:
            playing = (await probe.wait_for("audio/playhead", count=seen + 1,
                                            timeout=3 if attempt == 0 else 30,
                                            where=speaking))[-1]
            return str(playing.request_id)
        except TimeoutError:
            chat.publish(ChatMessage(platform="console", user="last", id=f"{line_id}-{attempt}",
                                     text=STORIES[(n + attempt) % len(STORIES)]))
    raise TimeoutError("no persona said a long enough reply in 6 tries")


async def _cut_in(probe: Probe, folder: Path, n: int, quiet_wav: Path) -> int:
    """A voice played into the mic: the running mic node is told to play its WAV (a live set of
    its ``wav``), then the quiet room again; returns the capture time of the voice's onset: the
    stamp of the WAV's first frame plus the voice's place in it."""
    wav = folder / f"voice-{n}.wav"
    voice_at_s = voice_wav(wav)
    setter = probe.create_client(SetParameters, "mic/set_parameters")

    async def play(path: Path) -> None:
        answer = await setter.call(ParamSetRequest(values={"wav": str(path)}), timeout=10)
        if not answer.successful:
            raise RuntimeError(f"the mic would not play {path}: {answer.reason}")

    await play(wav)
    first = (await probe.wait_for("audio/mic", timeout=30,
                                  where=lambda f: f.source == f"wav:{wav.name}"))[0]
    onset_ns = first.start_ns + int(voice_at_s * 1e9)
    try:
        await probe.wait_for("audio/playhead", timeout=20, where=lambda p: (
            p.state == "cut" and p.audible_ns >= onset_ns))
    except TimeoutError:  # the persona had finished: counted as not cut
        print("a voice cut nothing within 20 s", file=sys.stderr)
    await probe.wait_for("audio/mic", timeout=30, where=lambda f: (
        f.source == f"wav:{wav.name}" and f.start_ns >= onset_ns + 3_000_000_000))
    await play(quiet_wav)
    return onset_ns


async def _cut_in_by_event(probe: Probe) -> None:
    """The stand-ins have no mic: a voice-activity start published as the stt node would."""
    probe.create_publisher(VadEvent, "speech/vad").publish(
        VadEvent(event="start", utterance_id="bench"))
    await probe.wait_for("audio/playhead", timeout=10, where=lambda p: p.state == "cut")


def summarise(messages: list[BagMessage]) -> dict[str, Any]:
    every = chains(messages)
    # a line that waited for the turn before it measures the queue, not the path
    found = [c for c in every if c["chat_to_director"] < QUEUED_MS]
    out: dict[str, Any] = {"chains": len(found), "queued_chains": len(every) - len(found)}
    for hop in (*HOPS, "to_first_audio", "total"):
        values = [c[hop] for c in found]
        if values:
            out[f"{hop}_p50_ms"] = statistics.median(values)
            out[f"{hop}_p95_ms"] = percentile(values, 0.95)
    gaps, cuts = switches(messages, from_audible=False), barge_ins(messages)
    heard_gaps = switches(messages, from_audible=True)
    out["persona_switch_ms"] = statistics.median(gaps) if gaps else None
    out["turn_gap_heard_ms"] = statistics.median(heard_gaps) if heard_gaps else None
    out["barge_in_stop_ms"] = statistics.median(cuts) if cuts else None
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments(__doc__)
    parser.add_argument("--turns", type=int, default=4, help="chat lines answered one by one")
    parser.add_argument("--barge-ins", type=int, default=5,
                        help="voices played into the mic while a persona speaks (bundled)")
    parser.add_argument("--modes", default="bundled,standins",
                        help="which shows to run: bundled, standins or both")
    parser.add_argument("--stt", action="append", default=[], metavar="NAME:=VALUE",
                        help="set an stt node parameter once the bundled show is up")
    parser.add_argument("--bag-dir", type=Path, default=None, help="keep the bags here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vt-e2e-", dir="/tmp"))
    bags = args.bag_dir or work
    bags.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine()}
    for mode in args.modes.split(","):
        messages, voices_ns = asyncio.run(run_show(
            mode, args.turns, args.barge_ins, bags / f"e2e-{mode}.mcap", work,
            dict(parse_assignment(a) for a in args.stt)))
        results[mode] = {**summarise(messages), **barge_in_heard(messages, voices_ns)}
    bundled, standins = results.get("bundled", {}), results.get("standins", {})
    results["e2e_p50_ms"] = bundled.get("total_p50_ms")
    results["e2e_p95_ms"] = bundled.get("total_p95_ms")
    # DESIGN.md's budget: chat -> the first audio chunk; the speaker's output block (the
    # sound card's or the WAV pacer's buffer, not the framework) comes on top in the next
    results["framework_overhead_p50_ms"] = standins.get("to_first_audio_p50_ms")
    results["framework_to_audible_p50_ms"] = standins.get("total_p50_ms")
    results["persona_switch_ms"] = standins.get("persona_switch_ms")
    results["barge_in_stop_ms"] = bundled.get("barge_in_stop_ms")
    results["barge_in_heard_ms"] = bundled.get("barge_in_heard_ms")
    results["barge_in_vad_ms"] = bundled.get("barge_in_vad_ms")
    return emit(results, args.json, human)


def human(results: dict[str, Any]) -> str:
    """One line a mode: the whole chain, each hop, the switch and the barge-in."""
    lines = []
    for mode in ("bundled", "standins"):
        if mode not in results:
            continue
        r = results[mode]
        hops = ", ".join(f"{h} {r.get(f'{h}_p50_ms', float('nan')):.1f}" for h in HOPS)
        lines.append(f"{mode}: chat -> audible p50 {r.get('total_p50_ms', float('nan')):.0f} ms "
                     f"(p95 {r.get('total_p95_ms', float('nan')):.0f}) over {r['chains']} "
                     f"chains; hops p50 ms: {hops}; persona switch {r['persona_switch_ms']} ms; "
                     f"barge-in stop {r['barge_in_stop_ms']} ms, heard "
                     f"{r.get('barge_in_heard_ms')} ms (VAD {r.get('barge_in_vad_ms')} ms) over "
                     f"{r.get('barge_ins_cut', 0)}/{r.get('barge_ins', 0)} cuts")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
