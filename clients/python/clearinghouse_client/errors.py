"""Typed errors. Every error the API answers has the shape
``{"error": {"code", "message", "details"}}``; the client raises the class that matches the
status and code, keeping all three, so a caller can ``except BudgetExhausted`` instead of
reading status numbers."""

from __future__ import annotations

from typing import Any


class ClearinghouseError(Exception):
    """Base of every error this client raises.

    ``code`` is the API's stable machine-readable code (``budget_exhausted``,
    ``accuracy_unreachable``, ``not_found``, …), or one of this client's own for what
    happens on the client side (``timeout``, ``bad_signature``, …). ``status`` is the HTTP
    status, or None when no response was involved. ``detail`` is the API's ``details``
    object (for a 400 it names the field at fault, e.g. ``detail["field"]``).
    """

    def __init__(self, message: str, *, code: str, status: int | None = None, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.detail = detail or {}

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class AuthError(ClearinghouseError):
    """401 or 403: the key is missing, wrong, revoked, or not allowed to call this."""


class NotFoundError(ClearinghouseError):
    """404: no such object, or one that belongs to another party (the API answers both alike)."""


class ValidationError(ClearinghouseError):
    """400: the request body is wrong; ``detail.get("field")`` names the field (e.g. ``marginals[2]``)."""


class AccuracyUnreachable(ValidationError):
    """400 ``accuracy_unreachable``: no ε this purpose allows per request gives the accuracy asked.
    ``detail`` says what it would need and the best it can give (``epsilon_needed``,
    ``best_half_width``)."""


class ConflictError(ClearinghouseError):
    """409: the request conflicts with the state of the clearinghouse."""


class BudgetExhausted(ConflictError):
    """409 ``budget_exhausted``: not enough ε left in the allocation or in the purpose's cap.
    Nothing was spent or queued. ``detail`` has ``scope``, ``remaining`` and ``period``."""


class ThrottledError(ClearinghouseError):
    """429: too many requests; ``retry_after`` is the server's Retry-After in seconds."""

    def __init__(
        self, message: str, *, code: str, status: int | None = None, detail: dict[str, Any] | None = None, retry_after: float | None = None
    ):
        super().__init__(message, code=code, status=status, detail=detail)
        self.retry_after = retry_after


class UnavailableError(ThrottledError):
    """503: a service the request needs is down for now (the broker, Redis); nothing was spent."""


class ApiError(ClearinghouseError):
    """Any other error status (405, 413, 500, …), or an answer that is not the API's JSON."""


class JobError(ClearinghouseError):
    """The job ended without a result. ``code`` is the job's own error code, ``detail`` its
    ``error`` object (``refunded`` says whether the reservation went back), ``job`` the handle."""

    def __init__(self, message: str, *, code: str, detail: dict[str, Any] | None = None, job=None):
        super().__init__(message, code=code, status=None, detail=detail)
        self.job = job


class JobRefused(JobError):
    """The job ended ``refused`` (e.g. ``purpose_not_approved``): nothing was released."""


class JobFailed(JobError):
    """The job ended ``failed`` (interrupted too often, an internal error): nothing was released."""


class WaitTimeout(ClearinghouseError):
    """``wait()`` gave up: the job was still queued or running when the timeout passed. The job
    goes on; wait again, or come back later with ``Client.job(kind, id)``."""

    def __init__(self, message: str, *, job=None, last_status: str | None = None):
        super().__init__(message, code="timeout", status=None, detail={"last_status": last_status})
        self.job = job
        self.last_status = last_status


class SignatureError(ClearinghouseError):
    """``verify()`` failed. ``code`` says which check: ``no_result``, ``unsupported_algorithm``,
    ``unknown_key``, ``wrong_key_use``, ``key_not_valid_then``, ``invalid_key``,
    ``wrong_document`` or ``bad_signature``."""

    def __init__(self, message: str, *, code: str, detail: dict[str, Any] | None = None):
        super().__init__(message, code=code, status=None, detail=detail)


def error_for(status: int, body: Any, *, retry_after: str | None = None) -> ClearinghouseError:
    """The typed error for an error response (``body`` is its parsed JSON, or its text)."""
    error = body.get("error") if isinstance(body, dict) else None
    detail: dict[str, Any] = {}
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message") or code)
        if isinstance(error.get("details"), dict):
            detail = error["details"]
    else:
        code = f"http_{status}"
        text = body if isinstance(body, str) else repr(body)
        message = f"HTTP {status} without the API's error body: {text[:200]}"
    if status in (401, 403):
        return AuthError(message, code=code, status=status, detail=detail)
    if status == 404:
        return NotFoundError(message, code=code, status=status, detail=detail)
    if status == 400:
        if code == "accuracy_unreachable":
            return AccuracyUnreachable(message, code=code, status=status, detail=detail)
        return ValidationError(message, code=code, status=status, detail=detail)
    if status == 409:
        if code == "budget_exhausted":
            return BudgetExhausted(message, code=code, status=status, detail=detail)
        return ConflictError(message, code=code, status=status, detail=detail)
    if status in (429, 503):
        seconds = _seconds(retry_after) if retry_after is not None else _seconds(detail.get("retry_after_seconds"))
        if status == 429:
            return ThrottledError(message, code=code, status=status, detail=detail, retry_after=seconds)
        return UnavailableError(message, code=code, status=status, detail=detail, retry_after=seconds)
    return ApiError(message, code=code, status=status, detail=detail)


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None
