#!/usr/bin/env python
"""Wall time of `make test` against the serial suite it replaced, in one run.

    .venv/bin/python bench/test_suite.py [--baseline COMMIT] [--workers N]

Checks out COMMIT (default: the last commit before the re-layout, 894191b) into a
temporary git worktree, runs its suite the way its `make test` did (one pytest process),
then runs this checkout's `make test` (pytest-xdist), both against the same PostgreSQL
and Redis with REQUIRE_SERVICES=1, and prints both wall times and their ratio. The two
runs are back to back on the same machine, so the ratio holds up on a noisy machine better
than either time alone. Needs PostgreSQL and Redis running; takes about ten minutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRE_RELAYOUT = "894191b"


def timed(command: list[str], *, cwd: Path, env: dict, label: str) -> tuple[float, str, bool]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    # The whole output is kept (bench/out is git-ignored), so a failure can be named.
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"test_suite-{label}.log").write_text(done.stdout + done.stderr)
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
    if done.returncode != 0:
        print(f"{' '.join(command)} failed ({done.returncode}): {tail[0]}", file=sys.stderr)
    return elapsed, tail[0], done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=PRE_RELAYOUT)
    parser.add_argument("--workers", default=os.environ.get("TEST_WORKERS", "auto"))
    args = parser.parse_args()
    python = str(ROOT / ".venv" / "bin" / "python")
    env = dict(os.environ, REQUIRE_SERVICES="1")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ch-bench-tests-") as scratch:
        worktree = Path(scratch) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.baseline], cwd=ROOT, check=True, capture_output=True)
        try:
            (worktree / ".venv").symlink_to(ROOT / ".venv")
            baseline_env = dict(env, DATABASE_URL="postgres://127.0.0.1:5432/bench_tests_baseline", REDIS_URL="redis://127.0.0.1:6379/14")
            before, before_tail, before_passed = timed(
                [python, "scripts/test.py", "-q", "-p", "no:randomly"], cwd=worktree, env=baseline_env, label="baseline"
            )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
    after, after_tail, after_passed = timed(
        [python, "scripts/test.py", "-q", "-p", "no:randomly", "-rf"], cwd=ROOT, env=dict(env, TEST_WORKERS=args.workers), label="this"
    )
    print(f"load average before the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores: {os.cpu_count()}")
    print(f"baseline {args.baseline} (serial):  {before:7.1f} s   {before_tail}")
    print(f"this checkout (xdist, {args.workers}): {after:7.1f} s   {after_tail}")
    if not (before_passed and after_passed):
        # A failing test can take any time (a deadline waited out, or a run cut short): the
        # two wall times do not compare (bench/out/ has both logs).
        print(f"speed-up: not comparable, a run failed ({before / after:.2f}x as measured)")
        return 1
    print(f"speed-up: {before / after:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
