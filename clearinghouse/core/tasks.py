from celery import shared_task
from django.db import connection


@shared_task
def ping_task() -> str:
    """Round trip through broker and worker to the database (used by tests and operators)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "pong"
