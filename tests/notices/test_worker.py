"""A worker started afresh knows the notice tasks (one that does not discards the message,
and the notice waits for the resend job), and beat resends lost notices."""

from __future__ import annotations

import subprocess
import sys

from tests.notices.conftest import ROOT


def test_a_fresh_worker_knows_the_notice_tasks_and_beat_resends_lost_notices(settings):
    code = (
        "import django; django.setup(); from clearinghouse.celery import app; app.loader.import_default_modules(); "
        "print('\\n'.join(sorted(app.tasks)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT)
    tasks = done.stdout.split()
    assert "clearinghouse.notices.tasks.notice_deliver_task" in tasks
    assert "clearinghouse.notices.tasks.notices_resend_task" in tasks
    assert settings.CELERY_BEAT_SCHEDULE["notices-resend"]["task"] == "clearinghouse.notices.tasks.notices_resend_task"
