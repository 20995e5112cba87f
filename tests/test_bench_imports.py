"""Benches and tools import the product by name, often inside functions: a move in the
tree must not leave one of them pointing at a module that no longer exists (bench/release
and bench/intake did, after the re-layout, and only failed minutes into a run)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    path
    for folder in ("bench", "tools", "scripts")
    for path in (ROOT / folder).iterdir()
    if path.is_file() and (path.suffix == ".py" or path.read_bytes().startswith(b"#!/usr/bin/env python"))
)


def product_imports(path: Path) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "clearinghouse":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "clearinghouse"]
    return found


def test_the_scripts_are_found():
    names = {path.name for path in SCRIPTS}
    assert {"release", "accuracy", "intake", "verify_release.py", "test.py"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_product_name_a_script_imports_exists(path):
    for module_name, name in product_imports(path):
        module = importlib.import_module(module_name)
        if name is not None and not hasattr(module, name):
            importlib.import_module(f"{module_name}.{name}")  # a submodule, or ImportError naming it
