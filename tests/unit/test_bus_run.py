"""bus.run: a node's log lines hold no raw control characters, whatever text they carry."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from fakes.hostile import HOSTILE

SCRIPT = textwrap.dedent("""
    import logging, sys
    from bus.run import options_from_argv
    options_from_argv([])
    hostile = sys.argv[1]
    logging.getLogger("chat").warning("viewer %s says hi", hostile)
    try:
        raise ValueError("bad name " + hostile)
    except ValueError:
        logging.getLogger("chat").exception("dropped %s", hostile)
""")


def test_hostile_viewer_name_cannot_forge_a_log_line() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT, HOSTILE], capture_output=True,
                            text=True, timeout=60, check=True)
    lines = result.stderr.splitlines()
    assert not any("\x1b" in line or "\r" in line for line in lines)
    records = [line for line in lines if not line.startswith("  ")]
    assert len(records) == 2  # the warning and the error: nothing forged between them
    first = lines[0]
    assert first.endswith("WARNING chat: viewer \\x1b[31mmika\\x1b[0m\\r\\n12:00:00 INFO "
                          "director: FAKE LOG LINE\\x1b[2J says hi")
    assert "ERROR chat: dropped \\x1b[31m" in lines[1]
    # the traceback keeps its lines, indented: the exception's own text may hold a newline
    assert lines[2] == "  Traceback (most recent call last):"
    assert lines[-2:] == ["  ValueError: bad name \\x1b[31mmika\\x1b[0m\\r",
                          "  12:00:00 INFO director: FAKE LOG LINE\\x1b[2J"]
