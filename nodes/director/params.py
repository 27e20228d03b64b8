"""The director's parameters (read without starting it: ``vtparam describe nodes.director``).

All but ``personas_file`` take effect when set: the node reads some where it uses them and
hands the others to its rules (`Director.apply_parameters`).
"""

from __future__ import annotations

from typing import Annotated

from bus.params import Parameters, at_start, live

__all__ = ["Params"]


class Params(Parameters):
    personas_file: Annotated[str, at_start(
        "persona TOML (the LLM node's file works; two personas needed; '' the two default "
        "personas)")] = ""
    banter_turns: Annotated[int, live(
        "persona replies in a row without chat or human", ge=0)] = 2
    quiet_s: Annotated[float, live("silence before a persona starts a topic", gt=0)] = 20.0
    words_wait_s: Annotated[float, live(
        "after the human stops talking, how long the floor waits for their transcript "
        "(speech-to-text finishes after the voice does); a pause without words frees it "
        "after this", ge=0)] = 2.0
    history_lines: Annotated[int, live(
        "conversation lines sent to the LLM; past this (or history_chars) the oldest half goes "
        "at once (the LLM reuses its computed prompt while the start stays put)", ge=1)] = 40
    history_chars: Annotated[int, live("conversation characters sent to the LLM", ge=1)] = 6000
    human_name: Annotated[str, live(
        "how the personas call the human (the enrolled collaborator: a transcript labelled "
        "with any enrolled name is theirs)", min_length=1)] = "Collaborator"
    room_takes_floor: Annotated[bool, live(
        "with a voice enrolled (the stt node's enrol_wav), someone else in the room may take "
        "the floor: their words are answered and their voice cuts a persona; off: their words "
        "are heard as context (\"Someone in the room: ...\") but not answered, and a persona "
        "talks on until the words are the collaborator's")] = True
    greeting: Annotated[bool, live(
        "a persona greets the audience as soon as an llm, tts and speaker are on the bus "
        "(the show's first turn, once per show: not after a director restart)")] = True
    stream: Annotated[str, live("stream id stored with memories")] = ""
    memory_k: Annotated[int, live("memories per reply (0: none asked)", ge=0)] = 4
    memory_timeout_s: Annotated[float, live(
        "how long to wait for memories; a reply goes out without them after this", gt=0)] = 0.3
    memory_chars: Annotated[int, live(
        "a longer memory is shortened (prompt time is the slowest hop); memories of lines "
        "already in the conversation are left out", ge=1)] = 240
    first_sentence_timeout_s: Annotated[float, live(
        "a request with no first sentence for this long is cancelled: a last resort (restarts "
        "are seen in the registry at once); the bundled model's warm-up took 18 s on a loaded "
        "CPU", gt=0)] = 60.0
    reply_stall_s: Annotated[float, live(
        "a reply with no sentence and no llm/done for this long is cancelled", gt=0)] = 30.0
    audio_timeout_s: Annotated[float, live(
        "a complete reply with no audio or playhead for this long is closed (no speaker "
        "running)", gt=0)] = 10.0
    rejoin_wait_s: Annotated[float, live(
        "how long the floor waits for an llm, tts or speaker that left the bus (and a lost "
        "request for an llm) before going on without", ge=0)] = 30.0
    prefill: Annotated[bool, live(
        "while a reply plays, have the LLM compute the next speaker's prompt with it (on a "
        "CPU it takes most of the next speaker's prompt time off the wait)")] = True
    cut_grace_s: Annotated[float, live(
        "after a cut, wait this long for the speaker's last playhead", ge=0)] = 0.3
    tick_s: Annotated[float, live("decision period", gt=0)] = 0.25
    watch_s: Annotated[float, live(
        "how often the registry is read for the llm, tts and speaker leaving or restarting",
        gt=0)] = 0.5
    game_moves: Annotated[bool, live(
        "the personas make their game moves (game/state's turn names one): asked with the "
        "legal actions as tools; off, the game node's timeout and automatic moves play for "
        "them")] = True
    game_comments: Annotated[bool, live(
        "a persona says the game's spoken events (the outcome, an automatic move, a trivia "
        "question, a Neuro game's context, chat's vote)")] = True
    game_comments_kept: Annotated[int, live(
        "spoken game events waiting for the floor; past this the oldest go (counter "
        "game_comments_dropped)", ge=1, le=100)] = 3
    game_comment_max_s: Annotated[float, live(
        "a spoken game event not said within this is dropped (old news)", gt=0)] = 60.0
    chat_between_game_turns: Annotated[int, live(
        "while chat waits, chat replies that go between two game turns (a move takes a whole "
        "reply: a game played back to back would leave chat unanswered); 0: the game first",
        ge=0, le=20)] = 1
    game_claim_s: Annotated[float, live(
        "while a game takes requests from chat (Minecraft: \"Mika, come to me\"), a new chat "
        "line waits this long for the game to take it before it is answered as chat",
        ge=0, le=5)] = 0.5
    watch_comments: Annotated[bool, live(
        "watch mode: a persona comments on a new scene on the watched screen (game/frame); "
        "off: the screen only tells replies to chat and the human what it shows")] = True
    watch_comment_s: Annotated[float, live(
        "at least this long between the starts of two comments on the screen", ge=0)] = 30.0
    watch_quiet_s: Annotated[float, live(
        "no comment on the screen while the human, chat or a persona answering them spoke "
        "less than this ago (never over a conversation)", ge=0)] = 5.0
    watch_max_wait_s: Annotated[float, live(
        "a new scene not commented within this is dropped (old news; counter "
        "watch_scenes_skipped); only the newest waits", gt=0)] = 10.0
    watch_images: Annotated[bool, live(
        "requests about the screen (a comment, its answer, a reply while watching) carry the "
        "frame, for a model that can see (the llm node's openai backend with vision); the "
        "bundled model cannot: its prompt has the description")] = False
