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


LIBRARY_SCRIPT = textwrap.dedent("""
    import http.server, logging, threading
    import httpx
    from bus.run import options_from_argv
    options_from_argv([])
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.handle_request, daemon=True).start()
    httpx.get(f"http://127.0.0.1:{server.server_address[1]}/")  # httpx logs it at INFO
    logging.getLogger("chat").info("our own info line")
""")


class TestLibraryLogs:
    """Third-party libraries' INFO lines (faster-whisper logged 74 for 16 utterances; httpx
    one per request) are quiet by default; VT_LOG_LIBRARIES brings them back."""

    def _stderr(self, **env: str) -> str:
        import os
        result = subprocess.run([sys.executable, "-c", LIBRARY_SCRIPT], capture_output=True,
                                text=True, timeout=60, check=True,
                                env={**os.environ, "VT_LOG_LIBRARIES": "", **env})
        return result.stderr

    def test_quiet_by_default_our_own_lines_stay(self) -> None:
        stderr = self._stderr()
        assert "HTTP Request: GET" not in stderr
        assert "INFO chat: our own info line" in stderr

    def test_turned_back_on(self) -> None:
        stderr = self._stderr(VT_LOG_LIBRARIES="INFO")
        assert "INFO httpx: HTTP Request: GET" in stderr
        assert "INFO chat: our own info line" in stderr
