"""vtnode: the live nodes of a show, like ``ros2 node``.

    vtnode list [--all]      every program of the show (supervisord: state, pid, uptime,
                             restarts) beside every node with a heartbeat (heartbeat age,
                             topics, publish rate)
    vtnode info NAME         its topics with rates and drops, services, parameters, counters
    vtnode restart NAME      stop and start a program of the running show (vtlaunch)
    vtnode stop NAME         stop it (and its process group); it stays down
    vtnode start NAME        start it again
"""

from __future__ import annotations

import time

import msgspec
import typer

from bus import protocol as p
from bus.cli.output import Output, plain
from bus.cli.session import BUS_OPTION, fetch_graph, run_tool, tool_node
from bus.errors import ServiceError, VtError
from launch.control import ProgramStatus, ShowNotRunning, find_program, find_shows, join
from messages.system import GetParameters, ParameterDeclaration, ParamGetRequest

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

JSON_OPTION = typer.Option(None, "--json/--human", help="JSON lines (default when piped)")


def _uptime(started_ns: int) -> str:
    return _duration(time.time() - started_ns / 1e9)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(max(0, int(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _programs(bus: str | None) -> list[ProgramStatus]:
    """The show's programs as its supervisord(s) on this machine see them; none without one."""
    try:
        return [program for show in find_shows(bus) for program in show.programs()]
    except ShowNotRunning:
        return []


async def _graph(bus: str | None) -> p.Graph:
    async with tool_node(bus, "vtnode") as node:
        return await fetch_graph(node)


@app.command("list")
def list_nodes(
    all_nodes: bool = typer.Option(False, "-a", "--all", help="include the tools' own nodes"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Every program of the running show and every node the registry has heard from within
    its TTL, side by side."""
    out = Output(json_mode)

    async def main() -> None:
        programs = _programs(bus)
        try:
            graph: p.Graph | None = await _graph(bus)
        except VtError as exc:
            if not programs:
                raise
            out.error(f"{exc} (showing supervisord's view only)")
            graph = None
        rows = [
            (r.name, r.state, r.pid, _duration(r.uptime_s), _cell(r.restarts, out.json),
             _cell(r.heartbeat_age_s, out.json), r.host, r.publishers, r.subscriptions, r.services,
             r.pub_rate_hz)
            for r in join(programs, graph, hidden=all_nodes)
        ]
        out.table(["name", "state", "pid", "uptime", "restarts", "heartbeat_age_s", "host",
                   "publishers", "subscriptions", "services", "pub_rate_hz"], rows,
                  title=f"nodes on {bus or 'VT_BUS'}")

    run_tool(out, main)


def _cell(value: object, json_mode: bool) -> object:
    """A value that does not apply: null in JSON, ``-`` for a person."""
    return "-" if value is None and not json_mode else value


def _control(action: str, name: str, bus: str | None, json_mode: bool | None) -> None:
    out = Output(json_mode)
    try:
        show = find_program(name, bus)
        status: ProgramStatus = getattr(show, action)(name)
    except VtError as exc:
        out.error(str(exc))
        raise typer.Exit(1) from None
    if out.json:
        out.record(status)
    else:
        pid = f", pid {status.pid}" if status.pid else ""
        out.line(plain(f"{status.name}: {status.state}{pid}"))


NAME_ARGUMENT = typer.Argument(..., help="a program of the running show (see vtnode list)")


@app.command()
def restart(name: str = NAME_ARGUMENT, bus: str | None = BUS_OPTION,
            json_mode: bool | None = JSON_OPTION) -> None:
    """Stop program NAME of the running show, then start it (waits until it counts as up)."""
    _control("restart", name, bus, json_mode)


@app.command()
def stop(name: str = NAME_ARGUMENT, bus: str | None = BUS_OPTION,
         json_mode: bool | None = JSON_OPTION) -> None:
    """Stop program NAME and its process group; it stays down until `vtnode start`."""
    _control("stop", name, bus, json_mode)


@app.command()
def start(name: str = NAME_ARGUMENT, bus: str | None = BUS_OPTION,
          json_mode: bool | None = JSON_OPTION) -> None:
    """Start program NAME of the running show (waits until it counts as up)."""
    _control("start", name, bus, json_mode)


@app.command()
def info(name: str, bus: str | None = BUS_OPTION, json_mode: bool | None = JSON_OPTION) -> None:
    """Everything the registry knows about node NAME."""
    out = Output(json_mode)

    async def main() -> None:
        graph = await _graph(bus)
        status = next((s for s in graph.nodes if s.info.name == name), None)
        if status is None:
            names = ", ".join(sorted(s.info.name for s in graph.nodes if not s.info.hidden))
            raise VtError(f"no node named {name!r} on the bus (live: {names or 'none'})")
        info = status.info
        if out.json:
            out.record({"heartbeat_age_s": status.heartbeat_age_s, **_plain(info)})
            return
        out.line(f"[bold]{plain(info.name)}[/bold]  pid {info.pid} on {plain(info.host)}, up "
                 f"{_uptime(info.started_ns)}, heartbeat {status.heartbeat_age_s:.1f} s ago")
        out.line("[cyan]publishers:[/cyan]")
        for ep in info.publishers:
            st = info.pub_stats.get(ep.name, p.TopicStats())
            out.line(f"  {plain(ep.name)}: {plain(ep.type)}{' (latched)' if ep.latched else ''}  "
                     f"{st.rate_hz:.1f} Hz, {st.count} sent, {st.dropped} dropped")
        out.line("[cyan]subscriptions:[/cyan]")
        for ep in info.subscriptions:
            st = info.sub_stats.get(ep.name, p.TopicStats())
            out.line(f"  {plain(ep.name)}: {plain(ep.type)}  {st.rate_hz:.1f} Hz, {st.count} received, "
                     f"{st.dropped} lost, {st.errors} bad")
        out.line("[cyan]services:[/cyan]")
        for ep in info.services:
            out.line(f"  {plain(ep.name)}: {plain(ep.type)}")
        out.line("[cyan]clients:[/cyan]")
        for ep in info.clients:
            out.line(f"  {plain(ep.name)}: {plain(ep.type)}")
        out.line("[cyan]parameters:[/cyan]")
        declared = await _declared(bus, name)
        for key, value in info.parameters.items():
            d = declared.get(key)
            about = f"  ({d.type}, {'read at start' if d.at_start else 'live'}) " \
                    f"{plain(d.description)}" if d is not None else ""
            out.line(f"  {plain(key)}: {plain(repr(value))}{about}")
        out.line("[cyan]counters:[/cyan]")
        for key, value in sorted(info.counters.items()):
            out.line(f"  {plain(key)}: {value}")

    run_tool(out, main)


async def _declared(bus: str | None, name: str) -> dict[str, ParameterDeclaration]:
    """The node's parameter declarations (type, live or at start, description); none from a
    node that does not answer in time (it is busy, or older)."""
    async with tool_node(bus, "vtnode") as node:
        client = node.create_client(GetParameters, f"{name}/get_parameters")
        try:
            reply = await client.call(ParamGetRequest(), timeout=1.0, retries=0)
        except ServiceError:
            return {}
    return {d.name: d for d in reply.declared}


def _plain(info: p.NodeInfo) -> dict[str, object]:
    plain: dict[str, object] = msgspec.to_builtins(info)
    return plain


def main() -> None:
    app()


if __name__ == "__main__":
    main()
