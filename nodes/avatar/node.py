"""The avatar node: drives one VTube Studio avatar per persona from what is being said and heard."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bus.errors import ParameterError, PcmError
from bus.node import Node, NodeOptions
from messages.audio import AudioChunk, Playhead
from messages.avatar import AvatarState
from messages.director import Persona, Turn
from messages.llm import Sentence
from messages.pcm import decode_mono
from nodes.avatar.emotions import EmotionAction, EmotionMapper, canonical, parse_emotion_map
from nodes.avatar.puppet import Puppet, PuppetSettings
from nodes.avatar.scheduler import Ticker
from nodes.avatar.vts.discovery import Discovery
from nodes.avatar.vts.session import SessionConfig, VtsSession
from nodes.avatar.vts.tokens import TokenStore, default_token_dir

__all__ = ["AvatarConfig", "AvatarNode"]


class AvatarConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One entry of the ``avatars`` parameter: a persona and its VTube Studio instance."""

    persona: str
    port: int = 0
    """VTS WebSocket port; 0 finds the instance by its UDP broadcast."""
    host: str = "localhost"
    match: str = ""
    """With discovery: the VTS window title or instance id of this persona's instance."""
    token_file: str = ""
    """Default: ``<token_dir>/<persona>.token``."""
    partner_direction: float = 1.0
    """Sign of FaceAngleX that turns this avatar toward the other one."""
    emotions: dict[str, dict[str, EmotionAction]] = {}
    """Per model name (or ``"*"``): emotion -> expression or hotkey (see emotions.py)."""


DEFAULT_AVATARS = [
    {"persona": "mika", "port": 8001, "partner_direction": 1.0},
    {"persona": "rook", "port": 8002, "partner_direction": -1.0},
]


@dataclass
class Avatar:
    config: AvatarConfig
    puppet: Puppet
    mapper: EmotionMapper
    session: VtsSession


class AvatarNode(Node):
    """Lip sync, emotions and idle motion for every persona's VTube Studio avatar."""

    DEFAULT_LOOKAHEAD_MS = 20.0
    """Covers the mean delay of the 60 Hz tick (~8 ms) and of the mouth smoothing (benchmark)."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("avatar", options=options)
        raw_avatars = self.declare_parameter("avatars", DEFAULT_AVATARS,
                                             "list of {persona, port (0: discover), host, match, "
                                             "token_file, partner_direction, emotions}")
        self.inject_hz = self.declare_parameter("inject_hz", 60.0,
                                                "parameter injections per second (>= 2)")
        lookahead_ms = self.declare_parameter("lookahead_ms", self.DEFAULT_LOOKAHEAD_MS,
                                              "mouth shows the audio heard this much later")
        token_dir = self.declare_parameter("token_dir", "", "folder of the VTS token files "
                                           "(default ~/.config/vtshow/vts)")
        plugin_name = self.declare_parameter("plugin_name", "vtshow avatar",
                                             "plugin name shown in VTS (3-32 chars)")
        plugin_developer = self.declare_parameter("plugin_developer", "vtshow",
                                                  "developer name shown in VTS (3-32 chars)")
        self.discovery_port = self.declare_parameter("discovery_port", 47779,
                                                     "UDP port of the VTS broadcasts")
        self.emotion_hold_s = self.declare_parameter(
            "emotion_hold_s", 4.0, "keep an emotion this long after speech, then neutral")
        self.fade_s = self.declare_parameter("expression_fade_s", 0.4,
                                             "expression fade-in seconds")
        seed = self.declare_parameter("seed", 0, "idle motion seed (0: random)")
        if not 2.0 <= self.inject_hz <= 240.0:
            raise ParameterError(f"inject_hz must be between 2 and 240 (VTS drops a parameter "
                                 f"not re-sent within 1 s), got {self.inject_hz}")
        for name, value in (("plugin_name", plugin_name), ("plugin_developer", plugin_developer)):
            if not 3 <= len(value) <= 32:
                raise ParameterError(f"{name} must be 3-32 characters (VTS rule), got {value!r}")
        self.plugin = (plugin_name, plugin_developer)
        self.lookahead_s = lookahead_ms / 1000.0
        self.token_dir = Path(token_dir).expanduser() if token_dir else default_token_dir()
        self.seed = seed or int.from_bytes(np.random.default_rng().bytes(4), "little")
        configs = _parse_avatars(raw_avatars)
        self.discovery = Discovery() if any(c.port == 0 for c in configs) else None
        self.avatars = {c.persona: self._make_avatar(i, c) for i, c in enumerate(configs)}

        self.turn_speaker = ""
        self.active_persona = ""
        self.ticker = Ticker(self.inject_hz, self._tick)
        self._tasks_running: list[asyncio.Task[Any]] = []
        self._requests: set[asyncio.Task[Any]] = set()
        self.state_pub = self.create_publisher(AvatarState, "avatar/state")
        self.create_subscription(AudioChunk, "tts/audio", self.on_audio)
        self.create_subscription(Playhead, "audio/playhead", self.on_playhead)
        self.create_subscription(Sentence, "llm/sentence", self.on_sentence)
        self.create_subscription(Turn, "director/turn", self.on_turn)
        self.create_subscription(Persona, "persona/active", self.on_persona)
        self.create_timer(1.0, self._publish_counters)

    def _make_avatar(self, index: int, config: AvatarConfig) -> Avatar:
        settings = PuppetSettings(partner_direction=config.partner_direction,
                                  lookahead_s=self.lookahead_s,
                                  emotion_hold_s=self.emotion_hold_s,
                                  face_fade_s=self.fade_s, seed=self.seed + index)
        store = TokenStore(Path(config.token_file).expanduser() if config.token_file
                           else self.token_dir / f"{config.persona}.token")
        session = VtsSession(
            SessionConfig(config.persona, store, host=config.host, port=config.port,
                          match=config.match, index=index, plugin_name=self.plugin[0],
                          plugin_developer=self.plugin[1]),
            discovery=self.discovery, on_ready=self._on_ready,
            on_state=functools.partial(self._on_link, config.persona),
        )
        mapper = EmotionMapper(parse_emotion_map(msgspec.to_builtins(config.emotions)),
                               default_fade_s=self.fade_s)
        return Avatar(config, Puppet(config.persona, settings), mapper, session)

    async def start(self) -> None:
        first = self._loop is None
        await super().start()
        if not first:
            return
        if self.discovery is not None:
            try:
                await self.discovery.start(self.discovery_port)
            except OSError as exc:  # the avatars with a port still work
                self.log.error("cannot listen for VTS broadcasts on UDP %d (%s): give each "
                               "avatar a `port`", self.discovery_port, exc)
        loop = asyncio.get_running_loop()
        for avatar in self.avatars.values():
            self._tasks_running.append(
                loop.create_task(avatar.session.run(), name=f"vts {avatar.config.persona}"))
        self._tasks_running.append(loop.create_task(self.ticker.run(), name="avatar ticker"))

    async def on_shutdown(self) -> None:
        for task in [*self._tasks_running, *self._requests]:
            task.cancel()
        await asyncio.gather(*self._tasks_running, *self._requests, return_exceptions=True)
        for avatar in self.avatars.values():
            await avatar.session.close()
        if self.discovery is not None:
            self.discovery.close()

    # ------------------------------------------------------------ inputs

    def on_audio(self, chunk: AudioChunk) -> None:
        avatar = self._avatar(chunk.persona, "tts/audio")
        if avatar is None:
            return
        try:
            pcm = decode_mono(chunk.pcm, chunk.format, chunk.channels)
        except PcmError as exc:
            self.report_bad_input("tts", "tts/audio", str(exc))
            return
        phonemes = [(p.phoneme, p.start_sample, p.samples) for p in chunk.phonemes]
        avatar.puppet.add_chunk((chunk.request_id, chunk.sentence_index), chunk.sample_rate,
                                pcm, phonemes, emotion=chunk.emotion)

    def on_playhead(self, playhead: Playhead) -> None:
        avatar = self._avatar(playhead.persona, "audio/playhead")
        if avatar is not None:
            avatar.puppet.clock.update(playhead.request_id, playhead.sentence_index,
                                       playhead.sample, playhead.sample_rate, playhead.state,
                                       playhead.audible_ns or time.time_ns())

    def on_sentence(self, sentence: Sentence) -> None:
        avatar = self._avatar(sentence.persona, "llm/sentence")
        if avatar is not None:
            avatar.puppet.set_sentence_emotion((sentence.request_id, sentence.index),
                                               sentence.emotion)

    def on_turn(self, turn: Turn) -> None:
        self.turn_speaker = turn.speaker

    def on_persona(self, persona: Persona) -> None:
        self.active_persona = persona.name

    def _avatar(self, persona: str, topic: str) -> Avatar | None:
        avatar = self.avatars.get(persona)
        if avatar is None and persona:  # '' is the speaker's idle playhead: nobody's mouth
            self.counters["unknown_persona"] += 1
            self._bad_input(persona or "?", topic, f"no avatar for persona {persona!r} "
                            f"(configured: {', '.join(self.avatars)})")
        return avatar

    # ------------------------------------------------------------ the 60 Hz loop

    async def _tick(self, _now: float) -> None:
        now_ns = time.time_ns()
        # who to look at: whoever is audible; else who has the floor; else the active persona
        speaking = {p for p, a in self.avatars.items() if a.puppet.speaking(now_ns)}
        floor = self.turn_speaker or self.active_persona
        for persona, avatar in self.avatars.items():
            if speaking:
                avatar.puppet.look_at_partner(bool(speaking - {persona}))
            else:
                avatar.puppet.look_at_partner(floor in self.avatars and floor != persona)
            emotion = avatar.puppet.wanted_emotion(now_ns)
            if emotion is not None:
                self._show_emotion(avatar, emotion)
            await avatar.session.inject(avatar.puppet.frame(now_ns))

    def _show_emotion(self, avatar: Avatar, emotion: str) -> None:
        before = avatar.mapper.current
        requests = avatar.mapper.switch(emotion)
        if canonical(emotion) != avatar.mapper.current:
            self.counters["emotion_fallbacks"] += 1
        if avatar.mapper.current == before:
            return
        avatar.puppet.set_face(avatar.mapper.face())
        self._publish_state(avatar)
        if requests:
            self._run_request(avatar.session.perform(requests))

    def _run_request(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _on_ready(self, session: VtsSession) -> None:
        avatar = self.avatars[session.config.persona]
        avatar.mapper.set_model(session.model, session.hotkeys)
        self._publish_state(avatar)
        await session.perform(avatar.mapper.restore(await session.active_expressions()))

    def _on_link(self, persona: str, state: str, detail: str) -> None:
        level = {"denied": self.log.warning, "ready": self.log.info}.get(state, self.log.debug)
        level("VTS link of %s: %s (%s)", persona, state, detail)
        if state != "ready":  # `_on_ready` publishes ready, with the model
            self._publish_state(self.avatars[persona], detail)

    def _publish_state(self, avatar: Avatar, detail: str = "") -> None:
        session = avatar.session
        self.state_pub.publish(AvatarState(
            persona=avatar.config.persona, link=session.state,  # type: ignore[arg-type]
            detail=detail, model=session.model, emotion=avatar.mapper.current,
            sessions=session.sessions))

    def _publish_counters(self) -> None:
        for persona, avatar in self.avatars.items():
            for name, count in avatar.session.counters.items():
                self.counters[f"{persona}.{name}"] = count
        stats = self.ticker.stats
        self.counters["ticks"] = stats.count
        self.counters["ticks_skipped"] = stats.skipped
        self.counters["tick_sum_us"] = stats.sum_us  # with the next: jitter over any window
        self.counters["tick_sum_sq_us"] = stats.sum_sq_us
        mean, std = self.ticker.recent_jitter()  # the last minute, in microseconds
        self.counters["tick_interval_us"] = round(mean * 1e6)
        self.counters["tick_jitter_us"] = round(std * 1e6)


def _parse_avatars(raw: Any) -> list[AvatarConfig]:
    try:
        configs = msgspec.convert(raw, list[AvatarConfig])
    except (msgspec.ValidationError, ValueError) as exc:
        raise ParameterError(f"parameter 'avatars' of node avatar: {exc}") from None
    personas = [c.persona for c in configs]
    if not configs or len(set(personas)) != len(personas):
        raise ParameterError(f"parameter 'avatars' needs one entry per persona, got {personas}")
    return configs

