"""vtparam: read and change a running node's parameters, like ``ros2 param``.

    vtparam list NODE             every parameter with its value and description
    vtparam get NODE NAME         one value
    vtparam set NODE NAME VALUE   change it now (VALUE as JSON, else a string); the node may refuse
    vtparam describe MODULE       what a node module declares, without starting it
                                  (--markdown: the README table; --readme FILE: rewrite it there)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from bus.cli.output import Output, plain
from bus.cli.session import BUS_OPTION, run_tool, tool_node
from bus.errors import VtError
from bus.params import declaration_of, declarations, markdown_table, with_readme_table
from messages.system import (
    GetParameters,
    ParameterDeclaration,
    ParamGetRequest,
    ParamGetResponse,
    ParamSetRequest,
    SetParameters,
)

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

JSON_OPTION = typer.Option(None, "--json/--human", help="JSON lines (default when piped)")


async def _get(bus: str | None, node_name: str, names: list[str]) -> ParamGetResponse:
    async with tool_node(bus, "vtparam") as node:
        client = node.create_client(GetParameters, f"{node_name}/get_parameters")
        return await client.call(ParamGetRequest(names=names), timeout=2.0, retries=1)


def _kind(declaration: ParameterDeclaration | None) -> str:
    if declaration is None:
        return ""
    return "at start" if declaration.at_start else "live"


@app.command("list")
def list_params(node: str, bus: str | None = BUS_OPTION,
                json_mode: bool | None = JSON_OPTION) -> None:
    """Every parameter of NODE: value, type, whether a set takes effect, description."""
    out = Output(json_mode)

    async def main() -> None:
        reply = await _get(bus, node, [])
        declared = {d.name: d for d in reply.declared}
        out.table(["name", "value", "type", "set", "description"],
                  [(k, json.dumps(v), declared[k].type if k in declared else "",
                    _kind(declared.get(k)), reply.descriptions.get(k, ""))
                   for k, v in reply.values.items()],
                  title=f"parameters of {node}")

    run_tool(out, main)


MARKDOWN_OPTION = typer.Option(False, "--markdown", help="print the README table")
README_OPTION = typer.Option(None, "--readme",
                             help="rewrite the table in this README (appended when it has none)")


@app.command()
def describe(module: str, markdown: bool = MARKDOWN_OPTION, readme: Path | None = README_OPTION,
             json_mode: bool | None = JSON_OPTION) -> None:
    """What node MODULE (as a launch file names it) declares, read without starting it."""
    out = Output(json_mode)

    async def main() -> None:
        declared = declaration_of(module)
        if declared is None:
            raise VtError(f"{module} declares no parameters (a Params class in "
                          f"{module}.params, or in {module} itself; see bus/params.py)")
        if readme is not None:
            readme.write_text(with_readme_table(readme.read_text(), module, declared))
            out.line(plain(f"{readme}: parameter table of {module} written"))
        elif markdown:
            sys.stdout.write(markdown_table(declared) + "\n")
        else:
            out.table(["name", "type", "default", "set", "description"],
                      [(d.name, d.type, d.default if out.json else json.dumps(d.default),
                        _kind(d), d.description)
                       for d in declarations(declared)], title=f"parameters of {module}")

    run_tool(out, main)


@app.command()
def get(node: str, name: str, bus: str | None = BUS_OPTION,
        json_mode: bool | None = JSON_OPTION) -> None:
    """The value of NAME on NODE."""
    out = Output(json_mode)

    async def main() -> None:
        values = (await _get(bus, node, [name])).values
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
