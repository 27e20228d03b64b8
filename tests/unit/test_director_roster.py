"""Who voices the show, from registry snapshots: left, restarted, back, gone."""

from __future__ import annotations

from nodes.director.roster import BUS, Role, Roster, Seen

TOPICS = {Role.LLM: "llm/done", Role.TTS: "tts/audio", Role.SPEAKER: "audio/playhead"}


def node(name: str, pid: int, *topics: str, started_ns: int = 0) -> Seen:
    return Seen(name, pid, started_ns or pid * 1000, frozenset(topics))


LLM = node("llm", 10, "llm/done", "llm/sentence")
TTS = node("tts", 20, "tts/audio")
SPEAKER = node("speaker", 30, "audio/playhead")
CHAT = node("chat", 40, "chat/message")


def roster(*nodes: Seen, epoch: str = "e1") -> Roster:
    r = Roster(TOPICS, rejoin_wait_s=30, bus_grace_s=3)
    assert r.update(nodes, epoch, 0.0) == []  # the first look is the baseline
    return r


def changes(r: Roster, nodes: list[Seen], now: float, epoch: str = "e1") -> list[str]:
    return [str(c) for c in r.update(nodes, epoch, now)]


class TestRoster:
    def test_roles_come_from_the_topics_published(self) -> None:
        r = roster(LLM, TTS, CHAT)
        assert r.present(Role.LLM) and r.present(Role.TTS)
        assert not r.present(Role.SPEAKER) and not r.known(Role.SPEAKER)
        assert r.roles_of(CHAT) == frozenset()

    def test_a_new_process_under_the_same_name_restarted(self) -> None:
        r = roster(LLM, TTS)
        (change,) = r.update([node("llm", 11, "llm/done"), TTS], "e1", 1.0)
        assert (str(change), change.roles) == ("llm restarted", frozenset({Role.LLM}))
        assert r.away() == [] and r.present(Role.LLM)

    def test_the_same_pid_started_again_restarted(self) -> None:
        r = roster(TTS)
        assert changes(r, [node("tts", 20, "tts/audio", started_ns=5)], 1.0) == ["tts restarted"]

    def test_left_is_awaited_then_back(self) -> None:
        r = roster(LLM, SPEAKER)
        assert changes(r, [LLM], 1.0) == ["speaker left"]
        assert r.away() == ["speaker"] and r.known(Role.SPEAKER)
        assert not r.present(Role.SPEAKER)
        assert changes(r, [LLM], 2.0) == []  # said once
        assert changes(r, [LLM, node("speaker", 31, "audio/playhead")], 5.0) == ["speaker back"]
        assert r.away() == [] and r.present(Role.SPEAKER)

    def test_not_back_in_time_is_gone(self) -> None:
        r = roster(LLM, TTS)
        changes(r, [LLM], 1.0)
        assert changes(r, [LLM], 30.9) == []
        assert changes(r, [LLM], 31.0) == ["tts gone"]
        assert r.away() == [] and not r.known(Role.TTS)

    def test_nodes_re_registering_after_a_bus_restart_did_not_leave(self) -> None:
        r = roster(LLM, TTS)
        # vtbus restarted: nodes come back one by one at their next heartbeat
        assert changes(r, [LLM], 1.0, epoch="e2") == ["vtbus restarted"]
        assert changes(r, [LLM, TTS], 2.0, epoch="e2") == []
        assert changes(r, [LLM], 10.0, epoch="e2") == ["tts left"]  # later: a real loss

    def test_a_node_gone_while_the_bus_restarted_is_noticed_after_the_grace(self) -> None:
        r = roster(LLM, TTS)
        assert changes(r, [LLM], 1.0, epoch="e2") == ["vtbus restarted"]
        assert changes(r, [LLM], 4.0, epoch="e2") == ["tts left"]

    def test_a_bus_restart_is_a_change_of_every_role(self) -> None:
        # what was in flight through the old vtbus (a request, sentences, audio, playheads)
        # is lost: the turn in progress must hear of it (issue 14, soak: 14 s of silence)
        r = roster(LLM, TTS)
        (change,) = r.update([LLM, TTS], "e2", 1.0)
        assert change.node == BUS and change.what == "restarted"
        assert change.roles == frozenset(Role)
        assert changes(r, [LLM, TTS], 2.0, epoch="e2") == []

    def test_nodes_without_a_role_are_not_watched(self) -> None:
        r = roster(LLM, CHAT)
        assert changes(r, [LLM], 1.0) == []
