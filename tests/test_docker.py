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
    elif program == "python" and argv[1] == "-m":
        module = importlib.import_module(argv[2])
        assert callable(getattr(module, "witness_main", None)), f"{argv[2]} has no command line"
        # The arguments must be ones the program accepts (parsed here without running it).
        _parse_witness(argv[3:])
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


def _parse_witness(arguments: list[str]):
    """The witness's own argument parser, run on compose's arguments."""
    from clearinghouse.audit.witness import witness_parser

    return witness_parser().parse_args(arguments)


def _witness_services() -> dict[str, dict]:
    return {
        name: service
        for name, service in COMPOSE["services"].items()
        if service.get("command", [])[:3] == ["python", "-m", "clearinghouse.audit.witness"]
    }


def test_compose_runs_two_witnesses_each_with_its_own_key_and_state_and_the_app_collects_from_both():
    witnesses = _witness_services()
    assert len(witnesses) >= 2, sorted(COMPOSE["services"])
    declared = set(COMPOSE["volumes"])
    own_volumes, names, published = [], set(), {}
    for name, service in witnesses.items():
        parsed = _parse_witness(service["command"][3:])
        assert parsed.mode == "serve" and parsed.listen.startswith("0.0.0.0:")
        mounts = {volume.split(":")[1]: volume for volume in service["volumes"]}
        # Key and state live in a volume of this witness alone.
        key_dir = parsed.key.rsplit("/", 1)[0]
        assert parsed.state.rsplit("/", 1)[0] == key_dir and key_dir in mounts, name
        volume = mounts[key_dir].split(":")[0]
        assert volume in declared
        own_volumes.append(volume)
        # It pins the log from the origin line init writes, read-only, and needs nothing else of the service.
        origin_dir = parsed.log_file.rsplit("/", 1)[0]
        assert mounts[origin_dir].endswith(":ro")
        assert "environment" not in service, "a witness gets no secret and no database of the service"
        names.add(parsed.name)
        published[parsed.publish] = f"http://{name}:{parsed.listen.rsplit(':', 1)[1]}"
    assert len(set(own_volumes)) == len(witnesses) and len(names) == len(witnesses)
    configured = COMPOSE["x-app"]["environment"]["CH_AUDIT_WITNESSES"]
    value = configured.split(":-", 1)[1].rstrip("}")
    items = dict(reversed(item.split("@", 1)) for item in value.split(","))
    assert {url: key.removeprefix("file:") for url, key in items.items()} == {url: path for path, url in published.items()}
    init = " ".join(COMPOSE["services"]["init"]["command"])
    origin_file = _parse_witness(next(iter(witnesses.values()))["command"][3:]).log_file
    assert init.index("protect_audit_log") < init.index(f"audit_origin --output {origin_file}")
    for app_service in ("web", "worker", "beat"):
        assert any(volume.startswith("witness-keys:") for volume in COMPOSE["services"][app_service]["volumes"])


def test_the_witness_program_runs_without_django_settings(tmp_path):
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "clearinghouse.audit.witness",
            "key",
            "--name",
            "w.example/1",
            "--key",
            str(tmp_path / "k.pem"),
            "--publish",
            str(tmp_path / "vkey"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "vkey").read_text().strip() == result.stdout.strip() and result.stdout.startswith("w.example/1+")
