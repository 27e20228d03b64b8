"""What each program of a show finds in its environment: a small base set, plus what its
launch entry names.

vtlaunch's own environment holds the streamer's secrets (``TWITCH_OAUTH_TOKEN``,
``YOUTUBE_API_KEY``...), and a program's ``/proc/PID/environ`` is readable by every process of
the same user. So supervisord starts from `base_environment` only, and each program gets, on
top of it, the variables its ``env_pass`` names (`passed`): the tts node never holds a Twitch
token. The base set is what any program needs to run here and holds no secret: where things
are (``PATH``, ``HOME``, the XDG folders, the virtual environment), the locale and time zone,
how to reach the desktop and the sound server, which GPUs exist, the show's own ``VT_*``
settings, and the coverage hooks of the test suite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["BASE_NAMES", "BASE_PREFIXES", "PASS_PATTERN", "base_environment", "passed"]

BASE_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "LANG", "LANGUAGE", "TZ",
    "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME",
    "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
    "PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE",
    "VIRTUAL_ENV", "PYTHONPATH", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
})
BASE_PREFIXES = ("LC_", "VT_", "COVERAGE_")
"""Locale categories, the show's own settings, and coverage's subprocess hook (tests)."""

PASS_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")
"""An ``env_pass`` entry: a variable's name, or a prefix ending in ``*`` (``HF_*``)."""


def base_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` every program gets."""
    return {k: v for k, v in environ.items() if k in BASE_NAMES or k.startswith(BASE_PREFIXES)}


def passed(patterns: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that ``patterns`` (names, or prefixes ending in ``*``)
    name; a name that is not set is left out (the program sees it unset, not empty)."""
    names = set()
    prefixes = []
    for pattern in patterns:
        if pattern.endswith("*"):
            prefixes.append(pattern[:-1])
        else:
            names.add(pattern)
    return {k: v for k, v in environ.items()
            if k in names or any(k.startswith(prefix) for prefix in prefixes)}
