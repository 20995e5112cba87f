from __future__ import annotations

from celery import current_app
from django.db import connection


def database_reachable() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" to a health check
        return False, type(exc).__name__
    return True, connection.vendor


def broker_reachable(timeout: float = 2.0) -> tuple[bool, str]:
    # current_app is clearinghouse.celery's app: clearinghouse/__init__.py imports it first.
    app = current_app
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            transport = conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_type
    except Exception as exc:  # kombu raises many kinds of OSError and its own errors
        return False, type(exc).__name__
    return True, str(transport)
