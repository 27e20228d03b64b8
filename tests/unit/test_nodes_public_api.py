"""Nodes use only Node's public API (issue 15): no node class reads or writes a private
attribute of Node, or assigns an attribute Node itself uses (the chat node once replaced the
base class's task set)."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import pytest

from bus.node import Node, NodeOptions

ROOT = Path(__file__).resolve().parents[2]
NODE_FILES = sorted(p for p in (ROOT / "nodes").rglob("*.py")
                    if re.search(r"^class \w+\(Node\)", p.read_text(), re.MULTILINE))


@pytest.fixture(scope="module")
def base_attributes() -> tuple[set[str], set[str]]:
    """(every private name of Node, every attribute a Node instance holds)."""
    node = Node("probe", options=NodeOptions(bus="ipc:///tmp/vt-unused-public-api"))
    held = set(vars(node))
    asyncio.run(node.close())
    private = {n for n in {*held, *dir(Node)} if n.startswith("_") and not n.startswith("__")}
    return private, held


def _node_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [c for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
            and any(isinstance(b, ast.Name) and b.id == "Node" for b in c.bases)]


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_node_touches_no_private_attribute_of_node(
        path: Path, base_attributes: tuple[set[str], set[str]]) -> None:
    private, held = base_attributes
    found = []
    for cls in _node_classes(ast.parse(path.read_text())):
        for item in ast.walk(cls):
            if not (isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name)
                    and item.value.id == "self"):
                continue
            if item.attr in private:
                found.append(f"{cls.name}: self.{item.attr} (line {item.lineno})")
            elif item.attr in held and isinstance(item.ctx, ast.Store):
                found.append(f"{cls.name}: assigns Node's own self.{item.attr} "
                             f"(line {item.lineno})")
    assert not found, "use Node's public API: " + "; ".join(found)


def test_the_scan_sees_the_nodes() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in NODE_FILES}
    assert {"nodes/director/node.py", "nodes/chat/node.py", "nodes/tts/node.py"} <= names
