"""Which exceptions mean "a dependency is down" rather than "the code is wrong".

Redis (the cache that holds throttle counters, and the Celery broker in production) can
be unreachable while PostgreSQL is fine. A request that needs it then answers 503 in the
error format with ``Retry-After`` (clearinghouse.api.errors, clearinghouse.api.middleware),
never 500: the client should try again, and nothing was half done (work that must follow
a committed change is queued in the database first; see docs/architecture.md).
"""

from __future__ import annotations

import kombu.exceptions
import redis.exceptions

# Seconds a client is told to wait (Retry-After) when a dependency is down.
RETRY_AFTER_SECONDS = 30

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


def is_outage(exc: BaseException | None) -> bool:
    """True for an error of a dependency being unreachable (also when wrapped once)."""
    if exc is None:
        return False
    return isinstance(exc, OUTAGE_ERRORS) or isinstance(exc.__cause__, OUTAGE_ERRORS)
