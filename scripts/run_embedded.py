#!/usr/bin/env python
"""`make run`: serve the portal and API with gunicorn and run a real Celery worker (with
its beat scheduler) side by side. Without REDIS_URL the worker uses kombu's filesystem
broker under var/broker, so nothing else has to be installed.

Unless CH_AUDIT_WITNESSES names witnesses already, two witnesses run beside them
(``python -m clearinghouse.audit.witness``, each with its own key and state under
var/witnesses/), every checkpoint is offered to both, and the latest one is cosigned by
both before the portal opens. Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


WITNESSES = ("witness-1.demo.clearinghouse.local/1", "witness-2.demo.clearinghouse.local/1")


def witness_dir(env: dict) -> Path:
    return Path(env.get("CH_VAR_DIR") or ROOT / "var") / "witnesses"


def witnesses_start(env: dict) -> list[subprocess.Popen]:
    """Two witnesses on free local ports, pinning this log's origin and checkpoints key;
    sets CH_AUDIT_WITNESSES in ``env`` for the worker and the web processes."""
    directory = witness_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    origin = directory / "origin"
    subprocess.run(
        [sys.executable, "manage.py", "audit_origin", "--output", str(origin)], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    processes, configured, keys = [], [], []
    for number, name in enumerate(WITNESSES, start=1):
        home = directory / f"witness-{number}"
        home.mkdir(exist_ok=True)
        # fmt: off
        process = subprocess.Popen(
            [sys.executable, "-m", "clearinghouse.audit.witness", "serve", "--name", name,
             "--key", str(home / "key.pem"), "--state", str(home / "state.json"), "--log-file", str(origin),
             "--publish", str(home / "verifier-key"), "--listen", "127.0.0.1:0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )
        # fmt: on
        processes.append(process)
        ready = process.stdout.readline().split() if process.stdout else []  # witness <vkey> listening on <host:port>
        if len(ready) != 5 or ready[2] != "listening":
            for started in processes:
                started.terminate()
            raise SystemExit(f"witness {name} did not start")
        keys.append(ready[1])
        configured.append(f"{ready[1]}@http://{ready[4]}")
    (directory / "verifier-keys.txt").write_text("".join(key + "\n" for key in keys))
    env["CH_AUDIT_WITNESSES"] = ",".join(configured)
    return processes


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
    # A checkpoint a minute in the demo, so that a new receipt's proof is there soon.
    env.setdefault("CH_AUDIT_CHECKPOINT_SECONDS", "60")
    bin_dir = Path(sys.executable).parent
    witnesses = [] if env.get("CH_AUDIT_WITNESSES") else witnesses_start(env)
    if witnesses:
        # The latest checkpoint cosigned by both before anyone looks.
        subprocess.run(
            [sys.executable, "manage.py", "audit_checkpoint", "--cosign"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )
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
    print(f"\nClearinghouse: portal http://{args.host}:{args.port}/  API docs http://{args.host}:{args.port}/api/docs/", flush=True)
    if witnesses:
        print(f"Witnesses (pin these verifier keys; also in {witness_dir(env) / 'verifier-keys.txt'}):", flush=True)
        for line in (witness_dir(env) / "verifier-keys.txt").read_text().splitlines():
            print(f"  {line}", flush=True)
    print(flush=True)
    processes += witnesses

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
