"""Emotions: configuration, hotkey discovery, neutral fallback, the requests of a switch."""

from __future__ import annotations

from typing import Any

import pytest

from nodes.avatar.emotions import (
    FACE_OFFSETS,
    NEUTRAL,
    EmotionMapper,
    canonical,
    parse_emotion_map,
)

HOTKEYS = [
    {"name": "Happy", "type": "ToggleExpression", "file": "Happy.exp3.json", "hotkeyID": "hk1"},
    {"name": "Wave", "type": "TriggerAnimation", "file": "Wave.motion3.json", "hotkeyID": "hk2"},
]


def mapper(table: dict[str, Any] | None = None) -> EmotionMapper:
    m = EmotionMapper(parse_emotion_map(table or {}), default_fade_s=0.3)
    m.set_model("Hiyori", HOTKEYS)
    return m


class TestCanonical:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("Happy", "happy"),
            ("joy", "happy"),         # synonym
            (" SAD ", "sad"),
            ("", NEUTRAL),            # no emotion tag
            ("thinking", "curious"),
        ],
    )
    def test_folds(self, given: str, expected: str) -> None:
        assert canonical(given) == expected


class TestParse:
    def test_valid(self) -> None:
        table = parse_emotion_map({"*": {"Joy": {"expression": "Smile.exp3.json"}}})
        assert table["*"]["happy"].expression == "Smile.exp3.json"

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            ({}, "exactly one of `expression` or `hotkey`"),
            ({"expression": "a.exp3.json", "hotkey": "x"}, "exactly one"),
            ({"expression": "smile.png"}, "must be a .exp3.json file name"),
            ({"expresion": "a.exp3.json"}, "unknown field `expresion`"),
        ],
    )
    def test_invalid_names_the_problem(self, entry: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match="bad emotion map") as info:
            parse_emotion_map({"*": {"happy": entry}})
        assert message in str(info.value)


class TestMapper:
    def test_configured_expression_fades_in(self) -> None:
        m = mapper({"Hiyori": {"sad": {"expression": "Sad.exp3.json", "fade_s": 0.8}}})
        assert m.switch("sad") == [("ExpressionActivationRequest",
                                    {"expressionFile": "Sad.exp3.json", "active": True,
                                     "fadeTime": 0.8})]

    def test_other_models_entry_ignored(self) -> None:
        m = mapper({"OtherModel": {"sad": {"expression": "Sad.exp3.json"}}})
        assert m.switch("sad") == []  # falls to face offsets only
        assert m.current == "sad"

    def test_model_hotkey_named_like_the_emotion(self) -> None:
        m = mapper()
        # a ToggleExpression hotkey is applied as its expression (fades, no toggling)
        assert m.switch("happy") == [("ExpressionActivationRequest",
                                      {"expressionFile": "Happy.exp3.json", "active": True,
                                       "fadeTime": 0.3})]

    def test_hotkey_action_triggers(self) -> None:
        m = mapper({"*": {"curious": {"hotkey": "Wave"}}})
        assert m.switch("curious") == [("HotkeyTriggerRequest", {"hotkeyID": "Wave"})]

    def test_switch_fades_out_previous_expression(self) -> None:
        m = mapper({"*": {"sad": {"expression": "Sad.exp3.json"}}})
        m.switch("happy")
        requests = m.switch("sad")
        assert requests[0] == ("ExpressionActivationRequest",
                               {"expressionFile": "Happy.exp3.json", "active": False})
        assert requests[1][1]["expressionFile"] == "Sad.exp3.json"

    def test_unknown_emotion_falls_back_to_neutral(self) -> None:
        m = mapper()
        m.switch("happy")
        requests = m.switch("flabbergasted-by-llamas")
        assert m.current == NEUTRAL
        assert requests == [("ExpressionActivationRequest",
                             {"expressionFile": "Happy.exp3.json", "active": False})]
        assert m.face() == FACE_OFFSETS[NEUTRAL]

    def test_same_emotion_twice_sends_nothing(self) -> None:
        m = mapper()
        m.switch("happy")
        assert m.switch("joy") == []

    def test_restore_after_reconnect(self) -> None:
        m = mapper({"*": {"curious": {"hotkey": "Wave"}}})
        m.switch("happy")
        assert m.restore() == [("ExpressionActivationRequest",
                                {"expressionFile": "Happy.exp3.json", "active": True,
                                 "fadeTime": 0.3})]
        m.switch("curious")
        assert m.restore() == []  # a hotkey is never re-triggered (it may toggle)

    def test_restore_fades_out_stale_and_keeps_what_is_on(self) -> None:
        m = mapper({"*": {"sad": {"expression": "Sad.exp3.json"}}})
        m.switch("sad")
        # after a reconnect VTS still shows Happy (ours, stale) and Sad; Blush is the user's
        requests = m.restore({"Happy.exp3.json", "Sad.exp3.json", "Blush.exp3.json"})
        assert requests == [("ExpressionActivationRequest",
                             {"expressionFile": "Happy.exp3.json", "active": False})]

    def test_managed_expressions(self) -> None:
        m = mapper({"*": {"sad": {"expression": "Sad.exp3.json"}}})
        assert m.managed_expressions() == {"Sad.exp3.json", "Happy.exp3.json"}

    def test_face_offsets_follow_emotion(self) -> None:
        m = mapper()
        m.switch("sad")
        assert m.face()["MouthSmile"] < FACE_OFFSETS[NEUTRAL]["MouthSmile"]
