"""The runtime's own messages: log events and the parameter services every node serves."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from messages.base import Message, service_type

__all__ = [
    "GetParameters",
    "LogEvent",
    "ParamGetRequest",
    "ParamGetResponse",
    "ParamSetRequest",
    "ParamSetResponse",
    "ParameterDeclaration",
    "SetParameters",
]


class LogEvent(Message, tag="system.LogEvent"):
    """A warning or error a node logged (``system/log``); ``fatal`` comes right before it dies."""

    node: str
    level: Literal["debug", "info", "warning", "error", "fatal"]
    message: str
    logger: str = ""


class ParamGetRequest(Message, tag="system.ParamGetRequest"):
    names: list[str] = []
    """Empty means every parameter."""


class ParameterDeclaration(msgspec.Struct, kw_only=True, frozen=True):
    """One parameter as its node declares it (``bus.params``): what ``vtnode info``, the
    README tables and ``vtlaunch --check`` show."""

    name: str
    type: str
    """As a person writes it: ``float``, ``dict[str, Any]``."""
    default: Any = None
    description: str = ""
    at_start: bool = False
    """True: read once at start, a run-time set is refused; False: a set takes effect."""


class ParamGetResponse(Message, tag="system.ParamGetResponse"):
    values: dict[str, Any] = {}
    descriptions: dict[str, str] = {}
    declared: list[ParameterDeclaration] = []
    """Every parameter's declaration, in declaration order (added in wave 2: empty from
    older nodes)."""


class ParamSetRequest(Message, tag="system.ParamSetRequest"):
    values: dict[str, Any]


class ParamSetResponse(Message, tag="system.ParamSetResponse"):
    successful: bool
    reason: str = ""
    values: dict[str, Any] = {}


GetParameters = service_type("system.GetParameters", ParamGetRequest, ParamGetResponse)
SetParameters = service_type("system.SetParameters", ParamSetRequest, ParamSetResponse)
