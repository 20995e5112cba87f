#!/usr/bin/env python
"""`make run`: serve the portal and API with gunicorn and run a real Celery worker (with
its beat scheduler) side by side. Without REDIS_URL the worker uses kombu's filesystem
broker under var/broker, so nothing else has to be installed. Ctrl-C stops both."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen(
            [str(bin_dir / "celery"), "-A", "clearinghouse", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "clearinghouse.wsgi:application",
                "--bind",
                f"{args.host}:{args.port}",
                "--workers",
                "2",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
                # Otherwise gunicorn opens ~/.gunicorn/gunicorn.ctl, one socket shared by
                # every gunicorn of this user on the machine, outside var/.
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    print(f"\nClearinghouse: portal http://{args.host}:{args.port}/  API docs http://{args.host}:{args.port}/api/docs/\n", flush=True)

    def stop(*_):
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    finally:
        stop()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return max((process.returncode or 0) for process in processes)


if __name__ == "__main__":
    sys.exit(main())
