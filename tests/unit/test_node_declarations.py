"""Every node declares its parameters where vtlaunch reads them without starting it, and its
README's parameter table is the one generated from that declaration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bus.params import declaration_of, with_readme_table

ROOT = Path(__file__).resolve().parents[2]
NODE_PACKAGES = sorted(p.parent.name for p in (ROOT / "nodes").glob("*/__main__.py"))
NODE_MODULES = [f"nodes.{name}" for name in NODE_PACKAGES] + [
    "nodes.demo.talker", "nodes.demo.listener"]
HEAVY = ("numpy", "zmq", "onnxruntime", "llama_cpp", "torch", "faster_whisper", "chromadb",
         "sounddevice", "websockets", "httpx")


def _readme_of(module: str) -> Path:
    parts = module.split(".")
    folder = ROOT.joinpath(*parts[:2])
    return folder / "README.md"


@pytest.mark.parametrize("module", NODE_MODULES)
def test_every_node_declares_its_parameters(module: str) -> None:
    assert declaration_of(module) is not None, (
        f"{module} has no Params: declare its parameters in {module}.params (bus/params.py)")


@pytest.mark.parametrize("module", [m for m in NODE_MODULES if m.count(".") == 1])
def test_reading_a_declaration_imports_nothing_heavy(module: str) -> None:
    """vtlaunch --check imports every node's params module: it must stay cheap."""
    code = (f"import sys, {module}.params; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("module", NODE_MODULES)
def test_the_readme_table_is_generated_from_the_declaration(module: str) -> None:
    declared = declaration_of(module)
    assert declared is not None
    readme = _readme_of(module)
    text = readme.read_text()
    assert with_readme_table(text, module, declared) == text, (
        f"{readme.relative_to(ROOT)} is out of date: "
        f"vtparam describe {module} --readme {readme.relative_to(ROOT)}")
