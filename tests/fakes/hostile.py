"""Text a hostile viewer sends: escape sequences (colour, clear screen) and a CR LF that would
forge a log line if it reached a terminal raw."""

HOSTILE = "\x1b[31mmika\x1b[0m\r\n12:00:00 INFO director: FAKE LOG LINE\x1b[2J"
"""What the tests print and log; nothing of it may reach a terminal unescaped."""
