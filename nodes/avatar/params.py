"""The avatar node's parameters (read by ``vtlaunch --check`` without starting the node).

Which avatars exist, their VTube Studio links, tokens, plugin name and the idle seed are
set up once at start (``at_start``); the timing of the face (injection rate, lip-sync
lookahead, emotion hold and fade) is ``live``: the node's on-set callback hands new values
to the ticker and to every puppet.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.params import Parameters, at_start, live

__all__ = ["DEFAULT_LOOKAHEAD_MS", "AvatarConfig", "EmotionAction", "Params"]

DEFAULT_LOOKAHEAD_MS = 20.0
"""Covers the mean delay of the 60 Hz tick (~8 ms) and of the mouth smoothing (benchmark)."""


class EmotionAction(msgspec.Struct, forbid_unknown_fields=True):
    """How one emotion shows on one model: an expression file (faded) or a hotkey (id or name)."""

    expression: str = ""
    hotkey: str = ""
    fade_s: float = 0.4

    def __post_init__(self) -> None:
        if bool(self.expression) == bool(self.hotkey):
            raise ValueError("give exactly one of `expression` or `hotkey`")
        if self.expression and not self.expression.endswith(".exp3.json"):
            raise ValueError(f"expression {self.expression!r} must be a .exp3.json file name")


class AvatarConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One entry of the ``avatars`` parameter: a persona and its VTube Studio instance."""

    persona: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """VTS WebSocket port; 0 finds the instance by its UDP broadcast."""
    host: str = "localhost"
    match: str = ""
    """With discovery: the VTS window title or instance id of this persona's instance."""
    token_file: str = ""
    """Default: ``<token_dir>/<persona>.token``."""
    partner_direction: float = 1.0
    """Sign of FaceAngleX that turns this avatar toward the other one."""
    human_direction: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] = 0.0
    """Where the human collaborator is, seen from this avatar, while they talk: -1..1 on the
    scale of ``partner_direction`` (1: as far as the partner on that side; 0: ahead, the
    camera)."""
    emotions: dict[str, dict[str, EmotionAction]] = {}
    """Per model name (or ``"*"``): emotion -> expression or hotkey (see emotions.py)."""


def _default_avatars() -> list[AvatarConfig]:
    return [AvatarConfig(persona="mika", port=8001, partner_direction=1.0),
            AvatarConfig(persona="rook", port=8002, partner_direction=-1.0)]


class Params(Parameters):
    avatars: Annotated[list[AvatarConfig], at_start(
        "list of {persona, port (0: discover), host, match, token_file, partner_direction, "
        "human_direction, emotions}, one per persona", min_length=1)] = msgspec.field(
        default_factory=_default_avatars)
    inject_hz: Annotated[float, live(
        "parameter injections per second (VTS drops a parameter not re-sent within 1 s)",
        ge=2.0, le=240.0)] = 60.0
    lookahead_ms: Annotated[float, live(
        "mouth shows the audio heard this much later", ge=0.0, le=1000.0)] = DEFAULT_LOOKAHEAD_MS
    emotion_hold_s: Annotated[float, live(
        "keep an emotion this long after speech, then neutral", ge=0.0)] = 4.0
    expression_fade_s: Annotated[float, live("expression fade-in seconds", gt=0.0)] = 0.4
    token_dir: Annotated[str, at_start(
        "folder of the VTS token files (default ~/.config/vtshow/vts)")] = ""
    plugin_name: Annotated[str, at_start(
        "plugin name shown in VTS (3-32 characters, VTS rule)", min_length=3,
        max_length=32)] = "vtshow avatar"
    plugin_developer: Annotated[str, at_start(
        "developer name shown in VTS (3-32 characters, VTS rule)", min_length=3,
        max_length=32)] = "vtshow"
    discovery_port: Annotated[int, at_start(
        "UDP port of the VTS broadcasts", ge=1, le=65535)] = 47779
    seed: Annotated[int, at_start("idle motion seed (0: random)")] = 0
    human_look_max_s: Annotated[float, live(
        "the avatars look toward the human while they talk (speech/vad start to end or the "
        "final transcript); a voice without an end stops counting after this (a lost event)",
        gt=0.0)] = 30.0
