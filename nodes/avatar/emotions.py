"""Emotions: which VTube Studio expression or hotkey shows each emotion, and the face offsets
that go with it.

Configuration, per avatar model (the model name VTS reports, or ``"*"`` for any model)::

    {"*": {"happy": {"expression": "Smile.exp3.json", "fade_s": 0.5},
           "angry": {"hotkey": "Angry"}}}

With no entry for an emotion, a hotkey of the loaded model whose name is the emotion
(case-insensitive) is used when there is one. An emotion nobody knows falls back to
``neutral``. Expressions are switched with `ExpressionActivationRequest` (it has fades);
hotkeys are triggered once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from nodes.avatar.params import EmotionAction

__all__ = [
    "FACE_OFFSETS",
    "NEUTRAL",
    "EmotionAction",
    "EmotionMapper",
    "canonical",
    "parse_emotion_map",
]

NEUTRAL = "neutral"

# Emotion names the LLM uses, and common synonyms, folded to one name.
_SYNONYMS = {
    "joy": "happy", "joyful": "happy", "glad": "happy", "excited": "happy", "amused": "happy",
    "laugh": "happy", "laughing": "happy",
    "mad": "angry", "annoyed": "angry", "furious": "angry",
    "surprise": "surprised", "shocked": "surprised", "astonished": "surprised",
    "unhappy": "sad", "sorrow": "sad", "crying": "sad",
    "calm": NEUTRAL, "none": NEUTRAL, "": NEUTRAL,
    "thinking": "curious", "confused": "curious",
    "embarrassed": "shy", "blush": "shy",
}

FACE_OFFSETS: dict[str, dict[str, float]] = {
    NEUTRAL: {"MouthSmile": 0.35, "Brows": 0.5},
    "happy": {"MouthSmile": 0.9, "Brows": 0.65},
    "sad": {"MouthSmile": 0.05, "Brows": 0.2},
    "angry": {"MouthSmile": 0.15, "Brows": 0.0},
    "surprised": {"MouthSmile": 0.4, "Brows": 1.0},
    "curious": {"MouthSmile": 0.4, "Brows": 0.75},
    "shy": {"MouthSmile": 0.6, "Brows": 0.4},
}
"""Default-input targets per emotion: they work on any model, with or without expressions."""


def canonical(emotion: str) -> str:
    """Lower-case name with synonyms folded (``"Joy"`` -> ``"happy"``)."""
    name = emotion.strip().lower()
    return _SYNONYMS.get(name, name)


def parse_emotion_map(raw: Mapping[str, Any]) -> dict[str, dict[str, EmotionAction]]:
    """Validate ``{model: {emotion: action}}`` from a parameter; the error names the entry."""
    try:
        parsed = msgspec.convert(raw, dict[str, dict[str, EmotionAction]])
    except (msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"bad emotion map: {exc}") from None
    return {model: {canonical(e): a for e, a in table.items()} for model, table in parsed.items()}


class EmotionMapper:
    """Turns emotion names into VTS requests for one avatar, remembering what is active.

    Parameters
    ----------
    table:
        The validated configuration (`parse_emotion_map`).
    default_fade_s:
        Fade for expressions found through a model's hotkeys.
    """

    def __init__(self, table: Mapping[str, Mapping[str, EmotionAction]], *,
                 default_fade_s: float = 0.4):
        self.table = table
        self.default_fade_s = default_fade_s
        self.model = ""
        self.hotkeys: list[dict[str, Any]] = []
        self.current = NEUTRAL
        self.active_expression = ""

    def set_model(self, model: str, hotkeys: list[dict[str, Any]]) -> None:
        """A (re)loaded model: its name and its hotkeys (``HotkeysInCurrentModelResponse``)."""
        self.model = model
        self.hotkeys = hotkeys
        self.active_expression = ""  # a fresh model starts with no expression on

    def action(self, emotion: str) -> tuple[str, EmotionAction | None]:
        """(the emotion actually shown, its action or None for "just the face offsets")."""
        name = canonical(emotion)
        if name not in FACE_OFFSETS and self._lookup(name) is None:
            name = NEUTRAL
        return name, self._lookup(name)

    def _lookup(self, name: str) -> EmotionAction | None:
        for key in (self.model, "*"):
            found = self.table.get(key, {}).get(name)
            if found is not None:
                return found
        for hotkey in self.hotkeys:
            if str(hotkey.get("name", "")).lower() == name:
                file = str(hotkey.get("file", ""))
                if hotkey.get("type") == "ToggleExpression" and file.endswith(".exp3.json"):
                    return EmotionAction(expression=file, fade_s=self.default_fade_s)
                return EmotionAction(hotkey=str(hotkey.get("hotkeyID") or hotkey.get("name")))
        return None

    def switch(self, emotion: str) -> list[tuple[str, dict[str, Any]]]:
        """The requests (message type, data) that move the face to ``emotion``; empty when it
        already shows it. The previous expression fades out as the new one fades in."""
        name, action = self.action(emotion)
        if name == self.current:
            return []
        self.current = name
        requests: list[tuple[str, dict[str, Any]]] = []
        new_expression = action.expression if action is not None else ""
        if self.active_expression and self.active_expression != new_expression:
            requests.append(("ExpressionActivationRequest",
                             {"expressionFile": self.active_expression, "active": False}))
            self.active_expression = ""
        if action is not None and action.expression:
            requests.append(("ExpressionActivationRequest",
                             {"expressionFile": action.expression, "active": True,
                              "fadeTime": min(2.0, max(0.0, action.fade_s))}))
            self.active_expression = action.expression
        elif action is not None:
            requests.append(("HotkeyTriggerRequest", {"hotkeyID": action.hotkey}))
        return requests

    def managed_expressions(self) -> set[str]:
        """Every expression file an emotion of this model may switch on."""
        files = {a.expression for key in (self.model, "*")
                 for a in self.table.get(key, {}).values() if a.expression}
        emotions = set(FACE_OFFSETS) | {e for t in self.table.values() for e in t}
        files |= {str(h.get("file")) for h in self.hotkeys
                  if h.get("type") == "ToggleExpression"
                  and canonical(str(h.get("name", ""))) in emotions}
        return files

    def restore(self, active_now: Collection[str] = ()) -> list[tuple[str, dict[str, Any]]]:
        """The requests that show the current emotion again on a new connection.

        ``active_now`` are the expressions VTS reports active: ours that no longer fit are
        faded out (they survive a mere reconnect), the current one is set if it is not on.
        Hotkeys are not re-triggered, since a toggle hotkey would switch off what survived."""
        emotion, self.current = self.current, NEUTRAL
        self.active_expression = ""
        requests = [r for r in self.switch(emotion) if r[0] != "HotkeyTriggerRequest"]
        stale = sorted((set(active_now) & self.managed_expressions()) - {self.active_expression})
        off = [("ExpressionActivationRequest", {"expressionFile": f, "active": False})
               for f in stale]
        if self.active_expression in active_now:
            requests = []
        return off + requests

    def face(self) -> dict[str, float]:
        """Default-input targets of the current emotion."""
        return FACE_OFFSETS.get(self.current, FACE_OFFSETS[NEUTRAL])
