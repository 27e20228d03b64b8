"""The chat node's parameters (read by ``vtlaunch --check`` and ``vtnode info`` without
starting the node).

Live: the command rules (``personas``, ``commands``, ``command_prefix``), the triage rules
(waiting messages are ranked again) and the ageing period, applied by the node's on-set
callback. Read at start: which sources run and how each connects (a connection is opened
once) and ``input_topic`` (a subscription).

A source's settings come from its ``<kind>_<field>`` parameters below (how launch files
give them: ``twitch_channel``...), with ``source_settings`` (kind -> table) over them; a
source kind added later needs no line here, its table is enough.
"""

from __future__ import annotations

from typing import Annotated, Any

from bus.params import Parameters, at_start, live

__all__ = ["Params"]

_SOURCE = "read at start by the {} source"


def _twitch(description: str, **constraints: Any) -> Any:
    return at_start(f"{description} ({_SOURCE.format('twitch')})", **constraints)


def _youtube(description: str, **constraints: Any) -> Any:
    return at_start(f"{description} ({_SOURCE.format('youtube')})", **constraints)


class Params(Parameters):
    sources: Annotated[str, at_start(
        "comma list of source kinds: console, twitch, youtube",
        pattern=r"^[\w\s,]*$")] = "console"
    source_settings: Annotated[dict[str, dict[str, Any]], at_start(
        "settings per source kind, {kind: {field: value}}, over its <kind>_<field> "
        "parameters")] = {}
    input_topic: Annotated[str, at_start(
        "ChatMessages fed by other nodes or `vtbag play` (empty: none)")] = "chat/incoming"
    personas: Annotated[str, live("comma list of persona names that !ask accepts")] = ""
    triage: Annotated[dict[str, Any], live(
        "triage settings, a JSON object (see nodes/chat/README.md)")] = {}
    commands: Annotated[dict[str, Any], live(
        "extra commands: {name: {role, cooldown_s, reply...}}")] = {}
    command_prefix: Annotated[str, live("what starts a chat command", min_length=1)] = "!"
    age_period_s: Annotated[float, live("how often stale messages are aged out", gt=0)] = 1.0

    console_user: Annotated[str, at_start(
        f"author of console lines without 'name:' ({_SOURCE.format('console')})",
        min_length=1)] = "viewer"

    twitch_channel: Annotated[str, _twitch("Twitch channel to join")] = ""
    twitch_login: Annotated[str, _twitch("bot account login (default: $TWITCH_LOGIN)")] = ""
    twitch_url: Annotated[str, _twitch(
        "ircs:// (IRC over TLS) or wss:// (WebSocket); irc:// and ws:// unencrypted",
        pattern=r"^(ircs?|wss?)://")] = "ircs://irc.chat.twitch.tv:6697"
    twitch_ca_file: Annotated[str, _twitch("extra trusted CA (loopback tests)")] = ""
    twitch_server_hostname: Annotated[str, _twitch("expected certificate host name")] = ""
    twitch_token_file: Annotated[str, _twitch(
        "file holding the OAuth token, re-read before each reconnect "
        "(default: $TWITCH_OAUTH_TOKEN)")] = ""
    twitch_anonymous: Annotated[bool, _twitch("read only, no credentials (justinfan)")] = False
    twitch_send_limit: Annotated[int, _twitch("messages per window as a plain user",
                                              ge=1)] = 20
    twitch_send_limit_mod: Annotated[int, _twitch("messages per window as moderator",
                                                  ge=1)] = 100
    twitch_send_window_s: Annotated[float, _twitch("the send limit's window", gt=0)] = 30.0
    twitch_backoff_s: Annotated[float, _twitch("first reconnect delay (doubles)", gt=0)] = 1.0
    twitch_backoff_max_s: Annotated[float, _twitch("longest reconnect delay", gt=0)] = 60.0
    twitch_reply_max_age_s: Annotated[float, _twitch(
        "a reply waiting longer than this (send limit, reconnects) is dropped and logged",
        gt=0)] = 120.0

    youtube_live_chat_id: Annotated[str, _youtube("the broadcast's liveChatId")] = ""
    youtube_api_base: Annotated[str, _youtube(
        "YouTube Data API root", pattern=r"^https?://")] = "https://www.googleapis.com/youtube/v3"
    youtube_key_file: Annotated[str, _youtube(
        "file holding the API key (default: $YOUTUBE_API_KEY)")] = ""
    youtube_oauth_file: Annotated[str, _youtube(
        "file holding an OAuth token, re-read on a 401 (default: $YOUTUBE_OAUTH_TOKEN); "
        "needed to reply")] = ""
    youtube_daily_quota: Annotated[int, _youtube("API units this node may use a day",
                                                 ge=1)] = 10_000
    youtube_quota_horizon_s: Annotated[float, _youtube(
        "spread the units left over this many seconds (0: until reset)", ge=0)] = 14_400.0
    youtube_min_interval_s: Annotated[float, _youtube("never poll faster than this",
                                                      ge=0)] = 0.0
    youtube_history_s: Annotated[float, _youtube(
        "skip first-page history older than this (no backlog at start)", ge=0)] = 60.0
