#!/usr/bin/env python3
"""The floor plan as a rule a machine checks: imports between the apps of `clearinghouse/`
only point down (docs/architecture.md draws the picture).

Run it as `python tools/import_contract.py` (exit 1 and one line per offence) or through
tests/test_architecture.py. It reads the source with `ast` and imports nothing, so it runs
without Django or a database.

Rules:
1. A module of app A may import app B only when B sits on a lower floor than A. Apps on
   the same floor (the audiences; the engines) never import each other.
2. No function-level import of another app: such imports exist only to dodge an import
   cycle, which rule 1 already forbids. `AppConfig.ready` (Django's place for connecting
   receivers) and migrations are the exceptions.
3. Nothing imports the roof (settings, urls, celery, wsgi), which sits above every app.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clearinghouse"

# Lowest floor first. Apps on one floor are siblings and may not import each other.
FLOORS: list[tuple[str, ...]] = [
    ("core",),  # actors, errors, env, crypto, db helpers: imports no app
    ("api",),  # HTTP plumbing: actors of a request, permission table, error format, public endpoints
    ("audit",),  # the append-only log: append, seal, chain, Merkle tree, checkpoints, verifier
    ("accounts",),  # consumers, platforms, manufacturers, credentials, links, pseudonyms
    ("consent",),  # taxonomy, purposes, the consent ledger and receipts
    ("intake",),  # platform signals, withdrawal erasure, retention
    ("releases",),  # the DP release engine, budgets, the individual privacy ledger
    ("reports", "trends"),  # engines built on the release engine's accounting
    # Data-subject rights spanning the apps (export, erasure); notices: signed notifications
    # of a job's end, a receiver of releases.signals.job_ended.
    ("subjects", "notices"),
    ("charts",),  # every chart in the product, on one charting library: imports no app
    ("console", "portal", "workbench"),  # audiences: officers, consumers, manufacturers' staff
    ("demo",),  # the demo world, built through every app's services
]
ROOF = {"settings", "urls", "celery", "wsgi", "__init__"}

FLOOR_OF = {app: level for level, apps in enumerate(FLOORS) for app in apps}

# Upward or sideways imports that are allowed, each with its reason (docs/architecture.md).
# Keep this short; an entry here is a debt, not a design.
ALLOWED: dict[tuple[str, str], str] = {}


def _app_of_path(path: Path, package: Path) -> str:
    relative = path.relative_to(package)
    if len(relative.parts) == 1:
        return relative.stem  # a roof module such as settings.py
    return relative.parts[0]


def _app_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "clearinghouse":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "clearinghouse":
            return [f"clearinghouse.{alias.name}" for alias in node.names]
        return [node.module]
    return []


def offences(root: Path = PACKAGE) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        source_app = _app_of_path(path, root)
        in_migrations = "migrations" in path.parts
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        function_level: set[int] = set()
        ready_level: set[int] = set()
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(function):
                    if inner is not function and isinstance(inner, (ast.Import, ast.ImportFrom)):
                        function_level.add(id(inner))
                        if path.name == "apps.py" and function.name == "ready":
                            ready_level.add(id(inner))
        for node in ast.walk(tree):
            for module in _imported_modules(node):
                target_app = _app_of_module(module)
                if target_app is None or target_app == source_app:
                    continue
                where = f"{relative}:{getattr(node, 'lineno', 0)}"
                if source_app in ROOF:
                    continue
                if target_app in ROOF:
                    found.append(f"{where}: {source_app} imports the roof module {module}")
                    continue
                if (source_app, target_app) in ALLOWED:
                    continue
                if source_app not in FLOOR_OF:
                    found.append(f"{where}: app {source_app!r} has no floor in tools/import_contract.py FLOORS")
                    continue
                if target_app not in FLOOR_OF:
                    found.append(f"{where}: {module} is in no app with a floor")
                    continue
                if FLOOR_OF[target_app] >= FLOOR_OF[source_app]:
                    direction = "sideways" if FLOOR_OF[target_app] == FLOOR_OF[source_app] else "up"
                    found.append(f"{where}: {source_app} imports {module} ({direction}: {target_app} is not below {source_app})")
                elif id(node) in function_level and id(node) not in ready_level and not in_migrations:
                    found.append(f"{where}: function-level import of {module}; import it at the top of the module")
    return found


def main() -> int:
    problems = offences()
    for line in problems:
        print(line)
    print(f"import contract: {len(problems)} offence(s)" if problems else "import contract: every import points down")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
