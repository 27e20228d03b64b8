"""The stt node's parameters (`nodes.stt.params.Params`) as the settings of its parts: the
voice activity, the segmenter, the echo gate, and each backend's ``Settings`` table."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from bus.plugins import Registry
from nodes.stt.echo import EchoSettings
from nodes.stt.params import Params
from nodes.stt.streaming import StreamSettings
from nodes.stt.vad import VadSettings

__all__ = ["backend_table", "echo_settings", "load_backend", "stream_settings", "vad_settings"]

P = TypeVar("P")
_DEFAULTS = Params()


def vad_settings(params: Params) -> VadSettings:
    """Raises ValueError for thresholds that do not fit together (end above start)."""
    return VadSettings(start_threshold=params.start_threshold,
                       end_threshold=params.end_threshold, start_chunks=params.start_chunks,
                       hangover_ms=params.hangover_ms,
                       start_alone_threshold=params.start_alone_threshold)


def stream_settings(params: Params) -> StreamSettings:
    return StreamSettings(preroll_ms=params.preroll_ms,
                          partial_interval_ms=params.partial_interval_ms,
                          min_partial_ms=params.min_partial_ms,
                          final_after_ms=params.final_after_ms,
                          max_utterance_s=params.max_utterance_s,
                          finished_hangover_ms=params.finished_hangover_ms)


def echo_settings(params: Params) -> EchoSettings:
    return EchoSettings(margin_db=params.echo_margin_db,
                        initial_gain_db=params.echo_initial_gain_db,
                        tail_ms=params.echo_tail_ms, lead_ms=params.echo_lead_ms)


def backend_table(params: Params, settings: type[msgspec.Struct], kind: str, *,
                  prefix: str = "") -> dict[str, Any]:
    """The settings table of backend ``kind``: each parameter named ``prefix`` + a field of
    its ``settings`` Struct, where it differs from its default (a default leaves the
    backend's own: ``speaker_device`` '' is cuda for pyannote, cpu for resemblyzer), then
    ``backend_settings[kind]`` over them."""
    named = {}
    for field in settings.__struct_fields__:
        name = prefix + field
        if name in Params.__struct_fields__ and getattr(params, name) != getattr(_DEFAULTS, name):
            named[field] = getattr(params, name)
    return {**named, **params.backend_settings.get(kind, {})}


def load_backend(registry: Registry[P], kind: str, params: Params, *,
                 prefix: str = "") -> P:
    """Backend ``kind`` of ``registry``, built from its `backend_table`.

    Raises
    ------
    PluginError
        An unknown kind, settings its ``Settings`` refuses, or the backend's own failure to
        load (`nodes.stt.backends.SttBackendError`).
    """
    struct = registry.plugin_class(kind).Settings  # type: ignore[attr-defined]
    return registry.load(kind, backend_table(params, struct, kind, prefix=prefix))
