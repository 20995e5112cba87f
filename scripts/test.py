#!/usr/bin/env python
"""`make test`: run the whole suite in parallel, against real PostgreSQL and Redis when reachable.

DATABASE_URL / REDIS_URL win when set. Otherwise PostgreSQL on 127.0.0.1:5432 and Redis
on 127.0.0.1:6379 are used if they answer, and SQLite plus an in-process broker if not.
With REQUIRE_SERVICES=1 (CI) missing services are an error, never a silent skip.

Each checkout is isolated: its test databases are named after a hash of the checkout's
path and the run's process id (test_ch_<hash>_<pid>_gw0, _gw1, … one per pytest-xdist worker,
dropped at the end) and it
uses a Redis database number of its own, so two checkouts can run their suites at once on
one machine. DATABASE_TEST_NAME and REDIS_URL override the choice. TEST_WORKERS sets the
number of parallel workers (default: `auto`, one per core; 0 runs in this process).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
# Redis database 0 is left to whatever else runs on the machine (make run, a developer's
# shell); checkouts hash onto 1..15.
REDIS_DATABASES = 15


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def checkout_id() -> str:
    return hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]


def main() -> int:
    env = os.environ
    required = env.get("REQUIRE_SERVICES") == "1"
    ident = checkout_id()
    if not env.get("DATABASE_URL") and reachable("127.0.0.1", 5432):
        env["DATABASE_URL"] = "postgres://127.0.0.1:5432/postgres"
    if not env.get("REDIS_URL") and reachable("127.0.0.1", 6379):
        env["REDIS_URL"] = f"redis://127.0.0.1:6379/{1 + int(ident, 16) % REDIS_DATABASES}"
    if required:
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not env.get(name)]
        if missing:
            print(f"REQUIRE_SERVICES=1 but {' and '.join(missing)} unreachable: start PostgreSQL and Redis", file=sys.stderr)
            return 2
    if env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        # The process id too: two runs in one checkout must not share (or drop) databases.
        env.setdefault("DATABASE_TEST_NAME", f"test_ch_{ident}_{os.getpid()}")
        # Every connection the suite opens (its own, live servers', real Celery workers')
        # returns from COMMIT without waiting for the WAL to reach the disk. That only
        # weakens durability after a server crash, which a throw-away test database does
        # not need; what other sessions see, and when, is unchanged. On the tests that commit
        # most (releases, reports, trends, intake) two A/B pairs on 2026-12-07 took 78 and
        # 82 s against 100 and 88 s; earlier trials were within the run-to-run drift.
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c synchronous_commit=off".strip()
    else:
        # A file, not SQLite's shared memory: a real Celery worker started by a test
        # (Redis without PostgreSQL) must open the same database from its own process.
        test_dir = ROOT / "var" / "test"
        test_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault("DATABASE_TEST_NAME", str(test_dir / f"test-{ident}-{os.getpid()}.sqlite3"))
    workers = env.get("TEST_WORKERS", "auto")
    print(
        f"database: {env.get('DATABASE_URL', 'sqlite')} (test database {env['DATABASE_TEST_NAME']}, per worker)  "
        f"broker: {env.get('REDIS_URL', 'none (eager)')}  workers: {workers}",
        flush=True,
    )
    # The suite runs with eager Celery; tests that need a real worker start one on Redis.
    env.pop("CELERY_BROKER_URL", None)
    # Bytecode is cached (in the git-ignored __pycache__ directories), even where the
    # environment asks not to: every xdist worker imports and assertion-rewrites all ~290
    # test modules and every subprocess a test starts imports the product, and without
    # the cache each compiles them from source again (~5 s of CPU per worker per run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # worksteal, not loadfile: a worker that runs dry takes half of another's queue, so the
    # run does not end on one worker finishing a long file alone (A/B on 2026-12-07, two
    # runs each: 127 and 130 s against 133 and 142 s). A module's fixtures are then built on
    # each worker that runs one of its tests.
    parallel = [] if workers == "0" else ["-n", workers, "--dist", "worksteal"]
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *parallel, *sys.argv[1:]], cwd=ROOT, env=env)
    finally:
        leftovers_drop(env)


def leftovers_drop(env) -> None:
    """Drop this checkout's test databases that pytest-django could not (a session still
    open at teardown, an interrupted run), so nothing is left behind on the server."""
    url = env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        for path in (ROOT / "var" / "test").glob(f"{Path(env['DATABASE_TEST_NAME']).stem}*.sqlite3*"):
            path.unlink(missing_ok=True)
        return
    import psycopg

    parsed = urlparse(url)
    prefix = env["DATABASE_TEST_NAME"]
    try:
        with psycopg.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as connection:
            names = [
                row[0]
                for row in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix.replace("_", r"\_") + "%"])
            ]
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as error:
        print(f"test databases {prefix}*: not dropped ({error})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
