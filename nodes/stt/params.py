"""The stt node's parameters (read without starting it: ``vtparam describe nodes.stt``).

Live (applied by the node's on-set callback from the next 32 ms chunk on, or read where
used): the voice-activity thresholds and timings, the partial/final cadence, the echo gate
and the transcript echo check, the speaker threshold. Read at start: the backends and their
settings (a model, a device, a thread pool: only a reload changes them) and the enrolment.

A backend's settings (`nodes.stt.backends`) come from the parameters named like its
``Settings`` fields (the recogniser's as they are: ``model_path``, ``device``...; the speaker
embedding's with ``speaker_``: ``speaker_model_path`` is pyannote's ``model_path``) where
they differ from their default, then from ``backend_settings[kind]`` over them: a backend
added as a plug-in needs no parameter of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from bus.params import Parameters, at_start, live

__all__ = ["Params"]

_RECOGNISER = "read at start by the whisper recogniser"


class Params(Parameters):
    # voice activity (nodes/stt/vad.py); end_threshold <= start_threshold is checked too
    start_threshold: Annotated[float, live(
        "speech probability that starts speech", gt=0, lt=1)] = 0.5
    end_threshold: Annotated[float, live(
        "probability under which speech is quiet (at most start_threshold)", gt=0, lt=1)] = 0.35
    start_chunks: Annotated[int, live("32 ms chunks in a row needed to start", ge=1)] = 2
    # 0.9: one chunk 32 ms sooner, no false start measured on noise, music, typing or the
    # personas' echo; loud music reached 0.7 (`benchmarks/stt.py --floor`, tests/unit/test_stt_floor.py)
    start_alone_threshold: Annotated[float, live(
        "speech probability at which one chunk starts speech by itself (0: start_chunks "
        "always; else at least start_threshold)", ge=0, le=1)] = 0.9
    hangover_ms: Annotated[float, live("quiet time that ends an utterance", ge=0)] = 400.0

    # when to transcribe (nodes/stt/streaming.py)
    preroll_ms: Annotated[float, live("audio kept before the onset", ge=0)] = 300.0
    partial_interval_ms: Annotated[float, live("speech between partials", gt=0)] = 1000.0
    min_partial_ms: Annotated[float, live("speech before the first partial", ge=0)] = 600.0
    final_after_ms: Annotated[float, live("pause before the final is started", ge=0)] = 96.0
    max_utterance_s: Annotated[float, live("longer utterances are cut", gt=0)] = 25.0
    finished_hangover_ms: Annotated[float, live(
        "quiet time that ends an utterance whose words already read as a finished sentence "
        "(0: always hangover_ms)", ge=0)] = 0.0
    """Off: on a quiet machine 192 ms ended utterances inside a sentence ("Thank you so
    much for the follow," then the rest lost: word error rate 0.25 against 0.07, and 0.72 on
    the held-out sentences with the 8 s window), though under load (20-31) it measured well."""
    audio_gap_ms: Annotated[float, live(
        "no audio/mic frame for this long ends the utterance under way (a WAV that ended, a "
        "microphone that vanished)", gt=0)] = 1000.0

    # backends
    recogniser: Annotated[str, at_start(
        "speech recogniser: whisper (a kind of nodes.stt.backends.RECOGNISERS)",
        min_length=1)] = "whisper"
    vad_backend: Annotated[str, at_start(
        "speech probability per chunk: silero (a kind of nodes.stt.backends.VOICE_ACTIVITY)",
        min_length=1)] = "silero"
    speaker_backend: Annotated[str, at_start(
        "spectral (numpy), resemblyzer (CPU, torch), pyannote (GPU) or none")] = "spectral"
    backend_settings: Annotated[dict[str, dict[str, Any]], at_start(
        "backend kind -> its settings by its Settings' field names, over the parameters "
        "named like them (a plug-in backend's own settings go here)")] = {}

    model_path: Annotated[str, at_start(
        f"Whisper model directory ('' bundled tiny.en) ({_RECOGNISER})")] = ""
    device: Annotated[str, at_start(f"cpu or cuda ({_RECOGNISER})")] = "cpu"
    compute_type: Annotated[str, at_start(
        f"int8 (cpu), float16 (cuda) ({_RECOGNISER})")] = "int8"
    beam_size: Annotated[int, at_start(f"beam for finals ({_RECOGNISER})", ge=1)] = 5
    partial_beam_size: Annotated[int, at_start(
        f"beam for partials ({_RECOGNISER})", ge=1)] = 1
    cpu_threads: Annotated[int, at_start(
        f"CTranslate2 threads per job, 0 its default ({_RECOGNISER})", ge=0)] = 0
    num_workers: Annotated[int, at_start(
        f"jobs the model runs at once: a final beside a partial ({_RECOGNISER})", ge=1)] = 2
    language: Annotated[str, at_start(f"spoken language ({_RECOGNISER})")] = "en"
    window_s: Annotated[float, at_start(
        f"seconds of audio the encoder sees (at least the utterance + 2 s), 0 Whisper's 30 s "
        f"({_RECOGNISER})", ge=0, le=30)] = 8.0

    # the personas' own voices (nodes/stt/echo.py)
    echo_margin_db: Annotated[float, live("a person must beat the echo by this much")] = 6.0
    echo_initial_gain_db: Annotated[float, live("echo gain assumed before learning")] = -6.0
    echo_tail_ms: Annotated[float, live("echo path length (reverb) covered", ge=0)] = 150.0
    echo_lead_ms: Annotated[float, live("playhead timing error tolerated", ge=0)] = 60.0
    echo_text_overlap: Annotated[float, live(
        "share of the personas' words that makes a final transcript echo", ge=0, le=1)] = 0.7

    # who is speaking (nodes/stt/speakers.py)
    enrol_wav: Annotated[str, at_start("a WAV of the collaborator's voice to enrol")] = ""
    speaker_name: Annotated[str, at_start(
        "the label for the enrolled voice", min_length=1)] = "collaborator"
    speaker_model_path: Annotated[str, at_start(
        "pyannote: embedding checkpoint (local)")] = ""
    speaker_device: Annotated[str, at_start(
        "embedding device ('' the backend's: cuda for pyannote, cpu for resemblyzer)")] = ""
    speaker_threshold: Annotated[float, live(
        "similarity needed to name the speaker (0: the backend's default)", ge=0, le=1)] = 0.0
