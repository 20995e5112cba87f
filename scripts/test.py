#!/usr/bin/env python
"""`make test`: run the whole suite, against real PostgreSQL and Redis when reachable.

DATABASE_URL / REDIS_URL win when set. Otherwise PostgreSQL on 127.0.0.1:5432 and Redis
on 127.0.0.1:6379 are used if they answer, and SQLite plus an in-process broker if not.
With REQUIRE_SERVICES=1 (CI) missing services are an error, never a silent skip.
"""

from __future__ import annotations

import os
import socket
import sys


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def main() -> int:
    env = os.environ
    required = env.get("REQUIRE_SERVICES") == "1"
    if not env.get("DATABASE_URL") and reachable("127.0.0.1", 5432):
        env["DATABASE_URL"] = "postgres://127.0.0.1:5432/clearinghouse"
    if not env.get("REDIS_URL") and reachable("127.0.0.1", 6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/1"
    if required:
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not env.get(name)]
        if missing:
            print(f"REQUIRE_SERVICES=1 but {' and '.join(missing)} unreachable: start PostgreSQL and Redis", file=sys.stderr)
            return 2
    print(f"database: {env.get('DATABASE_URL', 'sqlite (var/test)')}  broker: {env.get('REDIS_URL', 'none (eager)')}", flush=True)
    # The suite runs with eager Celery; tests that need a real worker start one on Redis.
    env.pop("CELERY_BROKER_URL", None)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
