"""Compliance reports, computed from the audit log and the purpose registry only.

They rely on the action names and details every part of the system agreed to write
(docs/architecture.md), not on the intake or release engines' tables, so a report shows
exactly what the tamper-evident log can prove.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, IntegerField, Sum
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import get_language

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.selectors import filter_zone
from clearinghouse.consent.models import Purpose
from clearinghouse.core.errors import Invalid
from clearinghouse.intake.validation import ITEM_CODES as INTAKE_ITEM_CODES
from clearinghouse.releases.selectors import releases_by_ids
from clearinghouse.releases.wording import job_describe

MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class ReportPeriod:
    since: date
    until: date  # inclusive
    bucket: str  # day, week or month

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=_zone())

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=_zone())

    def labels(self) -> list[date]:
        keys, current = [], _bucket_start(self.since, self.bucket)
        while current <= self.until:
            keys.append(current)
            current = _next_bucket(current, self.bucket)
        return keys

    def presets(self) -> list[tuple[str, str, str]]:
        """(name, since, until) of the quick ranges offered above a chart, ending today."""
        today = timezone.localdate()
        return [
            (name, (today - timedelta(days=days - 1)).isoformat(), today.isoformat())
            for name, days in (("7d", 7), ("30d", 30), ("90d", 90), ("12m", 365), ("3y", 3 * 365))
        ]

    def label_text(self, key: date) -> str:
        if self.bucket == "month":
            return key.strftime("%Y-%m")
        # Short labels on the chart; the year is in the period shown above it.
        return key.strftime("%m-%d") if self.since.year == self.until.year else key.isoformat()


def _zone() -> ZoneInfo:
    # The audit browser and the API read dates in the same zone (selectors.filter_zone).

    return filter_zone()


def _bucket_start(day: date, bucket: str) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _next_bucket(day: date, bucket: str) -> date:
    if bucket == "week":
        return day + timedelta(days=7)
    if bucket == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def report_period_parse(params) -> ReportPeriod:
    """?since=&until= (dates, inclusive); default the last 90 days. Buckets of a day up to
    62 days, a week up to a year, a month beyond."""
    today = timezone.localdate()

    def read(name: str, default: date) -> date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = parse_date(raw)
        except ValueError:
            value = None
        if value is None:
            raise Invalid(f"{name}: expected a date such as 2026-01-31", details={"field": name})
        return value

    until = read("until", today)
    since = read("since", until - timedelta(days=89))
    if since > until:
        raise Invalid("until: must not be before since", details={"field": "until"})
    if (until - since).days > MAX_DAYS:
        raise Invalid(f"since: a report covers at most {MAX_DAYS} days", details={"field": "since"})
    span = (until - since).days + 1
    # At most about 60 bars or points whatever the range, each wide enough to see and point at.
    bucket = "day" if span <= 62 else "week" if span <= 366 else "month"
    return ReportPeriod(since=since, until=until, bucket=bucket)


def _trunc(bucket: str):
    return {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}[bucket]("time", tzinfo=_zone())


def _events(period: ReportPeriod, actions):
    return AuditEvent.objects.filter(seq__isnull=False, action__in=list(actions), time__gte=period.start, time__lt=period.end)


def _key(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def epsilon_text(value: Decimal | None) -> str:
    """ε as people write it: 0.5, 3, 19.5 (no trailing zeros, never exponent notation)."""
    if value is None:
        return "—"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _decimal(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _purpose_of(target: str) -> str:
    """``purpose:<code>@platform:<slug>`` or ``purpose:<code>@<version>`` -> code."""
    if not target.startswith("purpose:"):
        return "?"
    return target[len("purpose:") :].split("@", 1)[0]


@dataclass
class Chartable:
    labels: list[str]
    series: dict[str, list[float]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


def _series_from(period: ReportPeriod, counts: dict[tuple[str, date], float], names: list[str]) -> Chartable:
    keys = period.labels()
    return Chartable(
        labels=[period.label_text(key) for key in keys],
        series={name: [counts.get((name, key), 0) for key in keys] for name in names},
    )


# --- 1. Consent grants, withdrawals and expiries per purpose -----------------------------------

CONSENT_SERIES = {
    AuditAction.CONSENT_GRANTED: "granted",
    AuditAction.CONSENT_WITHDRAWN: "withdrawn",
    # The service ended the consent: its purpose version lapsed (replaced by one that needs
    # new consent) or was retired. Neither the person's grant nor their withdrawal.
    AuditAction.CONSENT_EXPIRED: "expired",
}
# consent.expired's details.reason (consent.models.ConsentEvent), for the totals.
EXPIRY_REASONS = {"purpose_superseded": "lapsed", "purpose_retired": "retired"}


def consent_report(*, period: ReportPeriod) -> dict[str, Chartable]:
    """Per purpose: grants, withdrawals and consents the service ended, per bucket;
    ``totals`` counts each, and the ended ones by why (``lapsed``, ``retired``)."""
    grouped = (
        _events(period, list(CONSENT_SERIES))
        .annotate(bucket=_trunc(period.bucket), reason=KeyTextTransform("reason", "details"))
        .values("bucket", "action", "target", "reason")
        .annotate(n=Count("id"))
    )
    per_purpose: dict[str, dict[tuple[str, date], float]] = defaultdict(lambda: defaultdict(float))
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EXPIRY_REASONS.values(), 0))
    for row in grouped:
        name = CONSENT_SERIES[AuditAction(row["action"])]
        code = _purpose_of(row["target"])
        per_purpose[code][(name, _key(row["bucket"]))] += row["n"]
        if name == "expired":
            reason = EXPIRY_REASONS.get(row["reason"] or "", "other")
            reasons[code][reason] = reasons[code].get(reason, 0) + row["n"]
    reports = {}
    for code in sorted(per_purpose):
        chart = _series_from(period, per_purpose[code], list(CONSENT_SERIES.values()))
        chart.totals = {name: int(sum(values)) for name, values in chart.series.items()} | dict(reasons[code])
        reports[code] = chart
    return reports


# --- 2. Releases register ----------------------------------------------------------------------


def releases_register(*, period: ReportPeriod, limit: int = 1000) -> Chartable:
    events = _events(period, [AuditAction.RELEASE_COMPLETED]).order_by("-seq")
    rows: list[dict[str, Any]] = []
    epsilon: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    purposes: set[str] = set()
    for event in events.iterator(chunk_size=2000):
        details = event.details
        purpose = str(details.get("purpose", "?"))
        purposes.add(purpose)
        bucket = _bucket_start(timezone.localtime(event.time).date(), period.bucket)
        epsilon[(purpose, bucket)] += _decimal(details.get("epsilon"))
        if len(rows) < limit:
            rows.append(
                {
                    "seq": event.seq,
                    "time": event.time,
                    "release": details.get("release_id", event.target),
                    "manufacturer": details.get("manufacturer", ""),
                    "purpose": purpose,
                    "measure": details.get("measure", ""),
                    "epsilon": details.get("epsilon", ""),
                }
            )
    chart = _series_from(period, {key: float(value) for key, value in epsilon.items()}, sorted(purposes))
    # What each job asked, in the words people read on their own privacy-loss page.
    language = "en" if (get_language() or "").startswith("en") else "zh-hans"
    jobs = releases_by_ids(ids=[row["release"] for row in rows])
    for row in rows:
        job = jobs.get(str(row["release"]))
        row["description"] = job_describe(release=job, language=language) if job is not None else ""
    chart.rows = rows
    chart.totals = {
        "releases": events.count(),
        "epsilon": {name: str(sum((v for (p, _), v in epsilon.items() if p == name), Decimal(0))) for name in sorted(purposes)},
    }
    return chart


# --- 3. Budget ledger per purpose and period ------------------------------------------------------


def budget_ledger() -> Chartable:
    """Per (purpose, budget period): the global cap from the registry, what was allocated to
    manufacturers (the latest allocation of each), reserved, refunded and spent."""

    caps = dict(Purpose.objects.filter(status=Purpose.APPROVED).values_list("code", "period_epsilon_cap"))
    allocations: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    reserved: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    refunded: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    releases: dict[tuple[str, str], int] = defaultdict(int)
    events = AuditEvent.objects.filter(
        seq__isnull=False,
        action__in=[AuditAction.BUDGET_ALLOCATED, AuditAction.BUDGET_ROLLED_OVER, AuditAction.BUDGET_RESERVED, AuditAction.BUDGET_REFUNDED],
    ).order_by("seq")
    for action, details in events.values_list("action", "details").iterator(chunk_size=5000):
        key = (str(details.get("purpose", "?")), str(details.get("period", "?")))
        amount = _decimal(details.get("epsilon"))
        if action in (AuditAction.BUDGET_ALLOCATED, AuditAction.BUDGET_ROLLED_OVER):
            allocations[key][str(details.get("manufacturer", "?"))] = amount
        elif action == AuditAction.BUDGET_RESERVED:
            reserved[key] += amount
            releases[key] += 1
        else:
            refunded[key] += amount
    keys = sorted(set(allocations) | set(reserved) | set(refunded), key=lambda item: (item[0], item[1]))
    rows: list[dict[str, Any]] = []
    for purpose, budget_period in keys:
        allocated = sum(allocations[(purpose, budget_period)].values(), Decimal(0))
        spent = reserved[(purpose, budget_period)] - refunded[(purpose, budget_period)]
        cap = caps.get(purpose)
        rows.append(
            {
                "purpose": purpose,
                "period": budget_period,
                "cap": cap,
                "allocated": allocated,
                "manufacturers": len(allocations[(purpose, budget_period)]),
                "reserved": reserved[(purpose, budget_period)],
                "refunded": refunded[(purpose, budget_period)],
                "spent": spent,
                "remaining": (cap - spent) if cap is not None else None,
                "releases": releases[(purpose, budget_period)],
                # All manufacturers together may spend more than the purpose allows: the cap
                # still binds at release time, so someone's allocation cannot all be used.
                "over_allocated": cap is not None and allocated > cap,
            }
        )
        rows[-1]["text"] = {
            name: epsilon_text(rows[-1][name]) for name in ("cap", "allocated", "reserved", "refunded", "spent", "remaining")
        }
    labels = [f"{row['purpose']} {row['period']}" for row in rows]
    series = {
        "cap": [float(row["cap"] or 0) for row in rows],
        "allocated": [float(row["allocated"]) for row in rows],
        "spent": [float(row["spent"]) for row in rows],
    }
    return Chartable(labels=labels, series=series, rows=rows, totals={"over_allocated": sum(1 for row in rows if row["over_allocated"])})


# --- 4. Refused and blocked attempts ---------------------------------------------------------------

# Families of refusal, one line each on the chart; the table breaks each down by code.
REFUSAL_FAMILIES = (
    "intake",
    "cross_access",
    "release",
    "consent",
    "link",
    "login",
    "passkey",
    "token",
    "signup",
    "recovery",
    "access",
    "lockout",
)
# Codes every family can write, listed even at zero so that "none" is visible as such. A
# code the log holds that is not listed here is counted too (it appears in the table).
KNOWN_REFUSAL_CODES = {
    "intake": (*INTAKE_ITEM_CODES, "batch_refused"),
    "cross_access": ("cross_access_blocked",),
    "release": ("budget_exhausted",),
    "consent": ("notice_changed", "purpose_not_approved"),
    "link": ("unknown_code", "code_used", "code_expired", "subject_already_linked"),
    "login": ("invalid_credentials", "throttled"),
    "passkey": (),
    "token": ("invalid_credentials", "throttled"),
    "signup": ("username_taken",),
    "recovery": ("invalid_code", "throttled"),
    "access": (),
    "lockout": ("username", "address"),
}
# action -> (family, the details key holding its code)
_REFUSAL_ACTIONS = {
    AuditAction.RELEASE_REFUSED: ("release", "code"),
    AuditAction.CONSENT_REFUSED: ("consent", "code"),
    AuditAction.LINK_REFUSED: ("link", "reason"),
    AuditAction.AUTH_LOGIN_REFUSED: ("login", "reason"),
    AuditAction.AUTH_PASSKEY_REFUSED: ("passkey", "reason"),
    AuditAction.AUTH_TOKEN_REFUSED: ("token", "reason"),
    AuditAction.SIGNUP_REFUSED: ("signup", "reason"),
    # A recovery code or a password change refused: both are attempts on an account.
    AuditAction.AUTH_RECOVERY_REFUSED: ("recovery", "reason"),
    AuditAction.AUTH_PASSWORD_CHANGE_REFUSED: ("recovery", "reason"),
    # 401, 403, CSRF and cross-party 404s (audit.denials), by reason.
    AuditAction.ACCESS_DENIED: ("access", "reason"),
    # A username or an address locked out after repeated failures, by scope.
    AuditAction.AUTH_LOCKED: ("lockout", "scope"),
}


def refusals_report(*, period: ReportPeriod) -> Chartable:
    """Every refusal the log records: items refused at intake by code (and whole batches
    refused), cross-platform access blocked, releases, consent changes and link codes
    refused, portal logins, passkeys and API tokens refused, sign-ups, recovery codes and
    password changes refused, requests denied (401, 403, CSRF) and lockouts. ``totals`` maps family to {code: n};
    ``rows`` lists (family, code, n) with every known code, zeros included."""
    counts: dict[tuple[str, date], float] = defaultdict(float)
    by_code: dict[str, dict[str, int]] = {family: dict.fromkeys(KNOWN_REFUSAL_CODES[family], 0) for family in REFUSAL_FAMILIES}

    def add(family: str, code: str, bucket: date, n: int) -> None:
        counts[(family, bucket)] += n
        by_code[family][code] = by_code[family].get(code, 0) + n

    rejected = KeyTransform("rejected", "details")
    intake = (
        _events(period, [AuditAction.INTAKE_BATCH])
        .annotate(bucket=_trunc(period.bucket))
        .values("bucket")
        .annotate(**{code: Sum(Cast(KeyTextTransform(code, rejected), IntegerField())) for code in INTAKE_ITEM_CODES})
    )
    for row in intake:
        for code in INTAKE_ITEM_CODES:
            if row[code]:
                add("intake", code, _key(row["bucket"]), row[code])
    batches = (
        _events(period, [AuditAction.INTAKE_BATCH])
        .filter(outcome="denied")
        .annotate(bucket=_trunc(period.bucket))
        .values("bucket")
        .annotate(n=Count("id"))
    )
    for row in batches:
        add("intake", "batch_refused", _key(row["bucket"]), row["n"])
    blocked = (
        _events(period, [AuditAction.PLATFORM_CROSS_ACCESS_BLOCKED])
        .annotate(bucket=_trunc(period.bucket))
        .values("bucket")
        .annotate(n=Count("id"))
    )
    for row in blocked:
        add("cross_access", "cross_access_blocked", _key(row["bucket"]), row["n"])
    for action, (family, key) in _REFUSAL_ACTIONS.items():
        grouped = (
            _events(period, [action])
            .annotate(bucket=_trunc(period.bucket), code=KeyTextTransform(key, "details"))
            .values("bucket", "code")
            .annotate(n=Count("id"))
        )
        for row in grouped:
            add(family, row["code"] or "unknown", _key(row["bucket"]), row["n"])
    chart = _series_from(period, counts, list(REFUSAL_FAMILIES))
    chart.totals = by_code
    chart.rows = [{"family": family, "code": code, "count": n} for family in REFUSAL_FAMILIES for code, n in by_code[family].items()]
    return chart


# --- 5. Retention purges and erasures ----------------------------------------------------------------


def retention_report(*, period: ReportPeriod, limit: int = 500) -> Chartable:
    counts: dict[tuple[str, date], float] = defaultdict(float)
    rows: list[dict[str, Any]] = []
    events = _events(period, [AuditAction.RETENTION_PURGED, AuditAction.ERASURE_COMPLETED]).order_by("-seq")
    for event in events.iterator(chunk_size=2000):
        details = event.details
        if event.action == AuditAction.RETENTION_PURGED:
            kind = "retention"
        else:
            kind = "erasure_withdrawal" if details.get("reason") == "withdrawal" else "erasure_account"
        bucket = _bucket_start(timezone.localtime(event.time).date(), period.bucket)
        signals = details.get("signals") if isinstance(details.get("signals"), int) else 0
        counts[(kind, bucket)] += signals
        if len(rows) < limit:
            rows.append({"seq": event.seq, "time": event.time, "kind": kind, "purpose": details.get("purpose", ""), "signals": signals})
    chart = _series_from(period, counts, ["retention", "erasure_withdrawal", "erasure_account"])
    chart.rows = rows
    chart.totals = {name: int(sum(values)) for name, values in chart.series.items()}
    return chart


# --- 6. Data-subject requests ---------------------------------------------------------------------------


def subject_requests_report(*, period: ReportPeriod, limit: int = 500) -> Chartable:
    """Exports and erasures with their completion times. An export or an account deletion
    completes in the request itself; an erasure after a withdrawal is a background job whose
    latency the intake engine records (``latency_ms``)."""
    counts: dict[tuple[str, date], float] = defaultdict(float)
    latencies: list[int] = []
    rows: list[dict[str, Any]] = []
    events = _events(period, [AuditAction.EXPORT_COMPLETED, AuditAction.CONSUMER_ERASED, AuditAction.ERASURE_COMPLETED]).order_by("-seq")
    for event in events.iterator(chunk_size=2000):
        details = event.details
        latency: int | None
        if event.action == AuditAction.EXPORT_COMPLETED:
            kind, latency = "export", 0
        elif event.action == AuditAction.CONSUMER_ERASED:
            kind, latency = "account_erasure", 0
        elif details.get("reason") == "withdrawal":
            kind, latency = "withdrawal_erasure", details.get("latency_ms") if isinstance(details.get("latency_ms"), int) else None
        else:
            continue  # the signal deletion of an account erasure, counted as consumer.erased
        bucket = _bucket_start(timezone.localtime(event.time).date(), period.bucket)
        counts[(kind, bucket)] += 1
        if latency is not None and kind == "withdrawal_erasure":
            latencies.append(latency)
        if len(rows) < limit:
            subject = details.get("subject") or event.target.removeprefix("consumer:") or event.actor_id
            rows.append({"seq": event.seq, "time": event.time, "kind": kind, "subject": subject, "latency_ms": latency})
    chart = _series_from(period, counts, ["export", "account_erasure", "withdrawal_erasure"])
    chart.rows = rows
    latencies.sort()
    chart.totals = {name: int(sum(values)) for name, values in chart.series.items()} | {
        "latency_median_ms": latencies[len(latencies) // 2] if latencies else None,
        "latency_max_ms": latencies[-1] if latencies else None,
    }
    return chart
