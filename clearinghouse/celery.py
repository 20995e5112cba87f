import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")

app = Celery("clearinghouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    [
        "clearinghouse.core",
        "clearinghouse.accounts",
        "clearinghouse.audit",
        "clearinghouse.intake",
        "clearinghouse.releases",
        "clearinghouse.reports",
        "clearinghouse.consent",
    ]
)
