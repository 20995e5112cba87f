"""The notification settings fail at start, naming the variable, when they are malformed or
unsafe for production."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.notices.conftest import ROOT

PRODUCTION = {
    "CH_ENV": "production",
    "DJANGO_SECRET_KEY": "k" * 60,
    "ALLOWED_HOSTS": "ch.example",
    "CH_CONTROLLER_NAME": "Operator",
    "CH_CONTROLLER_NAME_ZH": "运营方",
    "CH_CONTROLLER_CONTACT": "privacy@ch.example",
    "CH_OPERATOR_ADDRESS": "1 Road, Shanghai",
    "CH_PROTECTION_OFFICER_NAME": "Officer",
    "CH_PROTECTION_OFFICER_CONTACT": "dpo@ch.example",
    "CH_COMPLAINTS_CONTACT": "complaints@ch.example",
}
CASES = [
    ({"CH_NOTICE_RETRY_SCHEDULE": "30,soon"}, "CH_NOTICE_RETRY_SCHEDULE must be comma-separated whole seconds"),
    ({"CH_NOTICE_RETRY_SCHEDULE": "30,0"}, "CH_NOTICE_RETRY_SCHEDULE must list 1 to 50 waits of at least 1 second"),
    ({"CH_NOTICE_TIMEOUT_SECONDS": "0"}, "CH_NOTICE_TIMEOUT_SECONDS must be at least 0.1"),
    ({"CH_NOTICE_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "CH_NOTICE_ALLOWED_NETWORKS: 'intranet' is not an address or network"),
    ({"CH_NOTICE_ALLOW_LOOPBACK": "maybe"}, "CH_NOTICE_ALLOW_LOOPBACK must be one of"),
    (
        PRODUCTION | {"CH_NOTICE_ALLOW_LOOPBACK": "1"},
        "CH_NOTICE_ALLOW_LOOPBACK must be off when CH_ENV=production",
    ),
]

# One process reads the settings module once per environment (a process per case costs
# seconds each).
SCRIPT = """
import json, os, runpy, sys
from django.core.exceptions import ImproperlyConfigured
base = dict(os.environ)
results = []
for overrides in json.loads(sys.argv[1]):
    os.environ.clear(); os.environ.update(base); os.environ.update(overrides)
    try:
        values = runpy.run_path("clearinghouse/settings.py")
        results.append(["ok", [values["CH_NOTICE_RETRY_SCHEDULE"], values["CH_NOTICE_ALLOW_LOOPBACK"], values["CH_NOTICE_REFUSE_PRIVATE"]]])
    except ImproperlyConfigured as exc:
        results.append(["error", str(exc)])
print(json.dumps(results))
"""


def test_bad_notice_settings_fail_at_start_naming_the_variable(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CH_", "DJANGO_", "DATABASE", "REDIS", "CELERY"))}
    environment["CH_VAR_DIR"] = str(tmp_path)
    good = [{}, PRODUCTION]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(good + [overrides for overrides, _ in CASES])],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    # Development: the default schedule, loopback callbacks allowed, private addresses too.
    assert results[0] == ["ok", [[30, 60, 120, 300, 600, 900, 1500], True, False]]
    # Production: loopback off and private addresses refused unless allow-listed.
    assert results[1] == ["ok", [[30, 60, 120, 300, 600, 900, 1500], False, True]]
    for (kind, text), (_, message) in zip(results[2:], CASES, strict=True):
        assert kind == "error" and message in text, (text, message)
