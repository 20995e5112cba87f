"""Releases, the budgets they draw on, and the individual privacy ledger.

Every epsilon is a Decimal with four places (the unit is 0.0001 ε); nothing about a
budget is ever a float.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TypedDict

from django.db import models
from django.db.models import F, Q

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


# A TypedDict, not a plain dict, so the checker can match ``**EPSILON`` to DecimalField's keywords.
EPSILON: _Digits = {"max_digits": 10, "decimal_places": 4}


class PurposeBudget(models.Model):
    """The ε cap of one purpose in one period, for all manufacturers together."""

    purpose_code = models.SlugField(max_length=64)
    period = models.CharField(max_length=7)  # calendar month "YYYY-MM" in settings.TIME_ZONE
    cap = models.DecimalField(**EPSILON)
    spent = models.DecimalField(default=0, **EPSILON)  # reserved by queued/running releases plus spent by done ones
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purpose_code", "period"], name="purpose_budget_unique"),
            # The last line of defence under concurrency: the conditional UPDATE is the first.
            models.CheckConstraint(name="purpose_budget_within_cap", condition=Q(spent__gte=0) & Q(spent__lte=F("cap"))),
        ]

    def __str__(self) -> str:
        return f"{self.purpose_code} {self.period}: {self.spent}/{self.cap}"


class Allocation(models.Model):
    """One manufacturer's share of a purpose's ε in one period."""

    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.PROTECT, related_name="allocations")
    purpose_code = models.SlugField(max_length=64)
    period = models.CharField(max_length=7)
    allocated = models.DecimalField(**EPSILON)
    spent = models.DecimalField(default=0, **EPSILON)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["manufacturer", "purpose_code", "period"], name="allocation_unique"),
            models.CheckConstraint(name="allocation_within_allocated", condition=Q(spent__gte=0) & Q(spent__lte=F("allocated"))),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer_id} {self.purpose_code} {self.period}: {self.spent}/{self.allocated}"


class Release(models.Model):
    """A manufacturer's request for one DP aggregate, and once done its signed result."""

    QUEUED, RUNNING, DONE, FAILED, REFUSED = "queued", "running", "done", "failed", "refused"
    # One ledger, one budget and one lifecycle for every kind of job: a report (several
    # marginals answered together) and a trend (a weekly series) are releases too.
    RELEASE, REPORT, TREND = "release", "report", "trend"
    KINDS = [(k, k) for k in (RELEASE, REPORT, TREND)]
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, REFUSED)]
    # A release in one of these holds its reservation; a repeat of it spends nothing.
    LIVE = (QUEUED, RUNNING, DONE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.PROTECT, related_name="releases")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")  # the version queried
    purpose_code = models.SlugField(max_length=64)
    period = models.CharField(max_length=7)
    kind = models.CharField(max_length=8, choices=KINDS, default=RELEASE)
    measure = models.CharField(max_length=16)
    group_by = models.JSONField(default=list)
    filters = models.JSONField(default=dict)  # normalised: only the filters given, in canonical form
    k = models.PositiveIntegerField(null=True, blank=True)
    epsilon = models.DecimalField(**EPSILON)
    # Zero for a pure ε-DP release (Laplace, exponential); for a Gaussian one its zCDP ρ,
    # rounded up to 1e-8, and ``epsilon`` is then what ρ states at the one δ (accounting.py).
    rho = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    # A pure answer sized to the share of the person cap its Gaussian rival would take
    # (document.mechanism_choose): the ε each person is charged, less than ``epsilon``,
    # which is what budgets are charged. Null: people are charged ``epsilon`` (or ``rho``).
    person_epsilon = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    spec = models.JSONField(default=dict, blank=True)  # a report's marginals, a trend's series: the normalised request
    request_digest = models.CharField(max_length=64)  # SHA-256 of the canonical request, for repeats
    status = models.CharField(max_length=8, choices=STATUSES, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)  # signed envelope {payload, signature, key_id, alg}
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two identical requests racing each other: the second insert fails and is
            # answered with the first release, so a repeat can never spend twice.
            models.UniqueConstraint(
                fields=["manufacturer", "request_digest", "period"],
                condition=Q(status__in=["queued", "running", "done"]),
                name="release_one_live_per_request",
            ),
        ]
        indexes = [
            models.Index(fields=["manufacturer", "created_at"], name="release_manufacturer_created"),
            models.Index(fields=["status", "created_at"], name="release_status_created"),
            models.Index(fields=["purpose_code", "status", "completed_at"], name="release_purpose_completed"),
        ]

    def __str__(self) -> str:
        return f"release {self.id} {self.measure} {self.status}"

    @property
    def person_charge_epsilon(self) -> Decimal:
        """The ε of one person's charge (pure answers; a Gaussian one is charged ``rho``)."""
        return self.person_epsilon if self.person_epsilon is not None else self.epsilon


class ChargeChunk(models.Model):
    """The individual privacy ledger, stored as bitmaps.

    Bit ``i`` of ``bits`` (little-endian within each byte) set in chunk ``c`` of release
    ``r`` means: consumer id ``c * CHUNK_BITS + i`` was charged ``r.epsilon`` at
    ``r.completed_at``. A release over a million consumers writes a few dozen 8 KiB rows
    instead of a million ledger rows, which is what keeps the charge within the job's
    time budget; rows are written in the same transaction as the noisy result.

    A ``reach_only`` bitmap holds the consumers the individual filter left out of the
    release whom its reach count still counted (releases/reach.py): each was charged only
    the release's reach share, not ``r.epsilon``.
    """

    CHUNK_BITS = 65536

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="charge_chunks", db_index=False)
    chunk = models.IntegerField()
    bits = models.BinaryField()
    reach_only = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "chunk", "reach_only"], name="charge_chunk_unique")]
        indexes = [models.Index(fields=["chunk", "release"], name="charge_chunk_by_chunk")]
