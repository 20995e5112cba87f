"""The client as a package: `pip install ./clients/python` needs only requests and
cryptography (pandas is an extra), and it works, short of to_pandas(), without pandas."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

from tests.clients.conftest import CLIENT_SOURCE

PACKAGE = CLIENT_SOURCE / "clearinghouse_client"
ALLOWED = {"requests", "cryptography"}


def test_the_package_declares_only_requests_and_cryptography_with_pandas_optional():
    project = tomllib.loads((CLIENT_SOURCE / "pyproject.toml").read_text())["project"]
    assert {dependency.split(">")[0].split("=")[0] for dependency in project["dependencies"]} == ALLOWED
    assert [extra.split(">")[0] for extra in project["optional-dependencies"]["pandas"]] == ["pandas"]
    assert (CLIENT_SOURCE / "README.md").read_text().startswith("# ")


def test_the_code_imports_nothing_else_and_pandas_only_when_asked():
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                if root == "pandas":
                    # Only inside a function: importing the package must not need pandas.
                    assert id(node) in in_functions, f"{path.name}:{node.lineno} imports pandas outside a function"
                    continue
                assert root in stdlib | ALLOWED | {"clearinghouse_client", "__future__"}, f"{path.name}:{node.lineno} imports {root}"


def test_without_pandas_everything_but_to_pandas_works(tmp_path):
    script = tmp_path / "no_pandas.py"
    script.write_text(
        """
import sys
sys.modules["pandas"] = None  # as if it were not installed
sys.path.insert(0, sys.argv[1])
from clearinghouse_client import frames
rows = frames.release_records(
    {"measure": "consumers", "group_by": ["age_band"], "cells": [{"age_band": "25-34", "value": 40, "half_width": 12}]},
    frames.Labels({"purposes": [{"purpose": "p", "domains": {"age_band": [{"code": "25-34", "labels": {"en": "25–34", "zh-hans": "25–34 岁"}}]}}]},
                  purpose="p", language="zh-hans"),
)
assert rows == [{"age_band": "25-34", "age_band_label": "25–34 岁", "value": 40, "half_width": 12, "lower": 28, "upper": 52}], rows
try:
    frames.data_frame(rows, {})
except ImportError as error:
    print(error)
"""
    )
    done = subprocess.run([sys.executable, str(script), str(CLIENT_SOURCE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'clearinghouse-client[pandas]'" in done.stdout
