"""Demo messages, for trying the bus by hand and for the runtime's own tests."""

from __future__ import annotations

from messages.base import Message, service_type

__all__ = ["AddRequest", "AddResponse", "AddTwoInts", "Count"]


class Count(Message, tag="demo.Count"):
    """A counter from the talker, ``text`` padded to the size asked for."""

    value: int
    text: str = ""


class AddRequest(Message, tag="demo.AddRequest"):
    a: int
    b: int
    delay_s: float = 0.0
    """The server sleeps this long first (tests kill it mid-call)."""


class AddResponse(Message, tag="demo.AddResponse"):
    sum: int


AddTwoInts = service_type("demo.AddTwoInts", AddRequest, AddResponse)
