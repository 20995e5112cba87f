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
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from importlib.metadata import version as package_version
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.services import audit_append, audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get
from clearinghouse.core.errors import Conflict, DomainError, Invalid, Unavailable
from clearinghouse.releases import mechanisms
from clearinghouse.releases.budgets import BudgetExhausted, budget_refund, budget_reserve, period_of
from clearinghouse.releases.compute import aggregate_compute, bounding_seed
from clearinghouse.releases.ledger import chunks_encode, consumers_over
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.plans import ReleasePlan, epsilon_text, release_plan_build
from consent.models import Purpose
from consent.purposes import purpose_current

logger = logging.getLogger(__name__)
SYSTEM = Actor.system("releases")
DOCUMENT_SCHEMA = "clearinghouse-release/1"


def _details(release: Release, **extra) -> dict[str, Any]:
    return {
        "release_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": release.purpose_code,
        "measure": release.measure,
        "epsilon": epsilon_text(release.epsilon),
        **extra,
    }


# --- Request ------------------------------------------------------------------------------


class BrokerUnavailable(Exception):
    pass


def _publish(release_id) -> None:
    """Send the job; any failure to reach the broker becomes BrokerUnavailable."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    from clearinghouse.releases.tasks import release_compute_task

    try:
        release_compute_task.apply_async(
            args=[str(release_id)],
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )
    except (KombuOperationalError, OSError, ConnectionError) as exc:
        raise BrokerUnavailable(type(exc).__name__) from exc


def release_request(*, manufacturer: Manufacturer, body: Any, actor: Actor) -> tuple[Release, bool]:
    """Validate, reserve, queue. Returns (release, created); a repeat of a live release
    of this period returns that release and spends nothing."""
    purpose_code = body.get("purpose") if isinstance(body, dict) else None
    def given(value):  # what the manufacturer sent, cut short: the audit log is no dump
        return value[:64] if isinstance(value, str) else None

    refusal_details = {
        "manufacturer": manufacturer.slug,
        "purpose": given(purpose_code),
        "measure": given(body.get("measure")) if isinstance(body, dict) else None,
    }
    try:
        if not isinstance(body, dict):
            raise Invalid(
                'the request body must be a JSON object such as {"purpose": …, "measure": …, "epsilon": "0.5"}',
                code="malformed_body",
            )
        if not isinstance(purpose_code, str) or not purpose_code:
            raise Invalid("purpose: required, the code of a purpose in your catalogue", details={"field": "purpose"})
        plan = release_plan_build(
            manufacturer=manufacturer, purpose=purpose_current(code=purpose_code), body=body, purpose_code=purpose_code
        )
    except Invalid as exc:
        audit_record(
            actor=actor,
            action="release.refused",
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details=refusal_details | {"code": exc.code, "field": exc.details.get("field")},
        )
        raise
    period = period_of()
    digest = plan.request_digest()
    live = Q(manufacturer=manufacturer, request_digest=digest, period=period, status__in=Release.LIVE)
    existing = Release.objects.filter(live).first()
    if existing is not None:
        return existing, False
    refused: BudgetExhausted | None = None
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    budget_reserve(manufacturer=manufacturer, purpose=plan.purpose, period=period, epsilon=plan.epsilon, actor=actor)
                    release = Release.objects.create(
                        manufacturer=manufacturer,
                        purpose=plan.purpose,
                        purpose_code=plan.purpose.code,
                        period=period,
                        measure=plan.measure,
                        group_by=plan.group_by,
                        filters=plan.filters,
                        k=plan.k,
                        epsilon=plan.epsilon,
                        request_digest=digest,
                    )
            except BudgetExhausted as exc:
                refused = exc
            if refused is None:
                audit_append(actor=actor, action="release.requested", target=f"release:{release.id}", details=_details(release))
                audit_append(
                    actor=actor,
                    action="budget.reserved",
                    target=f"release:{release.id}",
                    details=_details(release, period=period),
                )
                transaction.on_commit(lambda: _publish(release.id))
    except IntegrityError:
        # The same request raced us and won: answer with its release, spend nothing.
        existing = Release.objects.filter(live).first()
        if existing is None:
            raise
        return existing, False
    except BrokerUnavailable:
        _release_close(release_id=release.id, status=Release.FAILED, code="broker_unavailable", message="The job queue is unreachable; nothing was spent.")
        raise Unavailable(
            "The job queue is unreachable right now; your budget was not charged. Try again shortly.", code="broker_unavailable"
        ) from None
    if refused is not None:
        scope = "your allocation" if refused.scope == "allocation" else "the purpose's cap for all manufacturers"
        audit_record(
            actor=actor,
            action="release.refused",
            target=f"manufacturer:{manufacturer.slug}",
            outcome="denied",
            details=refusal_details | {"code": "budget_exhausted", "scope": refused.scope, "epsilon": epsilon_text(plan.epsilon), "period": period},
        )
        raise Conflict(
            f"Not enough budget: {epsilon_text(plan.epsilon)} ε requested, {epsilon_text(max(refused.remaining, Decimal(0)))} left in {scope} for {period}.",
            code="budget_exhausted",
            details={"scope": refused.scope, "remaining": epsilon_text(max(refused.remaining, Decimal(0))), "period": period},
        )
    return release, True


# --- Closing a release without an answer ----------------------------------------------------


def _release_close(*, release_id, status: str, code: str, message: str) -> Release | None:
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
        budget_refund(manufacturer_id=release.manufacturer_id, purpose_code=release.purpose_code, period=release.period, epsilon=release.epsilon)
        audit_append(
            actor=SYSTEM,
            action="release.refused" if status == Release.REFUSED else "release.failed",
            target=f"release:{release.id}",
            outcome="denied" if status == Release.REFUSED else "error",
            details=_details(release, code=code),
        )
        audit_append(actor=SYSTEM, action="budget.refunded", target=f"release:{release.id}", details=_details(release, period=release.period))
    return release


# --- The job ------------------------------------------------------------------------------


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _claim(release_id) -> int | None:
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


def _purpose_lock(purpose_code: str) -> None:
    """Serialise, per purpose, everything that reads or writes the individual ledger: the
    exclusion and the charge of one job must not interleave with another's. (SQLite's
    IMMEDIATE transactions already serialise all writers.)"""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"releases/ledger/{purpose_code}".encode()).digest()[:8], "big", signed=True)
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
    body = {"purpose": release.purpose_code, "measure": release.measure, "group_by": release.group_by, "filters": release.filters, "epsilon": str(release.epsilon)}
    if release.k is not None:
        body["k"] = release.k
    return release_plan_build(manufacturer=release.manufacturer, purpose=release.purpose, body=body, purpose_code=release.purpose_code)


def release_compute(*, release_id) -> Release | None:
    attempt = _claim(release_id)
    if attempt is None:
        return Release.objects.filter(pk=release_id).first()
    if attempt > settings.CH_RELEASE_MAX_ATTEMPTS:
        return _release_close(release_id=release_id, status=Release.FAILED, code="too_many_attempts", message="The job was interrupted too often; nothing was spent.")
    try:
        return _compute(release_id=release_id, attempt=attempt)
    except _Refusal as refusal:
        return _release_close(release_id=release_id, status=Release.REFUSED, code=refusal.code, message=refusal.message)
    except Exception:
        logger.exception("release %s failed before its answer was committed", release_id)
        return _release_close(release_id=release_id, status=Release.FAILED, code="internal_error", message="The job failed before any result was released; nothing was spent.")


def _compute(*, release_id, attempt: int) -> Release:
    with transaction.atomic():
        _tune_statement()
        release = Release.objects.select_related("manufacturer", "purpose").get(pk=release_id)
        _purpose_lock(release.purpose_code)
        release = Release.objects.select_for_update().select_related("manufacturer", "purpose").get(pk=release_id)
        if release.status != Release.RUNNING or release.attempts != attempt:
            return release  # another attempt took over (or finished) meanwhile
        if release.purpose.status != Purpose.APPROVED:
            raise _Refusal("purpose_not_approved", f"{release.purpose_code} version {release.purpose.version} is no longer approved; nothing was spent.")
        try:
            plan = release_plan_for(release)
        except DomainError as exc:
            raise _Refusal(exc.code, f"The request is no longer valid: {exc.message}") from None

        snapshot_at = timezone.now()
        excluded = consumers_over(
            purpose_code=release.purpose_code, moment=snapshot_at, cap=release.purpose.consumer_epsilon_cap, epsilon=release.epsilon
        )
        aggregate = aggregate_compute(plan, seed=bounding_seed(release.id), excluded=excluded)
        payload = release_document(release=release, plan=plan, aggregate_values=aggregate, snapshot_at=snapshot_at)
        envelope = signer_get("releases").envelope(payload)
        ChargeChunk.objects.bulk_create(
            [ChargeChunk(release=release, chunk=chunk, bits=bits) for chunk, bits in chunks_encode(aggregate.contributors)]
        )
        done = Release.objects.filter(pk=release.pk, status=Release.RUNNING, attempts=attempt).update(
            status=Release.DONE, result=envelope, completed_at=snapshot_at, lease_until=None
        )
        if not done:  # pragma: no cover - the row lock above makes this unreachable
            transaction.set_rollback(True)
            return Release.objects.get(pk=release.pk)
        audit_append(actor=SYSTEM, action="release.completed", target=f"release:{release.id}", details=_details(release))
    release.refresh_from_db()
    return release


# --- The signed document ------------------------------------------------------------------


def _decimal_text(value: Fraction | Decimal | float, places: int = 4) -> str:
    quantum = Decimal(1).scaleb(-places)
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return str(Decimal(value).quantize(quantum))


def _mechanism_doc(mechanism, *, measure: str) -> dict[str, Any]:
    return {
        "measure": measure,
        "name": mechanism.name,
        "library": f"OpenDP {package_version('opendp')}",
        "scale": mechanism_text(mechanism.scale),
        "sensitivity": {"metric": "l1" if mechanism.name == "discrete_laplace" else "linf_monotonic", "value": int(mechanism.sensitivity)},
        "epsilon": epsilon_text(mechanism.epsilon),
        "epsilon_privacy_map": mechanism_text(mechanism.epsilon_used),
    }


def mechanism_text(value: float) -> str:
    return mechanisms.float_text(value)


def _split_epsilon(epsilon: Decimal) -> tuple[Decimal, Decimal]:
    half = (epsilon / 2).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return half, epsilon - half


def release_document(*, release: Release, plan: ReleasePlan, aggregate_values, snapshot_at) -> dict[str, Any]:
    """Noise the exact aggregate (the only random draws of a release, all OpenDP) and
    build the document that is signed. Integers stay integers; everything fractional is a
    decimal string."""
    purpose = plan.purpose
    cells_per_consumer = min(purpose.max_cells_per_consumer, plan.cell_count)
    labels = plan.cell_labels()
    document: dict[str, Any] = {
        "schema": DOCUMENT_SCHEMA,
        "release_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": purpose.code,
        "purpose_version": purpose.version,
        "period": release.period,
        "measure": plan.measure,
        "group_by": plan.group_by,
        "filters": plan.filters,
        "k": plan.k,
        "epsilon": epsilon_text(plan.epsilon),
        "privacy_unit": "one consumer, across all platforms",
        "contribution_bounds": {
            "max_cells": purpose.max_cells_per_consumer,
            "max_signals_per_cell": purpose.max_signals_per_cell,
            "value_bounds": [purpose.value_min, purpose.value_max] if plan.measure in ("sum_value", "mean_value") else None,
        },
        "snapshot_at": snapshot_at.isoformat(),
        "taxonomy_version": plan.taxonomy_version,
        "confidence": "0.95",
    }
    if plan.measure in ("consumers", "signals", "sum_value"):
        rows = cells_per_consumer * (1 if plan.measure == "consumers" else purpose.max_signals_per_cell)
        if plan.measure == "sum_value":
            sensitivity = mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max)
        else:
            sensitivity = mechanisms.count_sensitivity(rows_per_consumer=rows)
        mechanism = mechanisms.laplace_mechanism(sensitivity=sensitivity, epsilon=plan.epsilon)
        noisy = mechanism.release(aggregate_values.vector().tolist())
        half_width = mechanism.half_width
        document["mechanisms"] = [_mechanism_doc(mechanism, measure=plan.measure)]
        document["accuracy"] = {"half_width": half_width, "meaning": "each cell's released value is within half_width of its bounded true value with probability 0.95"}
        document["cells"] = [label | {"value": int(value), "half_width": half_width} for label, value in zip(labels, noisy)]
    elif plan.measure == "mean_value":
        rows = cells_per_consumer * purpose.max_signals_per_cell
        eps_sum, eps_count = _split_epsilon(plan.epsilon)
        sum_mech = mechanisms.laplace_mechanism(
            sensitivity=mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max), epsilon=eps_sum
        )
        count_mech = mechanisms.laplace_mechanism(sensitivity=mechanisms.count_sensitivity(rows_per_consumer=rows), epsilon=eps_count)
        noisy_sums = sum_mech.release(aggregate_values.sums.tolist())
        noisy_counts = count_mech.release(aggregate_values.counts.tolist())
        # Each of the two intervals at 97.5% -> both hold with probability >= 95%.
        alpha = (1 - mechanisms.CONFIDENCE) / 2
        sum_h, count_h = sum_mech.half_width_at(alpha), count_mech.half_width_at(alpha)
        low, high = Fraction(purpose.value_min), Fraction(purpose.value_max)
        cells = []
        for label, total, count in zip(labels, noisy_sums, noisy_counts):
            cells.append(label | _mean_cell(int(total), int(count), sum_h, count_h, low, high))
        document["mechanisms"] = [_mechanism_doc(sum_mech, measure="sum_value"), _mechanism_doc(count_mech, measure="signals")]
        document["accuracy"] = {
            "sum_half_width": sum_h,
            "count_half_width": count_h,
            "meaning": "mean = noisy sum / noisy count (post-processing, no extra ε), clamped to the value bounds; "
            "'interval' holds the bounded true mean with probability >= 0.95 (two 97.5% intervals)",
        }
        document["cells"] = cells
    else:  # top_k
        mechanism = mechanisms.top_k_mechanism(k=plan.k, candidates=plan.cell_count, epsilon=plan.epsilon)
        chosen = mechanism.release(aggregate_values.counts.tolist())
        document["mechanisms"] = [_mechanism_doc(mechanism, measure="top_k")]
        document["accuracy"] = {
            "score_gap": mechanism.score_gap,
            "meaning": "with probability 0.95, the r-th returned attribute has at least as many consumers as the r-th most popular one minus score_gap",
        }
        category = labels[0].get("category") if labels else None
        document["category"] = plan.filters.get("category", category)
        document["ranking"] = [{"rank": rank, "attribute": labels[index]["attribute"]} for rank, index in enumerate(chosen, start=1)]
    return document


def _mean_cell(total: int, count: int, sum_h: int, count_h: int, low: Fraction, high: Fraction) -> dict[str, Any]:
    def clamp(x: Fraction) -> Fraction:
        return min(max(x, low), high)

    value = _decimal_text(clamp(Fraction(total, count))) if count >= 1 else None
    count_low = count - count_h
    if count_low >= 1:
        corners = [Fraction(s, c) for s in (total - sum_h, total + sum_h) for c in (count_low, count + count_h)]
        interval = [_decimal_text(clamp(min(corners))), _decimal_text(clamp(max(corners)))]
    else:
        interval = [_decimal_text(low), _decimal_text(high)]
    return {"value": value, "sum": total, "count": count, "interval": interval}


# --- Upkeep -------------------------------------------------------------------------------


@dataclass
class SweepReport:
    resent: int = 0
    failed: int = 0


def release_sweep(*, now=None) -> SweepReport:
    """Beat: re-send queued releases whose task never reached a worker, and running ones
    whose worker died (lease expired); give up, with a refund, after too many attempts."""
    now = now or timezone.now()
    report = SweepReport()
    stale_queued = Q(status=Release.QUEUED, created_at__lt=now - timedelta(seconds=settings.CH_RELEASE_RESEND_SECONDS))
    expired = Q(status=Release.RUNNING, lease_until__lt=now)
    for release_id, attempts in Release.objects.filter(stale_queued | expired).values_list("id", "attempts"):
        if attempts >= settings.CH_RELEASE_MAX_ATTEMPTS:
            _release_close(release_id=release_id, status=Release.FAILED, code="too_many_attempts", message="The job was interrupted too often; nothing was spent.")
            report.failed += 1
            continue
        try:
            _publish(release_id)
        except BrokerUnavailable:
            logger.warning("release sweep: broker unavailable, will retry")
            break
        report.resent += 1
    return report

