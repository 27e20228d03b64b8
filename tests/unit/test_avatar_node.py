"""The avatar node's wiring without sockets: parameters, input handling, gaze from turns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bus.errors import ParameterError
from bus.node import NodeOptions
from bus.params import check_values, declaration_of
from bus.testing import NodeHarness
from messages.audio import AudioChunk, Playhead
from messages.director import Persona, Turn
from messages.llm import Sentence
from messages.speech import Transcript, VadEvent
from messages.system import ParamSetRequest
from nodes.avatar.node import AvatarNode
from nodes.avatar.params import Params

AVATARS = [{"persona": "aria", "port": 1}, {"persona": "kai", "port": 2,
                                              "partner_direction": -1.0}]


def make(**params: Any) -> NodeHarness:
    options = NodeOptions(bus="ipc:///tmp/vt-avatar-unit-nobus",
                          parameters={"avatars": AVATARS, "seed": 5, **params})
    return NodeHarness(AvatarNode(options=options))


class TestParameters:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"inject_hz": 1.0}, r"'inject_hz' expects float, got 1.0 \(Expected `float` >= 2"),
            ({"inject_hz": 241}, r"'inject_hz' expects float, got 241 \(Expected `float` <= 240"),
            ({"plugin_name": "ab"}, r"'plugin_name' expects str, got 'ab' \(Expected `str` of "
                                    "length >= 3"),
            ({"avatars": []}, r"'avatars' expects list.*, got \[\] \(Expected `array` of "
                              "length >= 1"),
            ({"avatars": [{"persona": "a"}, {"persona": "a"}]}, "needs one entry per persona"),
            ({"avatars": [{"persona": "a", "prot": 1}]}, "unknown field `prot`"),
            ({"avatars": [{"persona": "a", "emotions": {"*": {"happy": {}}}}]},
             "exactly one of `expression` or `hotkey`"),
        ],
    )
    def test_refused_with_reason(self, params: dict[str, Any], message: str) -> None:
        with pytest.raises(ParameterError, match=message):
            make(**params)

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"inject_hz": 1.0}, "Expected `float` >= 2.0"),
            ({"expression_fade_s": 0}, "Expected `float` > 0.0"),
            ({"discovery_port": "udp"}, "'discovery_port' expects int, got 'udp'"),
            ({"avatars": [{"persona": "a", "emotions": {"*": {"happy": {}}}}]},
             "exactly one of `expression` or `hotkey`"),
        ],
    )
    def test_refused_by_the_launch_check(self, params: dict[str, Any], message: str) -> None:
        declared = declaration_of("nodes.avatar")
        assert declared is Params
        with pytest.raises(ParameterError, match=message):
            check_values(declared, params, node="avatar")

    async def test_at_start_set_refused(self) -> None:
        harness = make()
        response = await harness.call("avatar/set_parameters",
                                      ParamSetRequest(values={"plugin_name": "other name"}))
        assert not response.successful
        assert "plugin_name is read at start: restart the node with -p plugin_name:=" in \
            response.reason

    async def test_timing_set_applies_to_the_ticker_and_every_avatar(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        response = await harness.call("avatar/set_parameters", ParamSetRequest(values={
            "inject_hz": 120, "lookahead_ms": 50, "emotion_hold_s": 1.5,
            "expression_fade_s": 1.0}))
        assert response.successful, response.reason
        assert node.ticker.period == pytest.approx(1 / 120)
        for avatar in node.avatars.values():
            settings = avatar.puppet.settings
            assert (settings.lookahead_s, settings.emotion_hold_s, settings.face_fade_s) == (
                pytest.approx(0.05), 1.5, 1.0)
            # an expression found through the model's hotkeys fades in the new time
            avatar.mapper.set_model("m", [{"name": "Happy", "type": "ToggleExpression",
                                           "file": "Happy.exp3.json"}])
            [(_, data)] = avatar.mapper.switch("happy")
            assert data["fadeTime"] == 1.0

    async def test_bad_set_refused_and_nothing_changes(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        response = await harness.call("avatar/set_parameters", ParamSetRequest(values={
            "lookahead_ms": 50, "inject_hz": 500}))
        assert not response.successful and "inject_hz" in response.reason
        assert node.ticker.period == pytest.approx(1 / 60)
        assert node.avatars["aria"].puppet.settings.lookahead_s == pytest.approx(0.02)

    def test_token_files_per_persona(self, tmp_path: Any) -> None:
        harness = make(token_dir=str(tmp_path))
        node = harness.node
        assert isinstance(node, AvatarNode)
        paths = {p: a.session.config.token_store.path for p, a in node.avatars.items()}
        assert paths == {"aria": tmp_path / "aria.token", "kai": tmp_path / "kai.token"}


class TestInputs:
    def test_chunk_and_playhead_reach_the_right_puppet(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        pcm = (0.5 * np.sin(np.arange(8000) / 3) * 32767).astype("<i2").tobytes()
        harness.feed("tts/audio", AudioChunk(persona="kai", request_id="r", sentence_index=0,
                                             chunk_index=0, pcm=pcm, sample_rate=16000))
        harness.feed("audio/playhead", Playhead(persona="kai", request_id="r",
                                                sentence_index=0, sample=100,
                                                sample_rate=16000, audible_ns=1000))
        assert node.avatars["kai"].puppet.speaking(2000)
        assert not node.avatars["aria"].puppet.speaking(2000)

    def test_bad_pcm_and_unknown_persona_dropped(self) -> None:
        harness = make()
        node = harness.node
        harness.feed("tts/audio", AudioChunk(persona="aria", request_id="r", sentence_index=0,
                                             chunk_index=0, pcm=b"\x00", sample_rate=16000))
        harness.feed("llm/sentence", Sentence(request_id="r", persona="zed", index=0, text="x"))
        assert node.counters["bad_input"] == 2
        assert node.counters["unknown_persona"] == 1

    async def test_turn_makes_the_others_look(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        harness.feed("director/turn", Turn(speaker="kai"))
        await node._tick(0.0)
        assert node.avatars["aria"].puppet.idle.gaze.target == 1.0
        assert node.avatars["kai"].puppet.idle.gaze.target == 0.0
        harness.feed("director/turn", Turn(speaker="human"))
        await node._tick(0.0)
        assert node.avatars["aria"].puppet.idle.gaze.target == 0.0

    async def test_active_persona_when_no_turn(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        harness.feed("persona/active", Persona(name="aria"))
        await node._tick(0.0)
        assert node.avatars["kai"].puppet.idle.gaze.target == -1.0  # its partner is on its left
        assert node.avatars["aria"].puppet.idle.gaze.target == 0.0

    async def test_the_avatars_look_toward_the_human_while_they_talk(self) -> None:
        avatars = [{**AVATARS[0], "human_direction": -0.6}, {**AVATARS[1],
                                                              "human_direction": 0.4}]
        harness = make(avatars=avatars)
        node = harness.node
        assert isinstance(node, AvatarNode)
        harness.feed("director/turn", Turn(speaker="kai"))
        harness.feed("speech/vad", VadEvent(event="start", utterance_id="u1"))
        await node._tick(0.0)
        targets = {p: a.puppet.idle.gaze.target for p, a in node.avatars.items()}
        assert targets == {"aria": -0.6, "kai": 0.4}
        harness.feed("speech/vad", VadEvent(event="end", utterance_id="u1"))
        await node._tick(0.0)
        assert node.avatars["aria"].puppet.idle.gaze.target == 1.0  # back to kai's turn
        # the utterance's final transcript ends it too (its end event was lost)
        harness.feed("speech/vad", VadEvent(event="start", utterance_id="u2"))
        harness.feed("speech/final", Transcript(utterance_id="u2", text="hi", final=True))
        await node._tick(0.0)
        assert node.avatars["kai"].puppet.idle.gaze.target == 0.0

    async def test_human_look_max_s_is_live(self) -> None:
        harness = make()
        node = harness.node
        assert isinstance(node, AvatarNode)
        response = await harness.call("avatar/set_parameters",
                                      ParamSetRequest(values={"human_look_max_s": 5.0}))
        assert response.successful, response.reason
        assert node.human_voice.max_s == 5.0

    def test_human_direction_out_of_range_refused(self) -> None:
        with pytest.raises(ParameterError, match=r"Expected `float` <= 1\.0"):
            make(avatars=[{"persona": "a", "human_direction": 2.0}])
