"""The topic and service catalogue: every well-known name, its type, and whether it is latched.

A node may publish on a topic that is not listed here (the header carries the type), but the
tools and the launch checks know these by name, and ``vttopic pub`` uses them to build messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from messages import audio, avatar, chat, demo, director, game, llm, memory, speech, system
from messages.base import Message, ServiceType

__all__ = ["SERVICES", "TOPICS", "Topic", "json_schema", "message_types", "type_for_tag"]


@dataclass(frozen=True)
class Topic:
    type: type[Message]
    latched: bool = False
    description: str = ""


TOPICS: dict[str, Topic] = {
    "chat/message": Topic(chat.ChatMessage, description="every chat event, all platforms"),
    "chat/say": Topic(chat.ChatSay, description="post a line to chat"),
    "chat/incoming": Topic(chat.ChatMessage,
                           description="chat fed to the chat node (bags, tools) for triage"),
    "audio/mic": Topic(audio.AudioFrame, description="captured microphone audio"),
    "speech/vad": Topic(speech.VadEvent, description="voice activity start/end"),
    "speech/partial": Topic(speech.Transcript, description="transcript while speaking"),
    "speech/final": Topic(speech.Transcript, description="transcript of a whole utterance"),
    "director/turn": Topic(director.Turn, latched=True, description="who has the floor"),
    "persona/active": Topic(director.Persona, latched=True, description="the active persona"),
    "llm/request": Topic(llm.LlmRequest, description="generate a reply"),
    "llm/cancel": Topic(llm.Cancel, description="stop a reply now (LLM, TTS, speaker)"),
    "llm/sentence": Topic(llm.Sentence, description="each complete sentence of a reply"),
    "llm/done": Topic(llm.LlmDone, description="end of a reply, cut off or not"),
    "llm/tool_call": Topic(llm.ToolCall, description="a function call the model made"),
    "tts/audio": Topic(audio.AudioChunk, description="synthesised speech in chunks"),
    "tts/cancel": Topic(llm.Cancel, description="drop a request's queued and current speech"),
    "audio/playhead": Topic(audio.Playhead, description="what is audible now"),
    "audio/control": Topic(audio.SpeakerControl, description="silence the speaker"),
    "memory/turn": Topic(memory.ConversationTurn, description="finished turns, as heard"),
    "memory/stored": Topic(memory.MemoryStored, description="memories now durable (acks)"),
    "game/state": Topic(game.GameState, latched=True),
    "game/event": Topic(game.GameEvent),
    "game/command": Topic(game.GameCommand),
    "game/frame": Topic(game.GameFrame),
    "avatar/state": Topic(avatar.AvatarState, description="each avatar's VTS link and emotion"),
    "system/log": Topic(system.LogEvent, description="warnings and errors from every node"),
    "demo/count": Topic(demo.Count, description="the demo talker's counter"),
    "demo/heard": Topic(demo.Count, description="what the demo listener heard"),
    "demo/latest": Topic(demo.Count, latched=True, description="the talker's latest, latched"),
}

SERVICES: dict[str, ServiceType] = {
    "chat/next": chat.ChatNext,
    "memory/search": memory.SearchMemory,
    "memory/forget": memory.ForgetViewer,
    "demo/add": demo.AddTwoInts,
}


def message_types() -> dict[str, type[Message]]:
    """Every message type by tag, found by walking the subclasses of `Message`."""
    found: dict[str, type[Message]] = {}
    pending: list[type[Message]] = list(Message.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if isinstance(tag, str):
            found[tag] = cls
    return found


_by_tag: dict[str, type[Message]] = {}


def type_for_tag(tag: str) -> type[Message] | None:
    """The message type with this tag, or None for a tag this build does not know."""
    found = _by_tag.get(tag)
    if found is None:  # a type defined since the last look (tests define their own)
        _by_tag.update(message_types())
        found = _by_tag.get(tag)
    return found


def json_schema(cls: type[Message]) -> dict[str, Any]:
    """The JSON schema of one message type (with ``$defs`` for nested types)."""
    return msgspec.json.schema(cls)


