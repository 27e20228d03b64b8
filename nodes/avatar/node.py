"""The avatar node: drives one VTube Studio avatar per persona from what is being said and heard,
and turns them toward the human while a voice is heard (``speech/vad``, ``speech/final``)."""

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
from messages.speech import Transcript, VadEvent
from nodes.avatar.attention import HumanVoice, Look, look_at
from nodes.avatar.emotions import EmotionMapper, canonical, parse_emotion_map
from nodes.avatar.params import DEFAULT_LOOKAHEAD_MS, AvatarConfig, Params
from nodes.avatar.puppet import Puppet, PuppetSettings
from nodes.avatar.scheduler import Ticker
from nodes.avatar.vts.discovery import Discovery
from nodes.avatar.vts.session import SessionConfig, VtsSession
from nodes.avatar.vts.tokens import TokenStore, default_token_dir

__all__ = ["AvatarConfig", "AvatarNode"]


@dataclass
class Avatar:
    config: AvatarConfig
    puppet: Puppet
    mapper: EmotionMapper
    session: VtsSession


class AvatarNode(Node):
    """Lip sync, emotions and idle motion for every persona's VTube Studio avatar."""

    DEFAULT_LOOKAHEAD_MS = DEFAULT_LOOKAHEAD_MS
    """The ``lookahead_ms`` default (see `nodes.avatar.params`)."""

    def __init__(self, *, options: NodeOptions | None = None):
        super().__init__("avatar", options=options)
        self.params = params = self.declare_parameters(Params)
        self.token_dir = (Path(params.token_dir).expanduser() if params.token_dir
                          else default_token_dir())
        self.seed = params.seed or int.from_bytes(np.random.default_rng().bytes(4), "little")
        configs = _checked_avatars(params.avatars)
        self.discovery = Discovery() if any(c.port == 0 for c in configs) else None
        self.avatars = {c.persona: self._make_avatar(i, c) for i, c in enumerate(configs)}
        self.add_on_set_parameters_callback(self._on_set)

        self.turn_speaker = ""
        self.active_persona = ""
        self.human_voice = HumanVoice(params.human_look_max_s)
        self.ticker = Ticker(params.inject_hz, self._tick)
        self._running: list[asyncio.Task[None]] = []
        """The VTS sessions and the ticker: stopped before the sessions close."""
        self.state_pub = self.create_publisher(AvatarState, "avatar/state")
        self.create_subscription(AudioChunk, "tts/audio", self.on_audio)
        self.create_subscription(Playhead, "audio/playhead", self.on_playhead)
        self.create_subscription(Sentence, "llm/sentence", self.on_sentence)
        self.create_subscription(Turn, "director/turn", self.on_turn)
        self.create_subscription(Persona, "persona/active", self.on_persona)
        self.create_subscription(VadEvent, "speech/vad", self.on_vad)
        self.create_subscription(Transcript, "speech/final", self.on_final)
        self.create_timer(1.0, self._publish_counters)

    def _make_avatar(self, index: int, config: AvatarConfig) -> Avatar:
        params = self.params
        settings = PuppetSettings(partner_direction=config.partner_direction,
                                  human_direction=config.human_direction,
                                  lookahead_s=params.lookahead_ms / 1000.0,
                                  emotion_hold_s=params.emotion_hold_s,
                                  face_fade_s=params.expression_fade_s, seed=self.seed + index)
        store = TokenStore(Path(config.token_file).expanduser() if config.token_file
                           else self.token_dir / f"{config.persona}.token")
        session = VtsSession(
            SessionConfig(config.persona, store, host=config.host, port=config.port,
                          match=config.match, index=index, plugin_name=params.plugin_name,
                          plugin_developer=params.plugin_developer),
            discovery=self.discovery, on_ready=self._on_ready,
            on_state=functools.partial(self._on_link, config.persona),
        )
        mapper = EmotionMapper(parse_emotion_map(msgspec.to_builtins(config.emotions)),
                               default_fade_s=params.expression_fade_s)
        return Avatar(config, Puppet(config.persona, settings), mapper, session)

    def _on_set(self, changes: dict[str, Any]) -> None:
        """The face's timing, applied to the ticker and every avatar from the next tick."""
        if "inject_hz" in changes:
            self.ticker.set_rate(changes["inject_hz"])
        if "human_look_max_s" in changes:
            self.human_voice.max_s = changes["human_look_max_s"]
        for avatar in self.avatars.values():
            settings = avatar.puppet.settings
            if "lookahead_ms" in changes:
                settings.lookahead_s = changes["lookahead_ms"] / 1000.0
            if "emotion_hold_s" in changes:
                settings.emotion_hold_s = changes["emotion_hold_s"]
            if "expression_fade_s" in changes:
                settings.face_fade_s = changes["expression_fade_s"]
                avatar.mapper.default_fade_s = changes["expression_fade_s"]

    async def on_start(self) -> None:
        if self.discovery is not None:
            port = self.params.discovery_port
            try:
                await self.discovery.start(port)
            except OSError as exc:  # the avatars with a port still work
                self.log.error("cannot listen for VTS broadcasts on UDP %d (%s): give each "
                               "avatar a `port`", port, exc)
        for avatar in self.avatars.values():
            persona = avatar.config.persona
            self._running.append(self.create_task(avatar.session.run(), f"vts {persona}"))
        self._running.append(self.create_task(self.ticker.run(), "ticker"))

    async def on_shutdown(self) -> None:
        # before the sessions close: a session still running would report the link down
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
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

    def on_vad(self, event: VadEvent) -> None:
        if event.event == "start":
            self.human_voice.started(event.utterance_id, time.monotonic())
        else:
            self.human_voice.ended(event.utterance_id)

    def on_final(self, transcript: Transcript) -> None:
        self.human_voice.ended(transcript.utterance_id)

    def _avatar(self, persona: str, topic: str) -> Avatar | None:
        avatar = self.avatars.get(persona)
        if avatar is None and persona:  # '' is the speaker's idle playhead: nobody's mouth
            self.counters["unknown_persona"] += 1
            self.report_bad_input(persona or "?", topic, f"no avatar for persona {persona!r} "
                                  f"(configured: {', '.join(self.avatars)})")
        return avatar

    # ------------------------------------------------------------ the 60 Hz loop

    async def _tick(self, _now: float) -> None:
        now_ns = time.time_ns()
        # who to look at: the human while they talk; else whoever is audible; else who has
        # the floor; else the active persona
        human_talking = self.human_voice.talking(time.monotonic())
        speaking = {p for p, a in self.avatars.items() if a.puppet.speaking(now_ns)}
        floor = self.turn_speaker or self.active_persona
        for persona, avatar in self.avatars.items():
            look = look_at(persona, human_talking=human_talking, audible=speaking, floor=floor,
                           cast=self.avatars)
            if look is Look.HUMAN:
                avatar.puppet.look_at_human()
            else:
                avatar.puppet.look_at_partner(look is Look.PARTNER)
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
        if requests:  # in the background: the tick must not wait for VTS's answers
            self.create_task(avatar.session.perform(requests), f"vts {avatar.config.persona} "
                             "expression")

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


def _checked_avatars(configs: list[AvatarConfig]) -> list[AvatarConfig]:
    """``configs`` if each persona has one entry (the declaration checked the rest)."""
    personas = [c.persona for c in configs]
    if len(set(personas)) != len(personas):
        raise ParameterError(f"parameter 'avatars' needs one entry per persona, got {personas}")
    return configs
