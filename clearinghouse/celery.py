import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")
# One BLAS thread per process unless told otherwise: the engines' small dense matrices
# (trend plans, report strategies) thrash with several threads on a busy machine (a 104-week
# trend plan: 0.8 s with one thread, 28 s with two under load). Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
        "clearinghouse.trends",
        "clearinghouse.consent",
        "clearinghouse.notices",
    ]
)
