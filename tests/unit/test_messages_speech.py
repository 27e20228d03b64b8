"""speech messages: the fields added for the ears decode from payloads that lack them."""

from __future__ import annotations

import msgspec

from messages.speech import Transcript, VadEvent, Word


class TestEvolution:
    def test_an_old_transcript_decodes_with_defaults(self) -> None:
        old = msgspec.msgpack.encode({"type": "speech.Transcript", "utterance_id": "u1",
                                      "text": "hello", "final": True})
        transcript = msgspec.msgpack.decode(old, type=Transcript)
        assert (transcript.audio_ns, transcript.speaker_score, transcript.speaker) == (
            0, 0.0, "unknown")

    def test_round_trip_with_words(self) -> None:
        transcript = Transcript(utterance_id="u1", text="hi there", final=True, speaker="sam",
                                speaker_score=0.7, audio_ns=5, start=0.3, end=1.1,
                                words=[Word(text="hi", start=0.3, end=0.5)])
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(transcript),
                                      type=Transcript) == transcript

    def test_vad_event_round_trip(self) -> None:
        event = VadEvent(event="start", utterance_id="u1", audio_ns=7, probability=0.9)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=VadEvent) == event
