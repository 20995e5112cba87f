#!/usr/bin/env python
"""`make fuzz` (and CI): schema fuzzing with schemathesis against a live server.

1. A fresh PostgreSQL database of this checkout's own (ch_fuzz_<hash>), migrated and
   seeded by the superuser, then `manage.py protect_audit_log`: the server logs in as an
   ordinary role (ch_fuzz_app) that owns neither the audit log nor its triggers, exactly
   as in docker/compose.yaml.
2. gunicorn on a free port, Redis on a database number of this checkout's own.
3. Credentials for every actor: a consumer (signed up through the API), a compliance
   officer, a platform and a manufacturer; and no credentials at all.
4. `st run` once per actor against /api/schema/. It fails on any 5xx
   (not_a_server_error) and on any response that does not match the schema
   (response_schema_conformance, content_type_conformance).

Needs PostgreSQL on 127.0.0.1:5432 (or DATABASE_URL pointing at the server, as a
superuser) and Redis on 127.0.0.1:6379 (or REDIS_URL). FUZZ_EXAMPLES (default 10) sets
the cases per operation and actor; the run takes two to three minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
ST = str(ROOT / ".venv" / "bin" / "st")
APP_ROLE = "ch_fuzz_app"
OWNER_ROLE = "ch_fuzz_log_owner"


def ident() -> str:
    return hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str, *, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user is not None:
        netloc = f"{user}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urlunsplit((parts.scheme, netloc, f"/{name}", "", ""))


def admin(sql: str, url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return result.stdout.strip()


def post_json(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    server_url = os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/postgres")
    redis_db = 1 + int(ident(), 16) % 15
    redis_url = os.environ.get("REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    database = f"ch_fuzz_{ident()}"
    examples = os.environ.get("FUZZ_EXAMPLES", "10")
    admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', server_url)
    admin(f'CREATE DATABASE "{database}"', server_url)
    admin(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
        f'CREATE ROLE "{APP_ROLE}" LOGIN; END IF; END $$',
        server_url,
    )
    var_dir = Path(tempfile.mkdtemp(prefix="ch-fuzz-"))
    base_env = {
        **os.environ,
        "CH_ENV": "development",
        "DEBUG": "false",
        "CH_VAR_DIR": str(var_dir),
        "REDIS_URL": redis_url,
        # Fuzzing is not password guessing: keep the throttles out of the way.
        "CH_THROTTLE_CREDENTIALS": "100000/min",
        "CH_THROTTLE_LINK_REDEEM": "100000/min",
        "CH_THROTTLE_AUDIT_PUBLIC": "100000/min",
        "CH_LOGIN_FAILURES_PER_USERNAME": "100000",
        "CH_LOGIN_FAILURES_PER_ADDRESS": "100000",
    }
    owner_env = base_env | {"DATABASE_URL": with_database(server_url, database)}
    app_env = base_env | {"DATABASE_URL": with_database(server_url, database, user=APP_ROLE)}
    started = time.monotonic()
    manage(owner_env, "migrate", "--noinput")
    manage(owner_env, "seed_demo", "--consumers", "30", "--signals", "1000")
    officer_password = secrets.token_urlsafe(18)
    manage(owner_env | {"CH_OFFICER_PASSWORD": officer_password}, "create_compliance_officer", "fuzz-officer")
    platform_key = manage(owner_env, "rotate_key", "maomall").splitlines()[-1]
    manufacturer_key = manage(owner_env, "rotate_key", "ergochair").splitlines()[-1]
    print(manage(owner_env, "protect_audit_log", "--app-role", APP_ROLE, "--owner-role", OWNER_ROLE), flush=True)
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "clearinghouse.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "8",
            "--timeout",
            "60",
            "--no-control-socket",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=app_env,
    )
    failed: list[str] = []
    report_dir = ROOT / "var" / "fuzz"
    report_dir.mkdir(parents=True, exist_ok=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/api/v1/keys", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        consumer_token = post_json(
            base, "/api/v1/consumers", {"username": "fuzz-consumer", "password": secrets.token_urlsafe(18), "age_confirmed": True}
        )["token"]
        officer_token = post_json(base, "/api/v1/auth/token", {"username": "fuzz-officer", "password": officer_password})["token"]
        actors = {
            "anonymous": None,
            "consumer": consumer_token,
            "compliance": officer_token,
            "platform": platform_key,
            "manufacturer": manufacturer_key,
        }
        wanted = os.environ.get("FUZZ_ACTORS")
        if wanted:
            actors = {name: value for name, value in actors.items() if name in wanted.split(",")}
        seed = os.environ.get("FUZZ_SEED", "20261206")
        common = [
            "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples", examples, "--seed", seed, "--no-shrink", "--suppress-health-check", "all",
            "--request-timeout", "30", "--output-truncate", "true",
        ]  # fmt: skip
        print(f"setup: {time.monotonic() - started:.0f} s; fuzzing as {', '.join(actors)} in parallel", flush=True)
        # One schemathesis process per actor, all at once (one worker each: hypothesis'
        # source inspection is not thread-safe on Python 3.11).
        runs: dict[str, tuple[subprocess.Popen, Path]] = {}
        for actor, credential in actors.items():
            command = [ST, "run", f"{base}/api/schema/?format=json", *common, "--phases", "examples,coverage,fuzzing",
                       "--report", "junit", "--report-junit-path", str(report_dir / f"{actor}.xml")]  # fmt: skip
            if credential:
                # Sign-up and token are anonymous whoever calls them, and each case hashes a
                # password: fuzzed once, by the anonymous run.
                command += ["-H", f"Authorization: Bearer {credential}"]
                command += ["--exclude-operation-id", "api_v1_auth_token_create", "--exclude-operation-id", "api_v1_consumers_create"]
            if actor == "consumer":
                # Erasing the account would leave the rest of the run unauthenticated; it
                # is fuzzed after the others, on its own.
                command += ["--exclude-operation-id", "api_v1_me_destroy"]
            log = report_dir / f"{actor}.log"
            runs[actor] = (subprocess.Popen(command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT), log)
        for actor, (process, log) in runs.items():
            code = process.wait()
            print(f"--- schemathesis as {actor}: {'ok' if code == 0 else 'FAILED'}", flush=True)
            if code:
                failed.append(actor)
                sys.stdout.write(log.read_text())
            else:
                sys.stdout.write("".join(log.read_text().splitlines(keepends=True)[-12:]))
        if "consumer" in actors:
            print("--- schemathesis as consumer: DELETE /api/v1/me", flush=True)
            command = [ST, "run", f"{base}/api/schema/?format=json", *common, "--include-operation-id", "api_v1_me_destroy",
                       "-H", f"Authorization: Bearer {consumer_token}"]  # fmt: skip
            if subprocess.run(command, cwd=ROOT).returncode:
                failed.append("consumer (DELETE /api/v1/me)")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', server_url)
    print(f"schema fuzzing: {time.monotonic() - started:.0f} s; {'failed for ' + ', '.join(failed) if failed else 'no failures'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
