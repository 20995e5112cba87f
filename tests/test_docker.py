"""Every command the Docker files name must exist in the project."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def _split(command) -> list[list[str]]:
    """A compose/Docker command as a list of argv lists (sh -c '... && ...' is split)."""
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in re.split(r"&&|;", argv[2])]
    return [argv]


def _check(argv: list[str]) -> None:
    program = argv[0]
    if program == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"manage.py has no command {argv[2]!r}"
    elif program == "gunicorn":
        module, _, attribute = argv[1].partition(":")
        assert hasattr(importlib.import_module(module), attribute), argv[1]
    elif program == "celery":
        app = argv[argv.index("-A") + 1]
        assert hasattr(importlib.import_module(app), "celery_app"), app
        assert argv[argv.index("-A") + 2] in {"worker", "beat"}
    elif program in {"redis-server", "pg_isready"}:
        pass  # from the official images
    else:
        pytest.fail(f"unknown program {program!r} in {argv}")


def _commands():
    for name, service in COMPOSE["services"].items():
        if "command" in service:
            for argv in _split(service["command"]):
                yield f"compose:{name}", argv
        healthcheck = service.get("healthcheck", {}).get("test")
        if healthcheck:
            yield f"compose:{name}:healthcheck", shlex.split(healthcheck[1])
    for line in re.findall(r"^CMD (\[.*\])", DOCKERFILE, re.M):
        yield "Dockerfile:CMD", yaml.safe_load(line)
    for run in re.findall(r"python (manage\.py \S+)", DOCKERFILE):
        yield "Dockerfile:RUN", ["python", *run.split()]


@pytest.mark.parametrize(("where", "argv"), list(_commands()), ids=lambda value: value if isinstance(value, str) else " ".join(value))
def test_every_named_command_exists(where, argv):
    _check(argv)


def test_compose_has_the_production_services():
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(COMPOSE["services"])
    web = COMPOSE["services"]["web"]
    assert web["command"][0] == "gunicorn"


def test_dockerfile_copies_files_that_exist():
    for source in re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M):
        assert (ROOT / source).exists(), source


def test_every_periodic_job_names_a_registered_task():
    from django.conf import settings

    from clearinghouse.celery import app

    app.loader.import_default_modules()
    missing = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] not in app.tasks]
    assert not missing, f"beat would send tasks no worker knows: {missing}"
    assert {
        "clearinghouse.intake.tasks.signals_retention_purge_task",
        "clearinghouse.audit.tasks.audit_checkpoint_task",
        "clearinghouse.releases.tasks.budget_roll_over_task",
    } <= {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}


def test_every_gunicorn_we_start_runs_without_the_shared_control_socket():
    # gunicorn 27 otherwise opens ~/.gunicorn/gunicorn.ctl: one socket for every gunicorn
    # of the user on the machine, outside var/.
    from gunicorn.config import Config

    docker = [argv for _, argv in _commands() if argv[0] == "gunicorn"]
    assert len(docker) == 2, docker
    for argv in docker:
        assert Config().parser().parse_args(argv[1:]).control_socket_disable, argv
    starters = [
        path
        for folder in ("scripts", "bench")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {"", ".py"} and '"gunicorn"' in path.read_text(errors="replace")
    ]
    assert {path.relative_to(ROOT).as_posix() for path in starters} >= {"scripts/run_embedded.py", "bench/intake"}
    for path in starters:
        assert '"--no-control-socket"' in path.read_text(), path


def test_only_init_uses_the_superuser_and_it_protects_the_log_after_migrating():
    services = COMPOSE["services"]
    init = " ".join(services["init"]["command"])
    assert init.index("migrate") < init.index("protect_audit_log --app-role clearinghouse_app")
    assert services["init"]["environment"]["DATABASE_URL"].startswith("postgres://clearinghouse:")
    for name in ("web", "worker", "beat", "sealer"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://clearinghouse_app:"), name
    init_script = (ROOT / "docker" / "postgres-init" / "10-app-role.sh").read_text()
    assert "CREATE ROLE clearinghouse_app LOGIN" in init_script and "SUPERUSER" not in init_script
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
