"""vtparam: read and change a running node's parameters, like ``ros2 param``.

    vtparam list NODE             every parameter with its value and description
    vtparam get NODE NAME         one value
    vtparam set NODE NAME VALUE   change it now (VALUE as JSON, else a string); the node may refuse
"""

from __future__ import annotations

import json
from typing import Any

import typer

from bus.cli.output import Output, plain
from bus.cli.session import BUS_OPTION, run_tool, tool_node
from bus.errors import VtError
from messages.system import GetParameters, ParamGetRequest, ParamSetRequest, SetParameters

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

JSON_OPTION = typer.Option(None, "--json/--human", help="JSON lines (default when piped)")


async def _get(bus: str | None, node_name: str, names: list[str]) -> tuple[dict[str, Any],
                                                                          dict[str, str]]:
    async with tool_node(bus, "vtparam") as node:
        client = node.create_client(GetParameters, f"{node_name}/get_parameters")
        reply = await client.call(ParamGetRequest(names=names), timeout=2.0, retries=1)
    return reply.values, reply.descriptions


@app.command("list")
def list_params(node: str, bus: str | None = BUS_OPTION,
                json_mode: bool | None = JSON_OPTION) -> None:
    """Every parameter of NODE."""
    out = Output(json_mode)

    async def main() -> None:
        values, descriptions = await _get(bus, node, [])
        out.table(["name", "value", "description"],
                  [(k, json.dumps(v), descriptions.get(k, "")) for k, v in values.items()],
                  title=f"parameters of {node}")

    run_tool(out, main)


@app.command()
def get(node: str, name: str, bus: str | None = BUS_OPTION,
        json_mode: bool | None = JSON_OPTION) -> None:
    """The value of NAME on NODE."""
    out = Output(json_mode)

    async def main() -> None:
        values, _ = await _get(bus, node, [name])
        if out.json:
            out.record({"node": node, "name": name, "value": values[name]})
        else:
            out.line(plain(f"{name}: {json.dumps(values[name])}"))

    run_tool(out, main)


@app.command("set")
def set_param(node: str, name: str, value: str, bus: str | None = BUS_OPTION,
              json_mode: bool | None = JSON_OPTION) -> None:
    """Set NAME on NODE to VALUE (JSON if it parses, else a string)."""
    out = Output(json_mode)
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value

    async def main() -> None:
        async with tool_node(bus, "vtparam") as tool:
            client = tool.create_client(SetParameters, f"{node}/set_parameters")
            reply = await client.call(ParamSetRequest(values={name: parsed}), timeout=2.0,
                                      retries=0)
        if not reply.successful:
            raise VtError(f"{node} refused {name}={value}: {reply.reason}")
        if out.json:
            out.record({"node": node, "name": name, "value": reply.values.get(name)})
        else:
            out.line(plain(f"Set parameter successful: {name} = "
                           f"{json.dumps(reply.values.get(name))}"))

    run_tool(out, main)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
