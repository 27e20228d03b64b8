"""Where the avatars look (`nodes.avatar.attention`): toward the human while they talk, on a
fake clock; the table of open utterances is bounded and a lost end stops counting."""

from __future__ import annotations

import pytest

from nodes.avatar.attention import OPEN_MAX, HumanVoice, Look, look_at

CAST = ("aria", "kai")


class TestHumanVoice:
    def test_start_to_end(self) -> None:
        voice = HumanVoice()
        assert not voice.talking(0.0)
        voice.started("u1", 1.0)
        assert voice.talking(1.5)
        voice.ended("u1")
        assert not voice.talking(1.6)

    def test_two_utterances_overlap_until_both_end(self) -> None:
        voice = HumanVoice()
        voice.started("u1", 0.0)
        voice.started("u2", 0.5)
        voice.ended("u1")
        assert voice.talking(1.0)
        voice.ended("u2")
        assert not voice.talking(1.0)

    def test_a_lost_end_stops_counting_after_max_s(self) -> None:
        voice = HumanVoice(max_s=10.0)
        voice.started("u1", 0.0)
        assert voice.talking(10.0)
        assert not voice.talking(10.1)

    def test_an_end_never_started_is_ignored(self) -> None:
        voice = HumanVoice()
        voice.ended("nobody")
        assert not voice.talking(0.0)

    def test_the_table_is_bounded(self) -> None:
        voice = HumanVoice()
        for n in range(OPEN_MAX * 10):
            voice.started(f"u{n}", float(n) / 1000)
        for n in range(OPEN_MAX * 10 - OPEN_MAX, OPEN_MAX * 10):
            voice.ended(f"u{n}")
        assert not voice.talking(1.0), "only the newest were kept"


class TestLookAt:
    @pytest.mark.parametrize(
        ("human", "audible", "floor", "aria", "kai"),
        [
            # the human talking wins over everyone, even a persona still audible
            (True, {"kai"}, "kai", Look.HUMAN, Look.HUMAN),
            (True, set(), "", Look.HUMAN, Look.HUMAN),
            # a persona audible: the other looks at it, it looks ahead
            (False, {"kai"}, "aria", Look.PARTNER, Look.AHEAD),
            # silence: at whoever has the floor
            (False, set(), "aria", Look.AHEAD, Look.PARTNER),
            (False, set(), "human", Look.AHEAD, Look.AHEAD),
        ],
    )
    def test_table(self, human: bool, audible: set[str], floor: str, aria: Look,
                   kai: Look) -> None:
        looks = [look_at(p, human_talking=human, audible=audible, floor=floor, cast=CAST)
                 for p in CAST]
        assert looks == [aria, kai]
