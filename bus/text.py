"""Text from outside (chat, node names, program output) made safe to print or log.

A viewer's name such as ``"\\x1b[2J\\r\\nFAKE LOG LINE"`` must reach a terminal as visible
characters: a raw escape sequence would clear the streamer's screen or recolour it, a raw
``\\r``/``\\n`` would forge a line of another program's log. `escape_control` is the one place
that decides what is dangerous; logs (`bus.run`), vtlaunch's relay of program output
(`launch.logs`) and the command-line tools (`bus.cli.output`) all go through it.
"""

from __future__ import annotations

__all__ = ["escape_control", "json_safe"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
"""Direction overrides and marks: they reorder how the rest of a line is displayed."""
_DANGEROUS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, 0x2028, 0x2029]
"""C0 controls (ESC, CR, LF, tab, BEL...), DEL, C1 controls (U+009B is a one-character CSI for
some terminals), direction controls, and the Unicode line and paragraph separators."""


def _visible(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ESCAPES = {code: _visible(code) for code in _DANGEROUS}
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _DANGEROUS if code >= 0x7F}


def escape_control(text: str) -> str:
    """``text`` with every control character spelled out (``\\x1b``, ``\\r``, ``\\n``,
    ``\\x9b``, ``\\u202e``), so it prints as one line of visible characters.

    Printable text, accents and emoji are unchanged; a backslash stays a backslash.
    """
    return text.translate(_ESCAPES)


def json_safe(encoded: str) -> str:
    """A JSON text with the controls JSON leaves raw (DEL, C1, direction controls, line
    separators) written as ``\\uXXXX``: the same JSON value, harmless at a terminal."""
    return encoded.translate(_JSON_ESCAPES)
