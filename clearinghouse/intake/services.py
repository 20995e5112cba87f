"""Platform intake: one batch of signals in, one transaction, one audit event."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.fields import DateTimeField

from clearinghouse.accounts.models import Platform, PlatformLink
from clearinghouse.accounts.pseudonyms import platform_pseudonym_key
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.consent.models import ConsentState, Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import DomainError, NotFound, TooLarge
from clearinghouse.intake.locks import intake_lock_shared
from clearinghouse.intake.models import IntakeBatch
from clearinghouse.intake.storage import signals_write
from clearinghouse.intake.validation import (
    CONSENT_REQUIRED,
    UNKNOWN_SUBJECT,
    UNKNOWN_SUBJECT_MESSAGE,
    PurposeRule,
    Rejection,
    batch_items_parse,
    items_check,
)


@dataclass
class BatchOutcome:
    batch: IntakeBatch
    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "batch": str(self.batch.public_id),
            # Rendered like every other time of the API (DRF's setting: ISO 8601, local zone).
            "received_at": DateTimeField().to_representation(self.batch.received_at),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
        }


def subject_pseudonyms(*, platform_id: int, subject_refs: Iterable[str]) -> dict[str, str]:
    """subject_ref → the per-platform pseudonym (accounts.pseudonyms.subject_pseudonym, in bulk:
    the standard library's HMAC is several times faster per call than building a
    cryptography HMAC object, and yields the same bytes)."""
    key = platform_pseudonym_key(platform_id)
    new, sha256 = hmac.new, hashlib.sha256
    return {ref: new(key, ref.encode("utf-8"), sha256).hexdigest() for ref in subject_refs}


def purpose_rules(*, now: datetime) -> dict[str, PurposeRule]:
    return {p.code: PurposeRule.of(p, now=now) for p in Purpose.objects.filter(status=Purpose.APPROVED)}


def _links(*, platform_id: int, pseudonyms: list[str]) -> dict[str, int]:
    """pseudonym → consumer id, for the live links among ``pseudonyms``."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT l.subject_pseudonym, l.consumer_id FROM accounts_platformlink l "
                "JOIN accounts_consumer c ON c.id = l.consumer_id "
                "WHERE l.platform_id = %s AND l.subject_pseudonym = ANY(%s) AND c.erased_at IS NULL",
                [platform_id, pseudonyms],
            )
            return dict(cursor.fetchall())

    return dict(
        PlatformLink.objects.filter(
            platform_id=platform_id, subject_pseudonym__in=pseudonyms, consumer__erased_at__isnull=True
        ).values_list("subject_pseudonym", "consumer_id")
    )


def _active_consents(*, platform_id: int, consumer_ids: list[int]) -> set[tuple[int, str, int]]:
    """(consumer id, purpose code, version) of every granted consent of these consumers here."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT consumer_id, purpose_code, version FROM {ConsentState._meta.db_table} s "
                f"WHERE s.platform_id = %s AND {ConsentState.objects.granted_sql('s')} AND s.consumer_id = ANY(%s)",
                [platform_id, consumer_ids],
            )
            return set(cursor.fetchall())
    return set(
        ConsentState.objects.granted()
        .filter(platform_id=platform_id, consumer_id__in=consumer_ids)
        .values_list("consumer_id", "purpose_code", "version")
    )


def signals_ingest(*, platform: Platform, items: list, actor: Actor, now: datetime | None = None) -> BatchOutcome:
    """Check and store one batch of parsed items (a list of JSON objects).

    Raises Invalid (code ``malformed_body``) when the batch is not well-formed; nothing is
    stored then. Otherwise every item is accepted, a duplicate (same event_id from this
    platform, earlier or in this batch), or rejected with a code and a message.
    """
    now = now or timezone.now()
    skew = timedelta(seconds=settings.CH_INTAKE_CLOCK_SKEW_SECONDS)
    candidates, rejections = items_check(items, rules=purpose_rules(now=now), taxonomy=taxonomy_index(), now=now, skew=skew)
    pseudonyms = subject_pseudonyms(platform_id=platform.pk, subject_refs={c[2] for c in candidates})

    with transaction.atomic():
        # Held until commit: an erasure of this platform waits for this batch (see locks.py).
        intake_lock_shared(platform_id=platform.pk)
        received_at = timezone.now()
        links = _links(platform_id=platform.pk, pseudonyms=list(set(pseudonyms.values()))) if candidates else {}
        consents = _active_consents(platform_id=platform.pk, consumer_ids=list(set(links.values()))) if links else set()

        rows = []
        seen_events: set[str] = set()
        duplicates_in_batch = 0
        platform_id = platform.pk
        for index, event_id, subject_ref, rule, *values in candidates:
            consumer_id = links.get(pseudonyms[subject_ref])
            if consumer_id is None:
                rejections.append(Rejection(index, event_id, UNKNOWN_SUBJECT, UNKNOWN_SUBJECT_MESSAGE))
            elif (consumer_id, rule.code, rule.version) not in consents:
                rejections.append(_consent_required(index, event_id, rule))
            elif event_id in seen_events:
                duplicates_in_batch += 1
            else:
                seen_events.add(event_id)
                rows.append((platform_id, consumer_id, rule.purpose_id, event_id, *values, received_at))

        inserted = signals_write(rows=rows) if rows else 0
        duplicates = duplicates_in_batch + len(rows) - inserted
        rejections.sort(key=lambda r: r.index)
        rejected_counts = dict(sorted(Counter(r.code for r in rejections).items()))
        batch = IntakeBatch.objects.create(
            platform=platform,
            received_at=received_at,
            items=len(items),
            accepted=inserted,
            duplicates=duplicates,
            rejected_counts=rejected_counts,
            rejected=[r.as_dict() for r in rejections],
        )
        # Last: an event sealed inline holds the audit log's sealing lock until commit.
        audit_append(
            actor=actor,
            action=AuditAction.INTAKE_BATCH,
            target=f"platform:{platform.slug}",
            details={
                "batch": str(batch.public_id),
                "items": len(items),
                "accepted": inserted,
                "duplicates": duplicates,
                "rejected": rejected_counts,
            },
        )
    return BatchOutcome(batch=batch, accepted=inserted, duplicates=duplicates, rejected=rejections)


def _consent_required(index: int, event_id: str, rule: PurposeRule) -> Rejection:
    return Rejection(
        index,
        event_id,
        CONSENT_REQUIRED,
        f"The person has no active consent for purpose {rule.label} on your platform (never given, withdrawn, "
        f"or given for an earlier version). Check GET /api/v1/platform/subjects/{{subject_ref}}/consent?purpose={rule.code}.",
    )


def signals_submit(*, platform: Platform, actor: Actor, body_size: int, read_body: Callable[[], bytes]) -> BatchOutcome:
    """POST /platform/signals: refuse an oversized body unread, parse, check, store.

    A refused batch (413, malformed) stores nothing and is audited as ``intake.batch``
    with outcome ``denied``, so refused attempts show in the register too.
    """
    try:
        if body_size > settings.CH_SIGNAL_BATCH_MAX_BYTES:
            raise TooLarge(
                f"The body is {body_size:,} bytes; a batch may be at most {settings.CH_SIGNAL_BATCH_MAX_BYTES:,} bytes "
                f"and {settings.CH_SIGNAL_BATCH_MAX:,} signals. Split it into smaller batches.",
                code="batch_too_large",
                details={"max_bytes": settings.CH_SIGNAL_BATCH_MAX_BYTES, "bytes": body_size},
            )
        items = batch_items_parse(read_body(), max_items=settings.CH_SIGNAL_BATCH_MAX)
        return signals_ingest(platform=platform, items=items, actor=actor)
    except DomainError as error:
        audit_record(
            actor=actor,
            action=AuditAction.INTAKE_BATCH,
            target=f"platform:{platform.slug}",
            outcome="denied",
            details={"error": error.code, "accepted": 0, "duplicates": 0, "rejected": {}},
        )
        raise


def intake_batch_get(*, platform: Platform, batch_id: str, actor: Actor) -> IntakeBatch:
    """One of the platform's own batch receipts. Another platform's batch answers exactly
    like a missing one: same error, and no sooner than CH_WALL_FLOOR_MS after the request
    began, so that the audit write of the blocked attempt cannot be told apart by timing."""
    started = time.monotonic()
    try:
        public_id = uuid.UUID(batch_id)
    except (ValueError, TypeError):
        public_id = None
    # Looked up without the platform filter so that a foreign id is recognised and audited.
    batch = IntakeBatch.objects.select_related("platform").filter(public_id=public_id).first() if public_id else None
    if batch is not None and batch.platform_id == platform.pk:
        return batch
    if batch is not None:
        audit_record(
            actor=actor,
            action=AuditAction.PLATFORM_CROSS_ACCESS_BLOCKED,
            target=f"platform:{platform.slug}",
            outcome="denied",
            details={"object": "intake_batch", "owner": batch.platform.slug},
        )
    remaining = settings.CH_WALL_FLOOR_MS / 1000 - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    raise NotFound()
