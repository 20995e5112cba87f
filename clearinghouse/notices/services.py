"""Signed notifications: a manufacturer's callback, and a notice for every job that ends.

Recording (worker, inside the job's own transaction): ``notice_record`` receives
``releases.signals.job_ended`` and writes a Notice row, the outbox, so the notice commits
or rolls back with the job's end; its task is sent after commit.

Delivery (worker): ``notice_deliver`` claims a due notice with a conditional update,
POSTs the signed body once (outside any transaction: a slow receiver holds no lock), then
one transaction records the outcome and its audit event. A failed attempt is tried again
after the next wait of CH_NOTICE_RETRY_SCHEDULE; after the last it is given up. Receivers
deduplicate on notice_id: a worker that dies after the POST but before recording it sends
the same notice again once its lease ran out.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import canonical_json, signer_get
from clearinghouse.core.errors import Conflict, Invalid, NotFound
from clearinghouse.core.outages import OUTAGE_ERRORS
from clearinghouse.notices.delivery import Outcome, notice_post
from clearinghouse.notices.destinations import callback_url_check
from clearinghouse.notices.models import Callback, Notice
from clearinghouse.releases.models import Release
from clearinghouse.releases.selectors import visible_at

logger = logging.getLogger(__name__)
SYSTEM = Actor.system("notices")
SIGNING_USE = "notifications"
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (*OUTAGE_ERRORS, OSError)
KIND_PATHS = {Release.RELEASE: "releases", Release.REPORT: "reports", Release.TREND: "trends"}


def _host(url: str) -> str:
    return urlsplit(url).hostname or "—"


def _url_details(url: str) -> dict[str, str]:
    # The host, and a digest that tells one URL from another: a callback's path often holds
    # the receiver's own secret, which has no place in a log that is never deleted.
    return {"host": _host(url), "url_sha256": hashlib.sha256(url.encode()).hexdigest()[:16]}


# --- The callback -------------------------------------------------------------------------


def callback_set(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> tuple[Callback, bool]:
    """Register or replace the manufacturer's callback from ``{"url": ...}`` (Invalid naming
    the field at fault). Notices still waiting go to the new URL."""
    if not isinstance(body, dict):
        raise Invalid('Send a JSON object: {"url": "https://…"}.', code="invalid_callback", details={"field": "url"})
    unknown = sorted(set(body) - {"url"})
    if unknown:
        raise Invalid(f"Unknown field {unknown[0]!r}; only url may be given.", code="unknown_field", details={"field": unknown[0]})
    url = callback_url_check(body.get("url"))
    with transaction.atomic():
        callback, created = Callback.objects.update_or_create(manufacturer=manufacturer, defaults={"url": url})
        retargeted = Notice.objects.filter(manufacturer=manufacturer, state=Notice.PENDING).update(url=url)
        audit_append(
            actor=actor,
            action=AuditAction.CALLBACK_SET,
            target=f"manufacturer:{manufacturer.slug}",
            details={"manufacturer": manufacturer.slug, "replaced": not created, "pending_notices": retargeted, **_url_details(url)},
        )
    return callback, created


def callback_delete(*, manufacturer: Manufacturer, actor: Actor) -> None:
    """Remove the callback; notices still waiting are cancelled. NotFound when there is none."""
    with transaction.atomic():
        callback = Callback.objects.select_for_update().filter(manufacturer=manufacturer).first()
        if callback is None:
            raise NotFound()
        cancelled = Notice.objects.filter(manufacturer=manufacturer, state=Notice.PENDING).update(
            state=Notice.CANCELLED, lease_until=None, last_outcome="callback_removed"
        )
        callback.delete()
        audit_append(
            actor=actor,
            action=AuditAction.CALLBACK_REMOVED,
            target=f"manufacturer:{manufacturer.slug}",
            details={"manufacturer": manufacturer.slug, "cancelled_notices": cancelled, **_url_details(callback.url)},
        )


# --- Recording a job's end ----------------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def notice_record(*, release_id, status: str, **_signal) -> Notice | None:
    """Receiver of releases.signals.job_ended, inside the transaction that ended the job.

    A done job's notice is due at the job's visible time (releases.selectors.visible_at),
    not when it finished: the API shows it as running until then, and how long a job took
    must not tell anyone about the data. Failed and refused jobs are shown at once.

    In a savepoint, and never raising: a notice that cannot be recorded is logged and lost,
    while the job's end (its answer, its charge or its refund) still commits. A missing
    notice costs the manufacturer a poll; a job rolled back by its notice would cost a
    release.
    """
    try:
        with transaction.atomic():
            return _notice_write(release_id=release_id, status=status)
    except Exception:
        logger.exception("job %s ended %s but its notice could not be recorded", release_id, status)
        return None


def _notice_write(*, release_id, status: str) -> Notice | None:
    release = Release.objects.select_related("manufacturer").get(pk=release_id)
    callback = Callback.objects.filter(manufacturer_id=release.manufacturer_id).first()
    if callback is None or Notice.objects.filter(job_id=release.pk).exists():
        return None
    occurred_at = (visible_at(release) if status == Release.DONE else release.completed_at) or timezone.now()
    notice = Notice(
        manufacturer_id=release.manufacturer_id,
        job=release,
        kind=release.kind,
        status=status,
        occurred_at=occurred_at,
        url=callback.url,
        next_attempt_at=occurred_at,
    )
    notice.body = canonical_json(
        {
            "notice_id": str(notice.id),
            "kind": release.kind,
            "id": str(release.id),
            "status": status,
            "manufacturer": release.manufacturer.slug,
            "url": f"/api/v1/{KIND_PATHS[release.kind]}/{release.id}",
            "occurred_at": _utc_text(occurred_at),
        }
    ).decode("utf-8")
    notice.save(force_insert=True)
    delay = max((occurred_at - timezone.now()).total_seconds(), 0.0)
    transaction.on_commit(lambda: notice_task_send(notice_id=notice.pk, countdown=delay))
    return notice


def notice_task_send(*, notice_id, countdown: float = 0.0) -> None:
    """Send the delivery task; runs after commit. A broker that cannot be reached must not
    undo anything: the Notice row waits and ``notices_resend`` sends it again."""
    from clearinghouse.notices.tasks import notice_deliver_task  # tasks import this module

    try:
        # One quick retry, as releases.services.publish_with: a worker that just committed a
        # job's end should not stall on a broker that is gone.
        notice_deliver_task.apply_async(
            args=[str(notice_id)],
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except PUBLISH_ERRORS as exc:
        logger.warning("notice %s: broker unavailable (%s); the resend job will send it", notice_id, type(exc).__name__)


# --- Delivery -----------------------------------------------------------------------------


def _lease() -> timedelta:
    # Longer than one attempt can take (connect plus read timeout), so a live attempt is
    # never taken over; a dead worker's notice is free again soon after.
    return timedelta(seconds=2 * settings.CH_NOTICE_TIMEOUT_SECONDS + 30)


def notice_claim(*, notice_id, now: datetime) -> int | None:
    """Take a due notice for one attempt; returns the attempt's number, or None when the
    notice is delivered, given up, cancelled, not yet due or held by a live attempt."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    with transaction.atomic():
        claimed = (
            Notice.objects.filter(free, pk=notice_id, state=Notice.PENDING, next_attempt_at__lte=now)
            .filter(attempts__lte=len(settings.CH_NOTICE_RETRY_SCHEDULE))
            .update(attempts=F("attempts") + 1, lease_until=now + _lease())
        )
        if not claimed:
            return None
        return Notice.objects.filter(pk=notice_id).values_list("attempts", flat=True).first()


def notice_deliver(*, notice_id, now: datetime | None = None) -> float | None:
    """One attempt at a due notice (idempotent: anything not due is left alone). When it
    failed and another is due later, that attempt's task is sent after commit with the wait
    as its countdown. Returns the seconds until the next attempt, else None."""
    now = now or timezone.now()
    attempt = notice_claim(notice_id=notice_id, now=now)
    if attempt is None:
        return None
    notice = Notice.objects.select_related("manufacturer").get(pk=notice_id)
    body = notice.body.encode("utf-8")
    signer = signer_get(SIGNING_USE)
    outcome = notice_post(
        url=notice.url,
        body=body,
        headers={
            "Clearinghouse-Key-Id": signer.key_id,
            "Clearinghouse-Signature": signer.sign_bytes(body),
            "Clearinghouse-Attempt": str(attempt),
        },
        timeout=settings.CH_NOTICE_TIMEOUT_SECONDS,
    )
    return notice_attempt_record(notice=notice, attempt=attempt, outcome=outcome, now=now)


def notice_attempt_record(*, notice: Notice, attempt: int, outcome: Outcome, now: datetime) -> float | None:
    """The attempt's outcome and its audit event, in one transaction."""
    schedule = settings.CH_NOTICE_RETRY_SCHEDULE
    details: dict[str, Any] = {
        "notice_id": str(notice.id),
        "manufacturer": notice.manufacturer.slug,
        "kind": notice.kind,
        "status": notice.status,
        "attempt": attempt,
        "outcome": outcome.code,
        **_url_details(notice.url),
    }
    retry_in: float | None = None
    with transaction.atomic():
        # Named by attempt: an attempt whose lease ran out and was taken over records its
        # audit event but does not overwrite the later attempt's state.
        mine = Notice.objects.filter(pk=notice.pk, state=Notice.PENDING, attempts=attempt)
        if outcome.delivered:
            mine.update(state=Notice.DELIVERED, delivered_at=timezone.now(), lease_until=None, last_outcome=outcome.code)
            action, result = AuditAction.NOTICE_DELIVERED, "ok"
        elif attempt > len(schedule):
            mine.update(state=Notice.GIVEN_UP, lease_until=None, last_outcome=outcome.code)
            action, result = AuditAction.NOTICE_GIVEN_UP, "error"
        else:
            wait = schedule[attempt - 1]
            retry_at = now + timedelta(seconds=wait)
            if mine.update(next_attempt_at=retry_at, lease_until=None, last_outcome=outcome.code):
                retry_in = float(wait)
                transaction.on_commit(lambda: notice_task_send(notice_id=notice.pk, countdown=wait))
            details["retry_at"] = _utc_text(retry_at)
            action, result = AuditAction.NOTICE_ATTEMPT_FAILED, "error"
        audit_append(actor=SYSTEM, action=action, target=f"release:{notice.job_id}", outcome=result, details=details)
    return retry_in


def notice_resend(*, manufacturer: Manufacturer, notice_id, actor: Actor, now: datetime | None = None) -> Notice:
    """Send a given-up notice again, on the manufacturer's request: a new round of attempts
    (the same body and notice_id, so a receiver that did get it deduplicates; the attempt
    header counts from 1 again) to the callback registered now. NotFound for another
    manufacturer's notice, exactly like a missing one; Conflict when the notice is not given
    up (``not_given_up``, its state in ``details``) or no callback is registered
    (``no_callback``). Nothing changes on a refusal."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked, so two requests at once start one round, not two (the second finds it pending).
        notice = Notice.objects.select_for_update().filter(pk=notice_id, manufacturer=manufacturer, occurred_at__lte=now).first()
        if notice is None:
            raise NotFound()
        if notice.state != Notice.GIVEN_UP:
            raise Conflict(
                f"Only a given-up notice can be sent again; this one is {notice.state.replace('_', ' ')}.",
                code="not_given_up",
                details={"state": notice.state},
            )
        callback = Callback.objects.filter(manufacturer=manufacturer).first()
        if callback is None:
            raise Conflict("No callback is registered: register one (PUT /api/v1/callback), then ask again.", code="no_callback")
        given_up_after = notice.attempts
        notice.state, notice.attempts, notice.next_attempt_at, notice.lease_until, notice.url = Notice.PENDING, 0, now, None, callback.url
        notice.save(update_fields=["state", "attempts", "next_attempt_at", "lease_until", "url"])
        audit_append(
            actor=actor,
            action=AuditAction.NOTICE_RESEND_REQUESTED,
            target=f"release:{notice.job_id}",
            details={
                "notice_id": str(notice.id),
                "manufacturer": manufacturer.slug,
                "kind": notice.kind,
                "given_up_after": given_up_after,
                **_url_details(callback.url),
            },
        )
        transaction.on_commit(lambda: notice_task_send(notice_id=notice.pk))
    return notice


def notices_resend(*, now: datetime | None = None) -> int:
    """Beat: send the task again for every notice that is due and not held by a live attempt
    (its task was lost to a broker outage or a dead worker). Returns how many were sent.
    A little slack keeps this from racing the retry each attempt schedules for itself."""
    now = now or timezone.now()
    slack = timedelta(seconds=settings.CH_NOTICE_TIMEOUT_SECONDS + 5)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    due = Notice.objects.filter(
        free, state=Notice.PENDING, next_attempt_at__lte=now - slack, attempts__lte=len(settings.CH_NOTICE_RETRY_SCHEDULE)
    ).values_list("id", flat=True)
    sent = 0
    for notice_id in due[:1000]:
        notice_task_send(notice_id=notice_id)
        sent += 1
    # A last attempt whose worker died before recording it: nothing may be tried any more.
    # (Or the schedule was shortened while the notice waited.)
    lost = Notice.objects.filter(free, state=Notice.PENDING, attempts__gt=len(settings.CH_NOTICE_RETRY_SCHEDULE))
    for notice in lost.select_related("manufacturer")[:1000]:
        notice_attempt_record(notice=notice, attempt=notice.attempts, outcome=Outcome(False, "attempt_lost"), now=now)
    return sent
