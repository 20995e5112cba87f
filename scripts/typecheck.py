#!/usr/bin/env python
"""`make typecheck`: mypy (with the Django and DRF plugins) against a baseline that only goes down.

The baseline (mypy-baseline.json) holds the number of errors per file and error code
when types were first checked. A run fails when any (file, code) has more errors than its
baseline; when a count went down it says so, and `--update` writes the lower numbers back
(it refuses to raise any).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "mypy-baseline.json"
ERROR = re.compile(r"^(?P<file>[^:]+):\d+: error: .*\[(?P<code>[a-z0-9-]+)\]$")


def current_errors() -> tuple[Counter[str], str]:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(2)
    counts: Counter[str] = Counter()
    for line in done.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            counts[f"{match['file']} [{match['code']}]"] += 1
    return counts, done.stdout


def main() -> int:
    update = "--update" in sys.argv[1:]
    counts, output = current_errors()
    if not BASELINE.exists():
        BASELINE.write_text(json.dumps(dict(sorted(counts.items())), indent=1) + "\n")
        print(f"typecheck: baseline written, {sum(counts.values())} errors")
        return 0
    baseline: dict[str, int] = json.loads(BASELINE.read_text())
    worse = {key: (baseline.get(key, 0), n) for key, n in counts.items() if n > baseline.get(key, 0)}
    better = {key: (n, counts.get(key, 0)) for key, n in baseline.items() if counts.get(key, 0) < n}
    if worse:
        for line in output.splitlines():
            if any(line.startswith(key.split(" [")[0] + ":") and key.split(" [")[1].rstrip("]") in line for key in worse):
                print(line)
        for key, (was, now) in sorted(worse.items()):
            print(f"typecheck: {key}: {now} errors, baseline {was}")
        print("typecheck: new type errors (fix them; the baseline only goes down)")
        return 1
    if update:
        BASELINE.write_text(json.dumps(dict(sorted(counts.items())), indent=1) + "\n")
        print(f"typecheck: baseline lowered to {sum(counts.values())} errors" if better else "typecheck: baseline already current")
        return 0
    for key, (was, now) in sorted(better.items()):
        print(f"typecheck: {key}: {now} errors, baseline {was} (run `make typecheck ARGS=--update` to lower it)")
    print(f"typecheck: {sum(counts.values())} errors, none above the baseline of {sum(baseline.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
