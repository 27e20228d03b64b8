"""A scripted loopback Twitch chat server: IRC over TCP/TLS or over WebSocket.

It performs Twitch's handshake (CAP ACK, the 001-376 welcome, GLOBALUSERSTATE; on JOIN the
JOIN echo, NAMES, USERSTATE and ROOMSTATE), refuses a wrong token with Twitch's NOTICE,
answers each PRIVMSG to a joined channel with USERSTATE (as Twitch does: "sent when the bot
joins a channel or sends a PRIVMSG message"), and then lets the test push lines (the
documented examples below), PING, RECONNECT, or drop the connection. Lines the client sends
are recorded with their arrival time; a dropped connection reads nothing more, as a closed
server socket would.

The ``DOC_*`` lines are copied from Twitch's documentation
(https://dev.twitch.tv/docs/irc/tags/ and /docs/irc/commands/).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import websockets

__all__ = [
    "DOC_CLEARCHAT_ALL",
    "DOC_CLEARCHAT_BAN",
    "DOC_CLEARCHAT_TIMEOUT",
    "DOC_CLEARMSG",
    "DOC_PRIVMSG",
    "DOC_PRIVMSG_BITS",
    "DOC_USERNOTICE_RAID",
    "DOC_USERNOTICE_RESUB",
    "DOC_USERNOTICE_SUBGIFT",
    "FakeTwitch",
    "make_certificate",
    "privmsg",
]

# --- documented examples (tags reference) ---------------------------------------------------
DOC_PRIVMSG = (
    "@badge-info=;badges=broadcaster/1;client-nonce=997dcf443c31e258c1d32a8da47b6936;"
    "color=#0000FF;display-name=abc;emotes=;first-msg=0;flags=0-6:S.7;"
    "id=eb24e920-8065-492a-8aea-266a00fc5126;mod=0;room-id=713936733;subscriber=0;"
    "tmi-sent-ts=1642786203573;turbo=0;user-id=713936733;user-type= "
    ":abc!abc@abc.tmi.twitch.tv PRIVMSG #xyz :HeyGuys"
)
DOC_PRIVMSG_BITS = (
    "@badge-info=;badges=staff/1,bits/1000;bits=100;color=;display-name=ronni;emotes=;"
    "id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=12345678;subscriber=0;"
    "tmi-sent-ts=1507246572675;turbo=1;user-id=12345678;user-type=staff "
    ":ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :cheer100"
)
DOC_USERNOTICE_RESUB = (
    "@badge-info=;badges=staff/1,broadcaster/1,turbo/1;color=#008000;display-name=ronni;"
    "emotes=;id=db25007f-7a18-43eb-9379-80131e44d633;login=ronni;mod=0;msg-id=resub;"
    "msg-param-cumulative-months=6;msg-param-streak-months=2;msg-param-should-share-streak=1;"
    "msg-param-sub-plan=Prime;msg-param-sub-plan-name=Prime;room-id=12345678;subscriber=1;"
    "system-msg=ronni\\shas\\ssubscribed\\sfor\\s6\\smonths!;tmi-sent-ts=1507246572675;"
    "turbo=1;user-id=87654321;user-type=staff :tmi.twitch.tv USERNOTICE #dallas "
    ":Great stream -- keep it up!"
)
DOC_USERNOTICE_SUBGIFT = (
    "@badge-info=;badges=staff/1,premium/1;color=#0000FF;display-name=TWW2;emotes=;"
    "id=e9176cd8-5e22-4684-ad40-ce53c2561c5e;login=tww2;mod=0;msg-id=subgift;"
    "msg-param-months=1;msg-param-recipient-display-name=Mr_Woodchuck;"
    "msg-param-recipient-id=55554444;msg-param-recipient-name=mr_woodchuck;"
    "msg-param-sub-plan-name=House\\sof\\sNyoro~n;msg-param-sub-plan=1000;room-id=19571752;"
    "subscriber=0;system-msg=TWW2\\sgifted\\sa\\sTier\\s1\\ssub\\sto\\sMr_Woodchuck!;"
    "tmi-sent-ts=1521159445153;turbo=0;user-id=87654321;user-type=staff "
    ":tmi.twitch.tv USERNOTICE #forstycup"
)
DOC_USERNOTICE_RAID = (
    "@badge-info=;badges=turbo/1;color=#9ACD32;display-name=TestChannel;emotes=;"
    "id=3d830f12-795c-447d-af3c-ea05e40fbddb;login=testchannel;mod=0;msg-id=raid;"
    "msg-param-displayName=TestChannel;msg-param-login=testchannel;msg-param-viewerCount=15;"
    "room-id=33332222;subscriber=0;"
    "system-msg=15\\sraiders\\sfrom\\sTestChannel\\shave\\sjoined\\n!;"
    "tmi-sent-ts=1507246572675;turbo=1;user-id=123456;user-type= "
    ":tmi.twitch.tv USERNOTICE #othertestchannel"
)
DOC_CLEARCHAT_ALL = ":tmi.twitch.tv CLEARCHAT #dallas"
DOC_CLEARCHAT_BAN = (
    "@room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642715756806 "
    ":tmi.twitch.tv CLEARCHAT #dallas :ronni"
)
DOC_CLEARCHAT_TIMEOUT = (
    "@ban-duration=350;room-id=12345678;target-user-id=87654321;tmi-sent-ts=1642719320727 "
    ":tmi.twitch.tv CLEARCHAT #dallas :ronni"
)
DOC_CLEARMSG = (
    "@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts=1642720582342 "
    ":tmi.twitch.tv CLEARMSG #dallas :HeyGuys"
)


def privmsg(channel: str, login: str, text: str, *, msg_id: str | None = None,
            user_id: str = "", badges: str = "", first: bool = False, mod: bool = False,
            display_name: str = "", emotes: str = "", returning: bool = False) -> str:
    """A PRIVMSG shaped like the documented one, with the given values."""
    tags = {
        "badge-info": "", "badges": badges, "color": "#0000FF",
        "display-name": display_name or login, "emotes": emotes,
        "first-msg": "1" if first else "0", "flags": "",
        "id": msg_id or str(uuid.uuid4()), "mod": "1" if mod else "0",
        "returning-chatter": "1" if returning else "0", "room-id": "713936733",
        "subscriber": "1" if "subscriber/" in badges else "0",
        "tmi-sent-ts": str(time.time_ns() // 1_000_000), "turbo": "0",
        "user-id": user_id or str(abs(hash(login)) % 10**9), "user-type": "",
    }
    raw = ";".join(f"{k}={v}" for k, v in tags.items())
    return f"@{raw} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def make_certificate(folder: Path, host: str = "irc.chat.twitch.test") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` and 127.0.0.1 (openssl CLI); (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def _command(line: str) -> str:
    words = line.split(" ", 2)
    return words[1] if line.startswith("@") and len(words) > 1 else words[0]


@dataclass
class _Session:
    send: Callable[[str], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    nick: str = ""
    password: str = ""
    joined: set[str] = field(default_factory=set)
    closed: bool = False


class FakeTwitch:
    """The server. ``transport``: ``irc`` (TCP), ``ircs`` (TLS), ``ws`` or ``wss``.

    Parameters
    ----------
    token:
        The token PASS must carry (``oauth:<token>``); ``justinfan*`` logins need none.
    bot_is_mod:
        USERSTATE says the bot is a moderator (raising its send limit).
    echo_password:
        Quote the password back, without its ``oauth:``, in a ``NOTICE *`` (as a misbehaving
        server or proxy might), then carry on: the client must never log or publish it.
    tls:
        Server TLS context for ``ircs``/``wss``.
    """

    def __init__(self, transport: str = "irc", *, token: str = "s3cr3t-token",
                 bot_is_mod: bool = False, echo_password: bool = False,
                 tls: ssl.SSLContext | None = None):
        self.transport = transport
        self.token = token
        self.bot_is_mod = bot_is_mod
        self.echo_password = echo_password
        self.tls = tls
        self.sessions: list[_Session] = []
        self.received: list[tuple[float, str]] = []
        self.connects = 0
        self.joins = 0
        self.port = 0
        self._server: asyncio.Server | websockets.Server | None = None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"{self.transport}://127.0.0.1:{self.port}"

    async def start(self) -> FakeTwitch:
        if self.transport in ("irc", "ircs"):
            server = await asyncio.start_server(self._stream_client, "127.0.0.1", 0,
                                                ssl=self.tls if self.transport == "ircs" else None)
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
        else:
            ws_server = await websockets.serve(self._ws_client, "127.0.0.1", 0,
                                               ssl=self.tls if self.transport == "wss" else None)
            self.port = next(iter(ws_server.sockets)).getsockname()[1]
            self._server = ws_server
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> FakeTwitch:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ scripting

    async def send(self, *lines: str) -> None:
        """Send lines to every client, in one write (Twitch packs lines into one WebSocket
        frame or TCP segment when it has several)."""
        if not lines:
            return
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.send("\r\n".join(lines))

    async def ping(self, timeout: float = 5.0) -> None:
        """PING every client and wait for a PONG."""
        before = len(self.lines("PONG"))
        await self.send("PING :tmi.twitch.tv")
        await self.wait(lambda: len(self.lines("PONG")) > before, timeout, "PONG")

    async def reconnect(self) -> None:
        """Send RECONNECT, then close those connections as Twitch does (a client that
        reconnected meanwhile keeps its new one)."""
        old = list(self.sessions)
        await self.send(":tmi.twitch.tv RECONNECT")
        await asyncio.sleep(0.05)
        await self.drop(old)

    async def drop(self, sessions: list[_Session] | None = None) -> None:
        """Close ``sessions`` (every connection by default)."""
        doomed = list(self.sessions) if sessions is None else sessions
        self.sessions = [s for s in self.sessions if s not in doomed]
        for session in doomed:
            session.closed = True
            with contextlib.suppress(Exception):
                await session.close()

    def lines(self, command: str) -> list[str]:
        """Received lines whose command (after any tags) is ``command``."""
        return [line for _, line in self.received if _command(line) == command]

    def privmsgs(self) -> list[tuple[float, str]]:
        """(monotonic arrival time, text) of each PRIVMSG the client sent."""
        return [(t, line.split(" :", 1)[1]) for t, line in self.received
                if _command(line) == "PRIVMSG"]

    async def wait_joined(self, count: int = 1, timeout: float = 10.0) -> None:
        await self.wait(lambda: self.joins >= count, timeout, f"{count} JOIN(s)")

    async def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"fake Twitch: timed out waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    # ------------------------------------------------------------ protocol

    async def _stream_client(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        async def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        async def close() -> None:
            writer.close()

        session = _Session(send, close)
        try:
            while raw := await reader.readline():
                if not await self._on_line(session, raw.decode().rstrip("\r\n")):
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _ws_client(self, ws: websockets.ServerConnection) -> None:
        async def send(line: str) -> None:
            await ws.send(line + "\r\n")

        async def close() -> None:
            await ws.close()

        session = _Session(send, close)
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode()
                for line in text.split("\r\n"):
                    if line and not await self._on_line(session, line):
                        return

    async def _on_line(self, s: _Session, line: str) -> bool:
        """Handle one client line; False ends the session."""
        if s.closed:  # bytes a closed socket would never have read
            return False
        self.received.append((time.monotonic(), line))
        self._changed.set()
        command, _, rest = line.partition(" ")
        if command == "CAP":
            await s.send(":tmi.twitch.tv CAP * ACK :" + rest.split(":", 1)[-1])
        elif command == "PASS":
            s.password = rest
            if self.echo_password:
                await s.send(":tmi.twitch.tv NOTICE * :Improperly formatted auth: "
                             + rest.removeprefix("oauth:"))
        elif command == "NICK":
            s.nick = rest.strip()
            if not (s.nick.startswith("justinfan") or s.password == f"oauth:{self.token}"):
                await s.send(":tmi.twitch.tv NOTICE * :Login authentication failed")
                return False
            self.connects += 1
            for code, text in (("001", "Welcome, GLHF!"), ("002", "Your host is tmi.twitch.tv"),
                               ("003", "This server is rather new"), ("004", "-"),
                               ("375", "-"), ("372", "You are in a maze of twisty passages."),
                               ("376", ">")):
                await s.send(f":tmi.twitch.tv {code} {s.nick} :{text}")
            await s.send(f"@badge-info=;badges=;color=;display-name={s.nick};emote-sets=0;"
                         "user-id=1234;user-type= :tmi.twitch.tv GLOBALUSERSTATE")
            self.sessions.append(s)
        elif command == "JOIN":
            channel = rest.strip().lstrip("#")
            nick = s.nick
            await s.send(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{channel}")
            await s.send(f":{nick}.tmi.twitch.tv 353 {nick} = #{channel} :{nick}")
            await s.send(f":{nick}.tmi.twitch.tv 366 {nick} #{channel} :End of /NAMES list")
            await s.send(self._userstate(nick, channel))
            await s.send("@emote-only=0;followers-only=-1;r9k=0;room-id=713936733;slow=0;"
                         f"subs-only=0 :tmi.twitch.tv ROOMSTATE #{channel}")
            s.joined.add(channel)
            self.joins += 1
        elif _command(line) == "PRIVMSG":
            words = line.split(" ")
            channel = words[words.index("PRIVMSG") + 1].lstrip("#")
            if channel in s.joined:
                await s.send(self._userstate(s.nick, channel))
        return True

    def _userstate(self, nick: str, channel: str) -> str:
        badges = "moderator/1" if self.bot_is_mod else ""
        return (f"@badge-info=;badges={badges};color=;display-name={nick};emote-sets=0;"
                f"mod={int(self.bot_is_mod)};subscriber=0;user-type= "
                f":tmi.twitch.tv USERSTATE #{channel}")
