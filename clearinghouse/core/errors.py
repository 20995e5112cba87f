"""Domain errors raised by services and selectors. The API layer maps each class to an
HTTP status; the portal shows the message. ``code`` is stable and machine-readable."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}


class Invalid(DomainError):
    """Bad input; ``details`` names the field(s)."""

    def renamed(self, field: str) -> Invalid:
        """The same refusal for a request that calls the field ``field`` (a report's
        "marginals" where the release plan it builds says "group_by"): the code and every
        detail kept, the message and ``details["field"]`` naming it."""
        return Invalid(f"{field}: {self.message.split(': ', 1)[-1]}", code=self.code, details={**self.details, "field": field})


class NotFound(DomainError):
    """Unknown, or belongs to someone else: the two must be indistinguishable."""

    status = 404
    default_code = "not_found"

    def __init__(self, message: str = "Not found.", *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message, code=code, details=details)


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"


class Gone(DomainError):
    status = 410
    default_code = "gone"


class TooLarge(DomainError):
    status = 413
    default_code = "too_large"


class Unavailable(DomainError):
    status = 503
    default_code = "unavailable"


class TooManyRequests(DomainError):
    """Refused for now; ``details["retry_after_seconds"]`` says when to try again."""

    status = 429
    default_code = "throttled"
