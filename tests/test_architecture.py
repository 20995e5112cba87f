"""The layers are a rule: tools/import_contract.py, and one owner for audit action names."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from clearinghouse.audit.actions import AuditAction

ROOT = Path(__file__).resolve().parents[1]


def _contract():
    name = "import_contract_tool"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "import_contract.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_every_import_between_apps_points_down():
    assert _contract().offences() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "clearinghouse"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"audit/services.py": "from clearinghouse.consent.models import Purpose\n"}, "up: consent is not below audit"),
        ({"portal/views.py": "from clearinghouse.console import reports\n"}, "sideways: console is not below portal"),
        # The workbench shares the portal's templates and scripts, never its Python.
        ({"workbench/views.py": "from clearinghouse.portal import presentation\n"}, "sideways: portal is not below workbench"),
        ({"releases/selectors.py": "from clearinghouse.workbench import presentation\n"}, "up: workbench is not below releases"),
        ({"intake/services.py": "def f():\n    from clearinghouse.accounts.models import Platform\n"}, "function-level import"),
        ({"releases/tasks.py": "from clearinghouse.celery import app\n"}, "imports the roof module"),
        ({"newapp/models.py": "from clearinghouse.core import errors\n"}, "has no floor"),
        ({"core/x.py": "import clearinghouse.intake.models\n"}, "up: intake is not below core"),
        # The release engine tells notices through releases.signals.job_ended, never by import.
        ({"releases/services.py": "from clearinghouse.notices.models import Notice\n"}, "up: notices is not below releases"),
        ({"reports/services.py": "from clearinghouse.notices import services\n"}, "up: notices is not below reports"),
        ({"notices/services.py": "from clearinghouse.subjects import services\n"}, "sideways: subjects is not below notices"),
        ({"notices/api.py": "from clearinghouse.workbench import views\n"}, "up: workbench is not below notices"),
        ({"charts/drawing.py": "from clearinghouse.portal import presentation\n"}, "up: portal is not below charts"),
    ],
)
def test_the_contract_catches_every_kind_of_offence(tmp_path, files, expected):
    found = _contract().offences(_tree(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_the_contract_allows_downward_imports_and_ready(tmp_path):
    package = _tree(
        tmp_path,
        {
            "releases/services.py": "from clearinghouse.consent.models import Purpose\nfrom clearinghouse.core import errors\n",
            "intake/apps.py": "class C:\n    def ready(self):\n        from clearinghouse.consent.signals import consent_withdrawn\n",
            "notices/services.py": "from clearinghouse.releases.selectors import visible_at\nfrom clearinghouse.trends import api\n",
            "workbench/views.py": "from clearinghouse.notices.selectors import notices_for\n",
            "urls.py": "from clearinghouse.portal import views\n",
        },
    )
    assert _contract().offences(package) == []


def test_the_charts_import_no_app_of_ours():
    """The workbench, the console and the portal all draw with it; it stays a library."""
    imported = []
    for path in sorted((ROOT / "clearinghouse" / "charts").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported += [
                name
                for name in _contract()._imported_modules(node)
                if name.startswith("clearinghouse.") and not name.startswith("clearinghouse.charts")
            ]
    assert imported == []


def test_the_audiences_sit_above_the_charts_and_the_charts_above_subjects():
    floor = _contract().FLOOR_OF
    assert floor["subjects"] < floor["charts"] < floor["console"] == floor["portal"] == floor["workbench"]


def _audit_calls():
    for path in sorted((ROOT / "clearinghouse").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in {
                "audit_append",
                "audit_record",
            }:
                action = next((keyword.value for keyword in node.keywords if keyword.arg == "action"), None)
                yield path.relative_to(ROOT), node.lineno, action


def _names_an_enum_member(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "AuditAction"
    if isinstance(node, ast.IfExp):
        return _names_an_enum_member(node.body) and _names_an_enum_member(node.orelse)
    return isinstance(node, ast.Name) and node.id == "action"  # audit_record passing its own argument on


def test_product_code_names_audit_actions_only_through_the_enum():
    bad = [f"{path}:{line}" for path, line, action in _audit_calls() if not _names_an_enum_member(action)]
    assert bad == []


def test_every_enum_action_is_written_somewhere():
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "clearinghouse").rglob("*.py"))
    unused = [action.value for action in AuditAction if f"AuditAction.{action.name}" not in source]
    assert unused == []
