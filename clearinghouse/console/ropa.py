"""The record of processing activities (GDPR Art. 30, PIPL Art. 51 and 55-56), generated
from the purpose registry, so that it always says what the system is configured to do."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.audit.chain import format_time
from clearinghouse.consent.models import Purpose

# What protects the data of every purpose; each line names where the code enforces it.
# The record is written in the reader's language (the console's): an officer files it with
# a Chinese regulator as readily as with a European one.
SECURITY_MEASURES = [
    _(
        "Pseudonymisation: platform subject references are kept only as HMAC-SHA-256 pseudonyms under a per-platform key derived from a master key held outside the database."
    ),
    _(
        "Consent gate at intake: a signal is accepted only for a consumer with an active consent for that purpose and platform; fields outside the purpose's list are refused."
    ),
    _("No cross-platform transfer: a platform can address only its own subjects; another platform's objects answer like missing ones."),
    _(
        "Aggregates only, with differential privacy (OpenDP): per-release, per-period and per-consumer ε caps; an individual privacy ledger excludes consumers who would pass their cap."
    ),
    _(
        "Retention: signals older than the purpose's retention period are purged daily; withdrawal erases the purpose's signals from that platform."
    ),
    _(
        "Signed records: consent receipts and release results are signed with Ed25519; keys are kept outside the database and rotated with their public halves published."
    ),
    _(
        "Accountability: an append-only, hash-chained audit log that is an RFC 6962 Merkle tree with signed checkpoints; the database refuses changes to it."
    ),
    _(
        "Access control: deny by default, one permission table; API keys stored only as hashes; compliance officers in a separate group; CSRF protection and a strict Content-Security-Policy in the portal; HTTPS-only cookies and HSTS in production."
    ),
]
DATA_SUBJECTS = _(
    "Consumers of connected e-commerce, live-stream and short-video platforms who consented to this purpose on that platform."
)
LAWFUL_BASIS_TEXT = {"consent": _("PIPL Art. 13(1)(1): the individual's consent; GDPR Art. 6(1)(a)")}
RECIPIENTS_RECEIVE = _("differentially private aggregate statistics only")
TRANSFERS = _(
    "None outside the People's Republic of China; recipients receive only differentially private aggregate statistics, never personal information."
)


def _overlap(first: str, second: str) -> bool:
    """Category paths overlap when one is the other or lies under it."""
    return first == second or first.startswith(second + "/") or second.startswith(first + "/")


def processing_records() -> dict[str, Any]:

    manufacturers = list(Manufacturer.objects.order_by("slug").values_list("slug", "sectors"))
    activities = []
    for purpose in Purpose.objects.order_by("code", "-version"):
        sectors = list(purpose.recipient_sectors)
        recipients = [
            slug for slug, allowed in manufacturers if any(_overlap(sector, own) for sector in sectors for own in (allowed or []))
        ]
        activities.append(
            {
                "purpose": purpose.code,
                "version": purpose.version,
                "status": purpose.status,
                "title": purpose.title,
                "description": purpose.legitimate_interest,
                "lawful_basis": {"code": purpose.lawful_basis, "reference": str(LAWFUL_BASIS_TEXT.get(purpose.lawful_basis, ""))},
                "data_subjects": str(DATA_SUBJECTS),
                "data_categories": list(purpose.fields),
                "release_dimensions": list(purpose.dimensions),
                "recipients": {
                    "sectors": sectors,
                    "registered_manufacturers": recipients,
                    "what_they_receive": str(RECIPIENTS_RECEIVE),
                },
                "retention_days": purpose.retention_days,
                "privacy_budget": {
                    "per_release_max_epsilon": str(purpose.max_epsilon_per_release),
                    "per_period_cap_epsilon": str(purpose.period_epsilon_cap),
                    "per_consumer_cap_epsilon_365_days": str(purpose.consumer_epsilon_cap),
                },
                "international_transfers": str(TRANSFERS),
                "security_measures": [str(measure) for measure in SECURITY_MEASURES],
                "impact_assessment": {
                    "summary": purpose.impact_assessment,
                    "approved_by": purpose.approved_by,
                    "approved_at": format_time(purpose.approved_at) if purpose.approved_at else None,
                },
                "retired_at": format_time(purpose.retired_at) if purpose.retired_at else None,
            }
        )
    return {
        "title": str(_("Record of processing activities")),
        "language": get_language(),
        "controller": dict(settings.CH_CONTROLLER),
        "generated_at": format_time(timezone.now()),
        "activities": activities,
    }


CSV_COLUMNS = [
    "purpose",
    "version",
    "status",
    "title_en",
    "title_zh",
    "lawful_basis",
    "data_subjects",
    "data_categories",
    "recipient_sectors",
    "registered_manufacturers",
    "retention_days",
    "per_release_max_epsilon",
    "per_period_cap_epsilon",
    "per_consumer_cap_epsilon",
    "international_transfers",
    "security_measures",
    "impact_assessment",
    "approved_by",
    "approved_at",
    "retired_at",
]


def processing_records_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in document["activities"]:
        writer.writerow(
            [
                item["purpose"],
                item["version"],
                item["status"],
                item["title"].get("en", ""),
                item["title"].get("zh-hans", ""),
                item["lawful_basis"]["reference"],
                item["data_subjects"],
                "; ".join(item["data_categories"]),
                "; ".join(item["recipients"]["sectors"]),
                "; ".join(item["recipients"]["registered_manufacturers"]),
                item["retention_days"],
                item["privacy_budget"]["per_release_max_epsilon"],
                item["privacy_budget"]["per_period_cap_epsilon"],
                item["privacy_budget"]["per_consumer_cap_epsilon_365_days"],
                item["international_transfers"],
                " | ".join(item["security_measures"]),
                item["impact_assessment"]["summary"],
                item["impact_assessment"]["approved_by"],
                item["impact_assessment"]["approved_at"] or "",
                item["retired_at"] or "",
            ]
        )
    return out.getvalue()
