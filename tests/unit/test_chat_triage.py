"""Triage: priorities, filters, removals, ageing; every drop counted by reason."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest
from helpers.chat import chat_line

from messages.chat import ChatMessage, Emote
from nodes.chat.removal import Removal
from nodes.chat.triage import Triage, TriageConfig, tier_name


def chat(text: str = "hello there", *, user: str = "viewer", **fields: Any) -> ChatMessage:
    """A line on channel ``chan`` whose author's id is ``id-<user>``."""
    return chat_line(text, user=user, user_id=f"id-{user}", channel="chan", **fields)


def drain(triage: Triage, now: float = 0.0) -> list[str]:
    out = []
    while (msg := triage.next(now)) is not None:
        out.append(msg.text)
    return out


class TestPriority:
    def test_default_order(self) -> None:
        triage = Triage()
        # offered worst first; answered best first
        triage.offer(chat("rest", user="r"), 0)
        triage.offer(chat("regular", user="s", roles=["subscriber"]), 0)
        triage.offer(chat("newcomer", user="f", roles=["first_time"]), 0)
        triage.offer(chat("mod", user="m", roles=["moderator"]), 0)
        triage.offer(chat("host", user="b", roles=["broadcaster"]), 0)
        triage.offer(chat("thanks", user="p", kind="superchat", amount=5.0), 0)
        assert drain(triage) == ["thanks", "host", "mod", "newcomer", "regular", "rest"]

    def test_configured_order_and_fifo_within_a_tier(self) -> None:
        triage = Triage(TriageConfig(tiers=["first_time", "rest"]))
        triage.offer(chat("a1", user="a"), 0)
        triage.offer(chat("a2", user="b"), 0)
        triage.offer(chat("paid", user="p", kind="bits", amount=100), 0)  # unlisted: last
        triage.offer(chat("new", user="n", roles=["first_time"]), 0)
        assert drain(triage) == ["new", "a1", "a2", "paid"]

    def test_new_rules_rank_the_waiting_messages_again(self) -> None:
        counts: Counter[str] = Counter()
        triage = Triage(counts=counts)
        triage.offer(chat("rest 1", user="r1"), 0)
        triage.offer(chat("new", user="n", roles=["first_time"]), 1)
        triage.offer(chat("thanks", user="p", kind="bits", amount=100), 2)
        triage.offer(chat("rest 2", user="r2"), 3)
        # the paid tier moves last and the queue shrinks to 3: the oldest of the lowest goes
        assert triage.reconfigure(TriageConfig(tiers=["first_time", "rest"], max_queue=3)) == 1
        assert counts["dropped_overflow"] == 1
        assert drain(triage) == ["new", "rest 1", "rest 2"]

    def test_a_word_blocked_at_run_time_is_dropped_from_then_on(self) -> None:
        counts: Counter[str] = Counter()
        triage = Triage(counts=counts)
        assert triage.offer(chat("spoiler: he dies", user="a"), 0) is None
        triage.reconfigure(TriageConfig(blocklist=["spoiler"]))
        assert triage.offer(chat("spoiler again", user="b"), 1) == "blocklist"
        assert drain(triage) == ["spoiler: he dies"]  # what waited before stays

    def test_unknown_tier_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"unknown triage tier\(s\) \['vips'\]"):
            TriageConfig(tiers=["vips"])

    @pytest.mark.parametrize(
        ("kind", "roles", "tier"),
        [
            ("raid", [], "paid"),  # a raid is thanked like support
            ("member", [], "paid"),
            ("text", ["member"], "regular"),  # a YouTube member is a regular
            ("text", ["returning"], "regular"),
            ("text", ["vip", "moderator"], "moderator"),
            ("text", [], "rest"),
        ],
    )
    def test_tiers(self, kind: str, roles: list[str], tier: str) -> None:
        assert tier_name(chat(kind=kind, roles=roles)) == tier

    def test_answered_once(self) -> None:
        triage = Triage()
        triage.offer(chat("only"), 0)
        assert triage.next(0) is not None
        assert triage.next(0) is None
        assert triage.waiting == 0

    def test_persona_filter_keeps_others_waiting(self) -> None:
        triage = Triage()
        triage.offer(chat("for blaze", user="a", persona="blaze"), 0)
        triage.offer(chat("for anyone", user="b"), 0)
        first = triage.next(0, persona="aria")
        assert first is not None and first.text == "for anyone"
        assert triage.next(0, persona="aria") is None
        second = triage.next(0, persona="Blaze")  # persona names ignore case
        assert second is not None and second.text == "for blaze"


class TestFilters:
    @pytest.mark.parametrize(
        ("text", "roles", "reason"),
        [
            ("check https://spam.example now", [], "link"),
            ("visit free-followers.com today", [], "link"),
            ("THIS IS SO LOUD RIGHT NOW", [], "caps"),
            ("soooooooooooooooo good", [], "repeats"),
            ("lol lol lol lol lol lol lol lol", [], "repeats"),
            ("   ", [], "empty"),
        ],
    )
    def test_spam(self, text: str, roles: list[str], reason: str) -> None:
        counts: Counter[str] = Counter()
        assert Triage(counts=counts).offer(chat(text, roles=roles), 0) == reason
        assert counts == {f"dropped_{reason}": 1}

    def test_emote_wall(self) -> None:
        emotes = [Emote(id="25", start=i * 6, end=i * 6 + 4) for i in range(9)]
        assert Triage().offer(chat("Kappa " * 9, emotes=emotes), 0) == "emotes"

    @pytest.mark.parametrize("roles", [["moderator"], ["vip"], ["broadcaster"]])
    def test_links_allowed_for_roles(self, roles: list[str]) -> None:
        assert Triage().offer(chat("schedule at https://example.com", roles=roles), 0) is None

    def test_blocklist_applies_to_paid_too(self) -> None:
        triage = Triage(TriageConfig(blocklist=["badword", "two words"]))
        assert triage.offer(chat("a BadWord here", user="a"), 0) == "blocklist"
        assert triage.offer(chat("say two   words", user="b"), 0) == "blocklist"
        assert triage.offer(chat("badword", kind="superchat", amount=2, user="c"), 0) == "blocklist"
        assert triage.offer(chat("badwordy is fine", user="d"), 0) is None  # whole words only

    def test_duplicates(self) -> None:
        triage = Triage(TriageConfig(dedup_window_s=10))
        assert triage.offer(chat("Hello  there", user="a", msg_id="x1"), 0) is None
        assert triage.offer(chat("hello there", user="a"), 1) == "duplicate"
        assert triage.offer(chat("other", user="b", msg_id="x1"), 1) == "duplicate_id"
        assert triage.offer(chat("hello there", user="a"), 12) is None  # window passed

    def test_copypasta(self) -> None:
        triage = Triage(TriageConfig(copypasta_users=2))
        verdicts = [triage.offer(chat("raid copypasta", user=f"u{i}"), 0) for i in range(4)]
        assert verdicts == [None, None, "copypasta", "copypasta"]

    def test_user_rate(self) -> None:
        counts: Counter[str] = Counter()
        triage = Triage(TriageConfig(user_limit=2, user_window_s=30), counts)
        verdicts = [triage.offer(chat(f"msg {i}", user="fast"), i) for i in range(3)]
        assert verdicts == [None, None, "user_rate"]
        assert triage.offer(chat("later", user="fast"), 31) is None
        assert counts["dropped_user_rate"] == 1

    def test_paid_and_privileged_skip_limits(self) -> None:
        triage = Triage(TriageConfig(user_limit=1))
        for i in range(3):
            assert triage.offer(chat(f"cheer {i}", user="p", kind="bits", amount=1), 0) is None
            assert triage.offer(chat(f"MOD SAYS {i} HELLO ALL", user="m",
                                     roles=["moderator"]), 0) is None

    def test_system_events_are_not_queued(self) -> None:
        triage = Triage()
        assert triage.offer(chat("announcement", kind="system"), 0) == "system_event"
        assert triage.waiting == 0


class TestRemovalAndAgeing:
    def test_deleted_message(self) -> None:
        triage = Triage()
        triage.offer(chat("bad", user="a", msg_id="abc-123-def"), 0)
        triage.offer(chat("good", user="b"), 0)
        assert triage.remove(Removal("twitch", "chan", message_id="abc-123-def")) == 1
        assert drain(triage) == ["good"]
        assert triage.counts["dropped_removed"] == 1

    def test_timeout_removes_every_message_of_the_user(self) -> None:
        triage = Triage()
        for i in range(3):
            triage.offer(chat(f"troll {i}", user="troll"), 0)
        triage.offer(chat("fine", user="b"), 0)
        assert triage.remove(Removal("twitch", "chan", user="troll", user_id="id-troll",
                                     duration_s=600)) == 3
        assert triage.waiting == 1

    def test_platforms_do_not_mix(self) -> None:
        triage = Triage()
        triage.offer(chat("yt", user="same", platform="youtube"), 0)
        assert triage.remove(Removal("twitch", user="same", user_id="id-same")) == 0

    def test_clear_chat(self) -> None:
        triage = Triage()
        for i in range(4):
            triage.offer(chat(f"m{i}", user=f"u{i}"), 0)
        assert triage.remove(Removal("twitch", "chan")) == 4
        assert triage.next(0) is None

    def test_stale_messages_age_out(self) -> None:
        counts: Counter[str] = Counter()
        triage = Triage(TriageConfig(max_age_s=10, paid_max_age_s=100), counts)
        triage.offer(chat("old"), 0)
        triage.offer(chat("paid", kind="superchat", amount=1, user="p"), 0)
        triage.offer(chat("new", user="n"), 8)
        assert drain(triage, now=11) == ["paid", "new"]
        assert counts["dropped_stale"] == 1

    def test_overflow_evicts_lowest_oldest(self) -> None:
        counts: Counter[str] = Counter()
        triage = Triage(TriageConfig(max_queue=2), counts)
        triage.offer(chat("rest old", user="a"), 0)
        triage.offer(chat("rest new", user="b"), 0)
        assert triage.offer(chat("host", user="h", roles=["broadcaster"]), 0) is None
        assert drain(triage) == ["host", "rest new"]
        assert counts["dropped_overflow"] == 1

    def test_overflow_refuses_a_lower_newcomer(self) -> None:
        triage = Triage(TriageConfig(max_queue=1))
        triage.offer(chat("mod", user="m", roles=["moderator"]), 0)
        assert triage.offer(chat("rest", user="r"), 0) == "overflow"
        assert drain(triage) == ["mod"]


class TestFlood:
    def test_raid_flood_of_5000(self) -> None:
        """A raid: 5,000 messages in 2 s from 1,000 users, with copypasta, spam and support."""
        counts: Counter[str] = Counter()
        triage = Triage(TriageConfig(max_queue=200), counts)
        for i in range(5000):
            now = i * 2 / 5000
            user = f"raider{i % 1000}"
            if i % 10 == 0:
                msg = chat("RAID HYPE RAID HYPE RAID HYPE", user=user)
            elif i % 97 == 0:
                msg = chat(f"thanks {i}", user=user, kind="bits", amount=100)
            else:
                msg = chat(f"hello from raider number {i}", user=user)
            triage.offer(msg, now)
        assert triage.waiting == 200
        decided = sum(v for k, v in counts.items() if k.startswith("dropped_"))
        # every message is either waiting, answered-to-be, or counted as dropped by reason
        assert decided + triage.waiting == 5000
        first = triage.next(2.0)
        assert first is not None and first.kind == "bits"
        assert set(counts) >= {"dropped_copypasta", "dropped_overflow"}


class TestConfig:
    def test_from_json(self) -> None:
        cfg = msgspec.convert({"max_queue": 5, "blocklist": ["x"]}, TriageConfig)
        assert (cfg.max_queue, cfg.blocklist) == (5, ["x"])

    def test_unknown_field_is_refused(self) -> None:
        with pytest.raises(msgspec.ValidationError, match="max_que"):
            msgspec.convert({"max_que": 5}, TriageConfig)
