"""vtnode: the live nodes of a show, like ``ros2 node``.

    vtnode list [--all]      every node with a heartbeat: pid, host, heartbeat age, uptime
    vtnode info NAME         its topics with rates and drops, services, parameters, counters
"""

from __future__ import annotations

import time

import msgspec
import typer

from bus import protocol as p
from bus.cli.output import Output
from bus.cli.session import BUS_OPTION, fetch_graph, run_tool, tool_node
from bus.errors import VtError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

JSON_OPTION = typer.Option(None, "--json/--human", help="JSON lines (default when piped)")


def _uptime(started_ns: int) -> str:
    seconds = max(0, int(time.time() - started_ns / 1e9))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


async def _graph(bus: str | None) -> p.Graph:
    async with tool_node(bus, "vtnode") as node:
        return await fetch_graph(node)


@app.command("list")
def list_nodes(
    all_nodes: bool = typer.Option(False, "-a", "--all", help="include the tools' own nodes"),
    bus: str | None = BUS_OPTION,
    json_mode: bool | None = JSON_OPTION,
) -> None:
    """Every node the registry has heard from within its TTL."""
    out = Output(json_mode)

    async def main() -> None:
        graph = await _graph(bus)
        rows = [
            (s.info.name, s.info.pid, s.info.host, round(s.heartbeat_age_s, 3),
             _uptime(s.info.started_ns), len(s.info.publishers), len(s.info.subscriptions),
             len(s.info.services))
            for s in sorted(graph.nodes, key=lambda s: s.info.name)
            if all_nodes or not s.info.hidden
        ]
        out.table(["name", "pid", "host", "heartbeat_age_s", "uptime", "publishers",
                   "subscriptions", "services"], rows, title=f"nodes on {bus or 'VT_BUS'}")

    run_tool(out, main)


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
        out.line(f"[bold]{info.name}[/bold]  pid {info.pid} on {info.host}, up "
                 f"{_uptime(info.started_ns)}, heartbeat {status.heartbeat_age_s:.1f} s ago")
        out.line("[cyan]publishers:[/cyan]")
        for ep in info.publishers:
            st = info.pub_stats.get(ep.name, p.TopicStats())
            out.line(f"  {ep.name}: {ep.type}{' (latched)' if ep.latched else ''}  "
                     f"{st.rate_hz:.1f} Hz, {st.count} sent, {st.dropped} dropped")
        out.line("[cyan]subscriptions:[/cyan]")
        for ep in info.subscriptions:
            st = info.sub_stats.get(ep.name, p.TopicStats())
            out.line(f"  {ep.name}: {ep.type}  {st.rate_hz:.1f} Hz, {st.count} received, "
                     f"{st.dropped} lost, {st.errors} bad")
        out.line("[cyan]services:[/cyan]")
        for ep in info.services:
            out.line(f"  {ep.name}: {ep.type}")
        out.line("[cyan]clients:[/cyan]")
        for ep in info.clients:
            out.line(f"  {ep.name}: {ep.type}")
        out.line("[cyan]parameters:[/cyan]")
        for key, value in info.parameters.items():
            out.line(f"  {key}: {value!r}")
        out.line("[cyan]counters:[/cyan]")
        for key, value in sorted(info.counters.items()):
            out.line(f"  {key}: {value}")

    run_tool(out, main)


def _plain(info: p.NodeInfo) -> dict[str, object]:
    plain: dict[str, object] = msgspec.to_builtins(info)
    return plain


def main() -> None:
    app()


if __name__ == "__main__":
    main()
