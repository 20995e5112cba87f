"""Every random draw that protects a person comes from OpenDP: nothing in the product code
imports `random` or uses `numpy.random`, and the release noise is built by OpenDP's
constructors."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_CODE = [ROOT / "clearinghouse"]


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "random" or alias.name.startswith("numpy.random"):
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if (
                module == "random"
                or module.startswith("numpy.random")
                or (module == "numpy" and any(a.name == "random" for a in node.names))
            ):
                found.append(f"from {module} import …")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "random"
            and isinstance(node.value, ast.Name)
            and node.value.id in {"np", "numpy"}
        ):
            found.append(f"{node.value.id}.random")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant) and "random" in str(node.args[0].value):
                found.append("__import__('random')")
    return found


def test_the_checker_recognises_every_form():
    assert offences("import random") and offences("from random import choice") and offences("import numpy.random as r")
    assert offences("from numpy import random") and offences("import numpy as np\nnp.random.laplace(0, 1)")
    assert offences("__import__('random')")
    assert not offences("import secrets\nfrom opendp import prelude")


def test_no_random_or_numpy_random_in_product_code():
    files = [path for folder in PRODUCT_CODE for path in folder.rglob("*.py")]
    assert len(files) > 30
    bad = {str(path.relative_to(ROOT)): found for path in files if (found := offences(path.read_text(encoding="utf-8")))}
    assert not bad, bad


def test_release_noise_comes_from_opendp_constructors():
    source = (ROOT / "clearinghouse" / "releases" / "mechanisms.py").read_text(encoding="utf-8")
    assert "dp.m.make_laplace(" in source and "dp.m.make_noisy_top_k(" in source
    # The services draw noise only through those mechanisms' release() calls.
    services = (ROOT / "clearinghouse" / "releases" / "services.py").read_text(encoding="utf-8")
    assert "secrets." not in services and "os.urandom" not in services
