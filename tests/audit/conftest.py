import importlib.util
import sys
from pathlib import Path

import pytest

TOOL_PATH = Path(__file__).resolve().parents[2] / "tools" / "audit_verify.py"


def load_offline_verifier():
    """tools/audit_verify.py as a module, loaded from its file exactly as an auditor runs it."""
    name = "audit_verify_tool"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TOOL_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def offline():
    return load_offline_verifier()


def seal_all():
    from clearinghouse.audit.services import audit_seal

    audit_seal()


def make_events(count: int, *, action: str = "test.event", actor_kind: str = "system", outcome: str = "ok"):
    """``count`` audited actions, each in its own transaction, sealed."""
    from clearinghouse.audit.services import audit_record
    from clearinghouse.core.actors import Actor

    actor = Actor(kind=actor_kind, id="tests")
    events = [audit_record(actor=actor, action=action, outcome=outcome, details={"n": index}) for index in range(count)]
    seal_all()
    return events
