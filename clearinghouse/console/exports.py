"""Every compliance report as a table (CSV) and as a signed JSON document.

The signed document is an envelope ``{"payload", "signature", "key_id", "alg"}`` like a
release: Ed25519 over the canonical JSON of the payload with the published ``reports``
key (GET /api/v1/keys); tools/verify_report.py checks it offline. The payload names the
log it was computed from (its size and the latest signed checkpoint), so an auditor can
tie the figures to a verifiable state of the log.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from clearinghouse.audit import selectors as audit_selectors
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.console import reports
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import signer_get

SCHEMA = "clearinghouse-report/1"
SLUGS = ("consent", "releases", "budget", "refusals", "retention", "requests")


def _cell(value: Any) -> Any:
    """Values as canonical JSON accepts them: no floats (decimal strings instead)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return reports.epsilon_text(value)
    if isinstance(value, float):
        return reports.epsilon_text(Decimal(repr(value)))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _cell(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cell(item) for item in value]
    return str(value)


def _series_table(chart: reports.Chartable) -> tuple[list[str], list[list[Any]]]:
    names = list(chart.series)
    return ["bucket", *names], [[label, *(chart.series[name][i] for name in names)] for i, label in enumerate(chart.labels)]


def report_table(*, slug: str, period: reports.ReportPeriod) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """(columns, rows, extra) of one report. Columns are stable codes, not translated, so
    that a spreadsheet or script reads every export the same way."""
    if slug == "consent":
        names = list(reports.CONSENT_SERIES.values())
        columns, rows = ["purpose", "bucket", *names], []
        totals = {}
        for code, chart in reports.consent_report(period=period).items():
            rows += [[code, label, *(chart.series[name][i] for name in names)] for i, label in enumerate(chart.labels)]
            totals[code] = chart.totals
        return columns, rows, {"totals": totals}
    if slug == "releases":
        chart = reports.releases_register(period=period)
        columns = ["seq", "time", "release", "manufacturer", "purpose", "measure", "epsilon"]
        return columns, [[row[name] for name in columns] for row in chart.rows], {"totals": chart.totals}
    if slug == "budget":
        chart = reports.budget_ledger()
        columns = [
            "purpose",
            "period",
            "cap",
            "allocated",
            "over_allocated",
            "manufacturers",
            "reserved",
            "refunded",
            "spent",
            "remaining",
            "releases",
        ]
        return columns, [[row[name] for name in columns] for row in chart.rows], {"totals": chart.totals}
    if slug == "refusals":
        chart = reports.refusals_report(period=period)
        series_columns, series_rows = _series_table(chart)
        return (
            ["kind", "code", "count"],
            [[row["family"], row["code"], row["count"]] for row in chart.rows],
            {"series": {"columns": series_columns, "rows": series_rows}},
        )
    if slug == "retention":
        chart = reports.retention_report(period=period)
        columns = ["seq", "time", "kind", "purpose", "signals"]
        return columns, [[row[name] for name in columns] for row in chart.rows], {"totals": chart.totals}
    if slug == "requests":
        chart = reports.subject_requests_report(period=period)
        columns = ["seq", "time", "kind", "subject", "latency_ms"]
        return columns, [[row[name] for name in columns] for row in chart.rows], {"totals": chart.totals}
    raise ValueError(f"unknown report {slug!r}")


def report_csv(*, slug: str, period: reports.ReportPeriod) -> str:
    columns, rows, _extra = report_table(slug=slug, period=period)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else _cell(value) for value in row])
    return buffer.getvalue()


def report_export_json(*, slug: str, period: reports.ReportPeriod, actor: Actor) -> dict[str, Any]:
    """The signed envelope of one report; the export is recorded in the audit log."""
    columns, rows, extra = report_table(slug=slug, period=period)
    checkpoint = audit_selectors.audit_checkpoint_latest()
    payload = {
        "schema": SCHEMA,
        "report": slug,
        "period": None
        if slug == "budget"
        else {"since": period.since.isoformat(), "until": period.until.isoformat(), "bucket": period.bucket},
        "time_zone": str(reports.filter_zone()),
        "generated_at": timezone.now().isoformat(),
        "generated_by": actor.id,
        "log": {
            "tree_size": audit_selectors.tree_size_of_log(),
            "checkpoint": {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash} if checkpoint else None,
        },
        "columns": columns,
        "rows": _cell(rows),
        **_cell(extra),
    }
    audit_record(
        actor=actor,
        action=AuditAction.REPORT_EXPORTED,
        target=f"report:{slug}",
        details={"format": "signed_json", "period": payload["period"], "rows": len(rows)},
    )
    return signer_get("reports").envelope(payload)


def report_export_csv(*, slug: str, period: reports.ReportPeriod, actor: Actor) -> str:
    text = report_csv(slug=slug, period=period)
    audit_record(
        actor=actor,
        action=AuditAction.REPORT_EXPORTED,
        target=f"report:{slug}",
        details={
            "format": "csv",
            "period": None if slug == "budget" else {"since": period.since.isoformat(), "until": period.until.isoformat()},
        },
    )
    return text
