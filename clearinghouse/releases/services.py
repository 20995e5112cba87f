"""Release requests and the release job.

Request (web process): validate -> one transaction reserves ε from both budgets, writes
the queued release and its audit events -> after commit, the task is published. If the
broker refuses, a second transaction marks the release failed and refunds it, and the
caller answers 503: nothing stays spent. A web process that dies between the commit and
the publish leaves a queued release that the beat sweeper re-sends.

Job (worker): claim the release with a conditional update, then one transaction that
takes the purpose's ledger lock, leaves out consumers at their cap, aggregates with
bounded contributions (one SQL statement), draws OpenDP noise once, signs the result,
writes the charge bitmaps, and flips the release to done with a conditional update. The
noisy values exist only inside that transaction until it commits, so a crash or a retry
before the commit discards a draw nobody saw, and a retry after it finds the release done
and changes nothing: one release, one answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get
from clearinghouse.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from clearinghouse.releases.budgets import BudgetExhausted, budget_refund, budget_reserve, period_of
from clearinghouse.releases.compute import aggregate_compute, bounding_seed
from clearinghouse.releases.document import mechanism_choose, release_document
from clearinghouse.releases.ledger import chunks_encode, ledger_exclusion
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.plans import ReleasePlan, epsilon_text, release_plan_build
from clearinghouse.releases.preview import request_purpose_code, resolve_epsilon
from clearinghouse.releases.reach import reach_section
from clearinghouse.releases.signals import job_ended

logger = logging.getLogger(__name__)
SYSTEM = Actor.system("releases")


def _details(release: Release, **extra) -> dict[str, Any]:
    return {
        "release_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": release.purpose_code,
        "measure": release.measure,
        "epsilon": epsilon_text(release.epsilon),
        **({"kind": release.kind} if release.kind != Release.RELEASE else {}),
        **extra,
    }


# --- Request ------------------------------------------------------------------------------


class BrokerUnavailable(Exception):
    pass


def publish_with(task, release_id) -> None:
    """Send ``task`` for the job; any failure to reach the broker becomes BrokerUnavailable.
    Engines above this app (reports, trends) pass their own task."""
    try:
        task.apply_async(
            args=[str(release_id)],
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except (KombuOperationalError, OSError, ConnectionError) as exc:
        raise BrokerUnavailable(type(exc).__name__) from exc


def release_publish(release_id) -> None:
    from clearinghouse.releases.tasks import release_compute_task  # tasks import this module

    publish_with(release_compute_task, release_id)


def job_refusal_details(*, manufacturer: Manufacturer, body: Any, kind: str = Release.RELEASE) -> dict[str, Any]:
    """What a refused request is audited with: who asked and, cut short, what they named
    (the audit log is no dump of what was sent)."""

    def given(value):
        return value[:64] if isinstance(value, str) else None

    return {
        **({"kind": kind} if kind != Release.RELEASE else {}),
        "manufacturer": manufacturer.slug,
        "purpose": given(body.get("purpose")) if isinstance(body, dict) else None,
        "measure": given(body.get("measure")) if isinstance(body, dict) else None,
    }


@contextmanager
def refusals_audited(*, manufacturer: Manufacturer, body: Any, actor: Actor, kind: str = Release.RELEASE) -> Iterator[None]:
    """A request refused inside this block (Invalid) is audited as release.refused, then the
    refusal goes on to the caller. For every kind of job."""
    try:
        yield
    except Invalid as exc:
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_REFUSED,
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details=job_refusal_details(manufacturer=manufacturer, body=body, kind=kind)
            | {"code": exc.code, "field": exc.details.get("field")},
        )
        raise


def release_request(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> tuple[Release, bool]:
    """Validate, reserve, queue. Returns (release, created); a repeat of a live release
    of this period returns that release and spends nothing."""
    refusal_details = job_refusal_details(manufacturer=manufacturer, body=body)
    with refusals_audited(manufacturer=manufacturer, body=body, actor=actor):
        purpose_code = request_purpose_code(body)
        purpose = purpose_current(code=purpose_code)
        # An accuracy-first request becomes the least ε that meets it (or a refusal).
        body = resolve_epsilon(manufacturer=manufacturer, purpose=purpose, body=body, purpose_code=purpose_code)
        plan = release_plan_build(manufacturer=manufacturer, purpose=purpose, body=body, purpose_code=purpose_code)
    # Discrete Laplace or discrete Gaussian, whichever states the smaller error at the same
    # share of the person cap.
    choice = mechanism_choose(plan)
    return release_queue(
        manufacturer=manufacturer,
        order=QueueOrder(
            purpose=plan.purpose,
            kind=Release.RELEASE,
            measure=plan.measure,
            group_by=plan.group_by,
            filters=plan.filters,
            k=plan.k,
            # A Gaussian answer is charged ρ in the ledger, a Laplace one ε_L ≤ the ε asked;
            # budgets are charged the ε asked, at least what ρ states at δ (rho_within).
            epsilon=plan.epsilon,
            rho=choice.rho,
            person_epsilon=choice.person_epsilon,
            digest=plan.request_digest(),
        ),
        refusal_details=refusal_details,
        actor=actor,
        publish=release_publish,
    )


@dataclass(frozen=True)
class QueueOrder:
    """What is reserved and queued, for any kind of job (release, report, trend)."""

    purpose: Purpose
    kind: str
    measure: str
    epsilon: Decimal
    digest: str
    group_by: list = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    k: int | None = None
    rho: Decimal = Decimal(0)
    spec: dict = field(default_factory=dict)
    person_epsilon: Decimal | None = None


def release_queue(
    *, manufacturer: Manufacturer, order: QueueOrder, refusal_details: dict, actor: Actor, publish: Callable[[Any], None]
) -> tuple[Release, bool]:
    """Reserve the budget and queue the job in one transaction; ``publish`` sends its task
    after commit. A repeat of a live job of this period returns that job and spends nothing.
    Raises Conflict (budget_exhausted) or Unavailable (broker_unavailable)."""
    period = period_of()
    digest = order.digest
    live = Q(manufacturer=manufacturer, request_digest=digest, period=period, status__in=Release.LIVE)
    existing = Release.objects.filter(live).first()
    if existing is not None:
        return existing, False
    refused: BudgetExhausted | None = None
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    budget_reserve(manufacturer=manufacturer, purpose=order.purpose, period=period, epsilon=order.epsilon, actor=actor)
                    release = Release.objects.create(
                        manufacturer=manufacturer,
                        purpose=order.purpose,
                        purpose_code=order.purpose.code,
                        period=period,
                        kind=order.kind,
                        measure=order.measure,
                        group_by=order.group_by,
                        filters=order.filters,
                        k=order.k,
                        epsilon=order.epsilon,
                        rho=order.rho,
                        person_epsilon=order.person_epsilon,
                        spec=order.spec,
                        request_digest=digest,
                    )
            except BudgetExhausted as exc:
                refused = exc
            if refused is None:
                audit_append(actor=actor, action=AuditAction.RELEASE_REQUESTED, target=f"release:{release.id}", details=_details(release))
                audit_append(
                    actor=actor,
                    action=AuditAction.BUDGET_RESERVED,
                    target=f"release:{release.id}",
                    details=_details(release, period=period),
                )
                transaction.on_commit(lambda: publish(release.id))
    except IntegrityError:
        # The same request raced us and won: answer with its release, spend nothing.
        existing = Release.objects.filter(live).first()
        if existing is None:
            raise
        return existing, False
    except BrokerUnavailable:
        release_close(
            release_id=release.id,
            status=Release.FAILED,
            code="broker_unavailable",
            message="The job queue is unreachable; nothing was spent.",
        )
        raise Unavailable(
            "The job queue is unreachable right now; your budget was not charged. Try again shortly.", code="broker_unavailable"
        ) from None
    if refused is not None:
        scope = "your allocation" if refused.scope == "allocation" else "the purpose's cap for all manufacturers"
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_REFUSED,
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details=refusal_details
            | {"code": "budget_exhausted", "scope": refused.scope, "epsilon": epsilon_text(order.epsilon), "period": period},
        )
        raise Conflict(
            f"Not enough budget: {epsilon_text(order.epsilon)} ε requested, {epsilon_text(max(refused.remaining, Decimal(0)))} left in {scope} for {period}.",
            code="budget_exhausted",
            details={
                "scope": refused.scope,
                "epsilon": epsilon_text(order.epsilon),
                "remaining": epsilon_text(max(refused.remaining, Decimal(0))),
                "period": period,
            },
        )
    return release, True


# --- Closing a release without an answer ----------------------------------------------------


def release_close(*, release_id, status: str, code: str, message: str) -> Release | None:
    """queued/running -> failed/refused, refunding the reservation, in one transaction.
    Only releases that never committed an answer get here, so the refund is sound: no
    noisy value of theirs ever left the job's transaction."""
    with transaction.atomic():
        release = Release.objects.select_for_update().select_related("manufacturer").filter(pk=release_id).first()
        if release is None or release.status not in (Release.QUEUED, Release.RUNNING):
            return release
        now = timezone.now()
        release.status, release.error_code, release.error_message = status, code, message
        release.completed_at = now
        release.refunded_at = now
        release.lease_until = None
        release.save(update_fields=["status", "error_code", "error_message", "completed_at", "refunded_at", "lease_until"])
        budget_refund(
            manufacturer_id=release.manufacturer_id, purpose_code=release.purpose_code, period=release.period, epsilon=release.epsilon
        )
        audit_append(
            actor=SYSTEM,
            action=AuditAction.RELEASE_REFUSED if status == Release.REFUSED else AuditAction.RELEASE_FAILED,
            target=f"release:{release.id}",
            outcome="denied" if status == Release.REFUSED else "error",
            details=_details(release, code=code),
        )
        audit_append(
            actor=SYSTEM,
            action=AuditAction.BUDGET_REFUNDED,
            target=f"release:{release.id}",
            details=_details(release, period=release.period),
        )
        job_ended.send(sender=Release, release_id=release.id, status=status)
    return release


# --- The job ------------------------------------------------------------------------------


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def release_claim(release_id) -> int | None:
    """queued -> running (or take over a running release whose lease expired). Returns
    the attempt number this worker owns, or None if there is nothing to do."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.CH_RELEASE_LEASE_SECONDS)
    claimable = Q(status=Release.QUEUED) | Q(status=Release.RUNNING, lease_until__lt=now)
    with transaction.atomic():
        updated = Release.objects.filter(claimable, pk=release_id).update(
            status=Release.RUNNING, attempts=F("attempts") + 1, lease_until=lease, started_at=now
        )
        if not updated:
            return None
        return Release.objects.filter(pk=release_id).values_list("attempts", flat=True).first()


@contextmanager
def _heartbeat(*, release_id, attempt: int) -> Iterator[None]:
    """Keep this attempt's lease alive while the job runs: every third of
    CH_RELEASE_LEASE_SECONDS a thread (on its own database connection, outside the job's
    transaction) moves ``lease_until`` forward. A worker that dies stops beating, and the
    sweeper (every CH_RELEASE_SWEEP_SECONDS) hands the release to another worker as soon
    as the short lease ran out: within a minute, not after the longest job could take."""
    stop = threading.Event()
    lease = timedelta(seconds=settings.CH_RELEASE_LEASE_SECONDS)

    def beat() -> None:
        try:
            while not stop.wait(lease.total_seconds() / 3):
                try:
                    Release.objects.filter(pk=release_id, status=Release.RUNNING, attempts=attempt).update(
                        lease_until=timezone.now() + lease
                    )
                except DatabaseError:
                    logger.warning("release %s: heartbeat failed, will retry", release_id, exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"release-heartbeat-{release_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=lease.total_seconds())


class ReleaseTakenOver(Exception):
    """This attempt lost the release to a later one (its lease had run out): roll back."""


def ledger_lock() -> None:
    """Serialise everything that reads or writes the individual ledger: the exclusion and
    the charge of one job must not interleave with another's. One lock for every purpose,
    because the person cap spans them all. (SQLite's IMMEDIATE transactions already
    serialise all writers.)"""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"releases/ledger").digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _tune_statement() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.CH_RELEASE_WORK_MEM])
            # One analytic statement over millions of rows: JIT compilation costs more than
            # it saves, and a nested loop over every consent row is never the right plan.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL enable_nestloop = off")
            # The final aggregation has at most CH_RELEASE_MAX_CELLS groups, but the planner
            # prices array_agg at 8 kB per estimated group and, guessing far more groups,
            # would sort millions of rows instead of hashing them.
            cursor.execute("SET LOCAL hash_mem_multiplier = 16")
            # The statement needs one sort, the per-consumer order that bounding ranks by.
            # The planner, under-estimating the consent join by orders of magnitude (it
            # cannot see that a signal's consumer and platform are correlated), adds others
            # it believes cheap: sorting ~1M rows for the final aggregation of at most
            # CH_RELEASE_MAX_CELLS groups, merge joins and incremental sorts over index
            # order. Disabling sorts penalises every plan's unavoidable sort alike, so only
            # the avoidable ones change: 1M signals 1.6 s -> 1.1 s, 10M unchanged or faster
            # (docs/releases.md).
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_incremental_sort = off")
            cursor.execute("SET LOCAL enable_mergejoin = off")


def release_plan_for(release: Release) -> ReleasePlan:
    """Rebuild the plan of a stored release (purpose version as requested)."""
    body = {
        "purpose": release.purpose_code,
        "measure": release.measure,
        "group_by": release.group_by,
        "filters": release.filters,
        "epsilon": str(release.epsilon),
    }
    if release.k is not None:
        body["k"] = release.k
    plan = release_plan_build(manufacturer=release.manufacturer, purpose=release.purpose, body=body, purpose_code=release.purpose_code)
    # The mechanism chosen at request time (document.mechanism_choose).
    plan.rho, plan.person_epsilon = release.rho, release.person_epsilon
    return plan


@dataclass(frozen=True)
class JobEngine:
    """What differs between the kinds of job; the job itself (claim, heartbeat, ledger lock,
    individual filter, exact aggregation, signature, charge, refusals and failures) is
    one, in job_run. ``prepare`` rebuilds the stored request's plan or spec without reading
    data (DomainError when it is no longer valid), ``plan`` gives the exact aggregation's
    ReleasePlan of it, and ``answer(release=, prepared=, aggregate=, snapshot_at=)`` noises
    the aggregate into the document that is signed."""

    name: str
    prepare: Callable[[Release], Any]
    plan: Callable[[Any], ReleasePlan]
    answer: Callable[..., dict]


def _release_answer(*, release: Release, prepared: ReleasePlan, aggregate, snapshot_at) -> dict:
    return release_document(release=release, plan=prepared, aggregate_values=aggregate, snapshot_at=snapshot_at)


RELEASE_ENGINE = JobEngine(
    name="release", prepare=lambda release: release_plan_for(release), plan=lambda plan: plan, answer=_release_answer
)


def release_compute(*, release_id) -> Release | None:
    return job_run(release_id=release_id, engine=RELEASE_ENGINE)


def job_run(*, release_id, engine: JobEngine) -> Release | None:
    """The job, for every kind (idempotent): a job that is done, closed or owned by a live
    attempt is left as it is; one interrupted too often, refused or failed before its answer
    committed is closed with a refund."""
    attempt = release_claim(release_id)
    if attempt is None:
        return Release.objects.filter(pk=release_id).first()
    if attempt > settings.CH_RELEASE_MAX_ATTEMPTS:
        return release_close(
            release_id=release_id,
            status=Release.FAILED,
            code="too_many_attempts",
            message="The job was interrupted too often; nothing was spent.",
        )
    try:
        with _heartbeat(release_id=release_id, attempt=attempt):
            return _compute(release_id=release_id, attempt=attempt, engine=engine)
    except _Refusal as refusal:
        return release_close(release_id=release_id, status=Release.REFUSED, code=refusal.code, message=refusal.message)
    except Exception:
        logger.exception("%s %s failed before its answer was committed", engine.name, release_id)
        return release_close(
            release_id=release_id,
            status=Release.FAILED,
            code="internal_error",
            message="The job failed before any result was released; nothing was spent.",
        )


def _compute(*, release_id, attempt: int, engine: JobEngine = RELEASE_ENGINE) -> Release:
    try:
        return _compute_once(release_id=release_id, attempt=attempt, engine=engine)
    except ReleaseTakenOver:  # rolled back: the later attempt gives the one answer
        return Release.objects.get(pk=release_id)


def _compute_once(*, release_id, attempt: int, engine: JobEngine) -> Release:
    release = Release.objects.select_related("manufacturer", "purpose").get(pk=release_id)
    if release.status != Release.RUNNING or release.attempts != attempt:
        return release  # another attempt took over (or finished) meanwhile
    if release.purpose.status != Purpose.APPROVED:
        raise _Refusal(
            "purpose_not_approved",
            f"{release.purpose_code} version {release.purpose.version} is no longer approved; nothing was spent.",
        )
    # Planning reads no data (a trend's can take seconds of linear algebra): before the lock.
    try:
        prepared = engine.prepare(release)
    except DomainError as exc:
        raise _Refusal(exc.code, f"The request is no longer valid: {exc.message}") from None
    with transaction.atomic():
        _tune_statement()
        ledger_lock()
        # Read, not locked FOR UPDATE: the heartbeat must be able to renew the lease. The
        # ledger lock serialises attempts, and release_finish's conditional update names
        # this attempt, so one that was taken over rolls back (ReleaseTakenOver).
        release = Release.objects.select_related("manufacturer", "purpose").get(pk=release_id)
        if release.status != Release.RUNNING or release.attempts != attempt:
            return release
        snapshot_at = timezone.now()
        exclusion = ledger_exclusion(
            purpose_code=release.purpose_code,
            moment=snapshot_at,
            purpose_cap=release.purpose.consumer_epsilon_cap,
            epsilon=release.person_charge_epsilon,
            rho=release.rho,
        )
        aggregate = aggregate_compute(
            engine.plan(prepared),
            seed=bounding_seed(release.id),
            excluded=exclusion.excluded,
            countable=exclusion.countable,
            now=snapshot_at,
        )
        payload = engine.answer(release=release, prepared=prepared, aggregate=aggregate, snapshot_at=snapshot_at)
        # Every kind of answer states its reach, paid from its own cost (reach.py).
        payload["reach"] = reach_section(
            epsilon=release.person_charge_epsilon,
            rho=release.rho,
            covered=int(aggregate.contributors.size),
            left_out=int(aggregate.left_out.size),
        )
        release_finish(
            release=release,
            attempt=attempt,
            payload=payload,
            contributors=aggregate.contributors,
            snapshot_at=snapshot_at,
            left_out=aggregate.left_out,
        )
    release.refresh_from_db()
    return release


def release_finish(*, release: Release, attempt: int, payload: dict, contributors, snapshot_at, left_out=None) -> None:
    """Inside the job's transaction, under ledger_lock: sign the document, charge every
    contributor in the ledger (and every consumer the reach count left out, its reach
    share only), mark the job done (only if ``attempt`` still owns it), audit it. Raises
    ReleaseTakenOver when a later attempt took the release over."""
    envelope = signer_get("releases").envelope(payload)
    ChargeChunk.objects.bulk_create(
        [ChargeChunk(release=release, chunk=chunk, bits=bits) for chunk, bits in chunks_encode(contributors)]
        + [
            ChargeChunk(release=release, chunk=chunk, bits=bits, reach_only=True)
            for chunk, bits in chunks_encode(left_out if left_out is not None else [])
        ]
    )
    done = Release.objects.filter(pk=release.pk, status=Release.RUNNING, attempts=attempt).update(
        status=Release.DONE, result=envelope, completed_at=snapshot_at, lease_until=None
    )
    if not done:
        raise ReleaseTakenOver(str(release.id))
    audit_append(actor=SYSTEM, action=AuditAction.RELEASE_COMPLETED, target=f"release:{release.id}", details=_details(release))
    job_ended.send(sender=Release, release_id=release.id, status=Release.DONE)


# --- Upkeep -------------------------------------------------------------------------------


@dataclass
class SweepReport:
    resent: int = 0
    failed: int = 0


def release_sweep(*, now=None, kind: str = "release", publish: Callable[[Any], None] | None = None) -> SweepReport:
    """Beat: re-send queued jobs of ``kind`` whose task never reached a worker, and running
    ones whose worker died (lease expired); give up, with a refund, after too many attempts.
    Reports and trends sweep their own kind with their own task."""
    now = now or timezone.now()
    publish = publish or release_publish
    report = SweepReport()
    stale_queued = Q(status=Release.QUEUED, created_at__lt=now - timedelta(seconds=settings.CH_RELEASE_RESEND_SECONDS))
    expired = Q(status=Release.RUNNING, lease_until__lt=now)
    for release_id, attempts in Release.objects.filter(stale_queued | expired, kind=kind).values_list("id", "attempts"):
        if attempts >= settings.CH_RELEASE_MAX_ATTEMPTS:
            release_close(
                release_id=release_id,
                status=Release.FAILED,
                code="too_many_attempts",
                message="The job was interrupted too often; nothing was spent.",
            )
            report.failed += 1
            continue
        try:
            publish(release_id)
        except BrokerUnavailable:
            logger.warning("release sweep: broker unavailable, will retry")
            break
        report.resent += 1
    return report


def release_read(*, manufacturer: Manufacturer, release_id, actor: Actor) -> Release:
    """One of the manufacturer's own releases. Another manufacturer's answers exactly like
    a missing one (404), no sooner than CH_WALL_FLOOR_MS after the request began so that
    the audit write of the attempt cannot be timed, and is audited as ``access.denied``
    (reason ``cross_party``)."""
    started = time.monotonic()
    release = Release.objects.select_related("manufacturer").filter(pk=release_id).first()
    if release is not None and release.manufacturer_id == manufacturer.pk:
        return release
    if release is not None:
        audit_record(
            actor=actor,
            action=AuditAction.ACCESS_DENIED,
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details={"reason": "cross_party", "object": "release", "owner": release.manufacturer.slug, "status": 404},
        )
    remaining = settings.CH_WALL_FLOOR_MS / 1000 - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    raise NotFound()
