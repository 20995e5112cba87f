"""What the portal's pages show, read for one person: the home grid, "my data" and its
timeline. Views only hand these to templates; the decisions live here and below."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from clearinghouse.accounts import selectors as account_selectors
from clearinghouse.accounts.models import Consumer, Platform
from clearinghouse.consent import selectors as consent_selectors
from clearinghouse.consent.models import ConsentEvent, Purpose
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.errors import Invalid
from clearinghouse.intake import selectors as intake_selectors
from clearinghouse.portal import presentation as words
from clearinghouse.releases import selectors as releases_selectors
from clearinghouse.releases import wording
from clearinghouse.releases.selectors import releases_by_ids

# --- The home grid: purposes × platforms ----------------------------------------------------

# The state of one consent as a person reads it.
GRANTED, WITHDRAWN, STOPPED, RENEW, NOT_ASKED = "granted", "withdrawn", "stopped", "renew", "not-asked"


@dataclass(frozen=True)
class GridCell:
    platform: Platform
    state: str  # one of GRANTED, WITHDRAWN, STOPPED, RENEW, NOT_ASKED
    active: bool  # granted for the purpose's current version: the platform may send data
    linked: bool
    since: datetime | None
    version: int | None  # the version last answered, if any
    can_allow: bool
    can_withdraw: bool


@dataclass(frozen=True)
class GridRow:
    purpose: Purpose
    anchor: str
    title: str
    notice: list[str]
    notice_digest: str
    legitimate_interest: str
    fields: list[str]
    value_meaning: str
    sectors: str
    retention_days: int
    epsilon_cap: str
    cells: list[GridCell]
    previous: Purpose | None  # the older version this person had agreed to, if a new one replaced it
    changes: list[words.Change] = field(default_factory=list)


@dataclass(frozen=True)
class HomeGrid:
    platforms: list[Platform]  # the columns: linked platforms and any with a consent on record
    rows: list[GridRow]
    unlinked: list[Platform]  # platforms with nothing on record and no link: offered on the platforms page
    any_linked: bool
    granted_count: int  # consents still given (what "withdraw everything" ends)
    stopped: list[dict]


def _cell_state(row: dict) -> str:
    if row["active"]:
        return GRANTED
    if row["needs_renewal"]:
        return RENEW
    if row["ended_because"]:
        return STOPPED
    if row["updated_at"] is None:
        return NOT_ASKED
    return WITHDRAWN


def home_grid(*, consumer: Consumer, language: str) -> HomeGrid:
    """The one-screen home: every approved purpose against every platform the person is
    linked to (or once answered for, so that a consent given before unlinking can still
    be withdrawn), each consent's state and the action it allows."""
    linked_ids = {link.platform_id for link in account_selectors.consumer_links_list(consumer=consumer)}
    overview = consent_selectors.consent_overview(consumer=consumer)
    shown: dict[int, Platform] = {}
    for item in overview:
        for row in item["platforms"]:
            if row["platform"].id in linked_ids or row["updated_at"] is not None:
                shown[row["platform"].id] = row["platform"]
    columns = sorted(shown.values(), key=lambda platform: platform.name)
    unlinked = sorted(
        {row["platform"].id: row["platform"] for item in overview for row in item["platforms"] if row["platform"].id not in shown}.values(),
        key=lambda platform: platform.name,
    )
    rows = []
    for item in overview:
        purpose: Purpose = item["purpose"]
        by_platform = {row["platform"].id: row for row in item["platforms"]}
        cells = []
        for platform in columns:
            row = by_platform[platform.id]
            state = _cell_state(row)
            linked = platform.id in linked_ids
            cells.append(
                GridCell(
                    platform=platform,
                    state=state,
                    active=row["active"],
                    linked=linked,
                    since=row["updated_at"],
                    version=row["version"],
                    # Allowing needs a link (the platform must know who you are there);
                    # withdrawing never needs anything.
                    can_allow=not row["active"] and (linked or row["updated_at"] is not None),
                    can_withdraw=row["active"] or row["granted"],
                )
            )
        older = [row["version"] for row in item["platforms"] if row["platform"].id in shown and row["version"] is not None]
        older = [version for version in older if version < purpose.version]
        previous = consent_selectors.purpose_version_get(code=purpose.code, version=max(older)) if older else None
        rows.append(
            GridRow(
                purpose=purpose,
                anchor=f"purpose-{purpose.code}",
                title=words.in_language(purpose.title, language),
                notice=words.paragraphs(words.in_language(purpose.notice, language)),
                notice_digest=purpose.notice_digests[language],
                legitimate_interest=words.in_language(purpose.legitimate_interest, language),
                fields=[words.field_label(code) for code in purpose.fields],
                value_meaning=words.in_language(purpose.value_meaning, language),
                sectors=words.word_list([words.sector_label(code) for code in purpose.recipient_sectors]),
                retention_days=purpose.retention_days,
                epsilon_cap=words.epsilon_text(purpose.consumer_epsilon_cap),
                cells=cells,
                previous=previous,
                changes=words.purpose_changes(previous, purpose, language) if previous else [],
            )
        )
    stopped = [
        {
            "state": state,
            "title": words.in_language(state.last_event.purpose.title, language),
            "retired": state.last_event.reason == ConsentEvent.PURPOSE_RETIRED,
            "by_version": (state.last_event.receipt["payload"].get("ended_because") or {}).get("by_version"),
        }
        for state in consent_selectors.consents_stopped_list(consumer=consumer)
    ]
    return HomeGrid(
        platforms=columns,
        rows=rows,
        unlinked=unlinked,
        any_linked=bool(linked_ids),
        granted_count=sum(1 for state in consent_selectors.consent_states_list(consumer=consumer) if state.granted),
        stopped=stopped,
    )


# --- Charges, "my data" and the timeline --------------------------------------------------


def charge_descriptions(*, release_ids: list[str], language: str) -> dict[str, str]:
    """Each charged job in plain words (releases.wording), by release id."""
    return {rid: wording.job_describe(release=release, language=language) for rid, release in releases_by_ids(ids=release_ids).items()}


def _term(index, term_id: int | None, language: str) -> str:
    if index is None or term_id is None:
        return ""
    return words.in_language(index.labels.get(term_id), language)


def _taxonomy():
    try:
        return taxonomy_index()
    except Invalid:
        return None


@dataclass(frozen=True)
class Holding:
    platform: Platform
    purpose_title: str
    purpose_version: int
    count: int
    latest_what: str  # the latest signal in words: "Office chairs · Lumbar support · Wishlisted"
    latest_at: datetime
    first_deletion: datetime
    last_deletion: datetime
    retention_days: int


def my_data_holdings(*, consumer: Consumer, language: str) -> list[Holding]:
    """Per platform and purpose: how many signals are held, the latest one and when they
    will be deleted (each one its purpose's retention period after it happened)."""
    index = _taxonomy()
    rows = []
    for row in intake_selectors.consumer_signal_holdings(consumer=consumer):
        latest = row["latest"]
        parts = [_term(index, latest.category, language), _term(index, latest.attribute, language), _term(index, latest.signal, language)]
        rows.append(
            Holding(
                platform=row["platform"],
                purpose_title=words.in_language(row["purpose"].title, language),
                purpose_version=row["purpose"].version,
                count=row["count"],
                latest_what=" · ".join(part for part in parts if part),
                latest_at=latest.occurred_at or latest.received_at,
                first_deletion=row["first_deletion"],
                last_deletion=row["last_deletion"],
                retention_days=row["purpose"].retention_days,
            )
        )
    return sorted(rows, key=lambda h: (h.platform.name, h.purpose_title))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # consent, delivery, erasure, release
    text: str
    receipt_id: str = ""
    certificate_id: str = ""


_CONSENT_WORDS = {
    ConsentEvent.GRANT: gettext_lazy("You allowed %(platform)s to send us your preferences for “%(purpose)s” (version %(version)s)."),
    ConsentEvent.WITHDRAW: gettext_lazy("You withdrew your consent for “%(purpose)s” on %(platform)s."),
}
_ENDED_WORDS = {
    ConsentEvent.PURPOSE_RETIRED: gettext_lazy(
        "The service ended your consent for “%(purpose)s” on %(platform)s: the purpose was retired."
    ),
    ConsentEvent.PURPOSE_SUPERSEDED: gettext_lazy(
        "The service ended your consent for “%(purpose)s” on %(platform)s: a new version replaced the one you agreed to."
    ),
}
_ERASURE_WORDS = {
    "consent_withdrawn": gettext_lazy("after you withdrew"),
    "purpose_retired": gettext_lazy("after the purpose was retired"),
    "purpose_superseded": gettext_lazy("after a new version of the purpose replaced the one you agreed to"),
    "account_erased": gettext_lazy("when you erased your account"),
    "retention_ended": gettext_lazy("because their retention period ended"),
}
TIMELINE_LIMIT = 300


def timeline_list(*, consumer: Consumer, language: str, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:
    """What happened with this person's data, newest first, in plain words: consent changes,
    deliveries from platforms (as counts), deletions (with their certificate) and the
    statistics that charged them ("ErgoChair asked … — used ε 0.70 of yours")."""
    with translation.override(language):
        purposes = {p.id: p for p in Purpose.objects.all()}
        latest_titles = {p.code: words.in_language(p.title, language) for p in sorted(purposes.values(), key=lambda p: p.version)}
        platforms = {p.id: p for p in Platform.objects.all()}
        entries = []
        for event in consent_selectors.consent_events_list(consumer=consumer):
            names = {
                "platform": event.platform.name,
                "purpose": words.in_language(event.purpose.title, language),
                "version": event.purpose.version,
            }
            template = _ENDED_WORDS.get(event.reason) if event.action == ConsentEvent.EXPIRE else _CONSENT_WORDS.get(event.action)
            if template is not None:
                entries.append(
                    TimelineEntry(at=event.created_at, kind="consent", text=str(template) % names, receipt_id=str(event.receipt_id))
                )
        for delivery in intake_selectors.consumer_deliveries_list(consumer=consumer):
            purpose = purposes.get(delivery["purpose_id"])
            entries.append(
                TimelineEntry(
                    at=delivery["received_at"],
                    kind="delivery",
                    text=ngettext(
                        "%(platform)s sent us %(count)s signal about you for “%(purpose)s”.",
                        "%(platform)s sent us %(count)s signals about you for “%(purpose)s”.",
                        delivery["count"],
                    )
                    % {
                        "platform": platforms[delivery["platform_id"]].name if delivery["platform_id"] in platforms else "?",
                        "count": delivery["count"],
                        "purpose": words.in_language(purpose.title, language) if purpose else "",
                    },
                )
            )
        for erasure in intake_selectors.consumer_certificates_list(consumer=consumer):
            if erasure.certificate is None or erasure.completed_at is None:
                continue
            payload = erasure.certificate["payload"]
            where = [
                _("%(count)s from %(platform)s for “%(purpose)s”")
                % {
                    "count": row["signals"],
                    "platform": next((p.name for p in platforms.values() if p.slug == row["platform"]), row["platform"]),
                    "purpose": latest_titles.get(row["purpose"], row["purpose"]),
                }
                for row in payload["deleted"]
            ]
            text = ngettext(
                "We deleted %(count)s signal %(why)s",
                "We deleted %(count)s signals %(why)s",
                payload["total_signals"],
            ) % {"count": payload["total_signals"], "why": _ERASURE_WORDS.get(payload["reason"]["code"], "")}
            if where:
                text += _(": %(where)s") % {"where": words.word_list(where)}
            entries.append(
                TimelineEntry(at=erasure.completed_at, kind="erasure", text=text + _("."), certificate_id=str(erasure.certificate_id))
            )
        for release in releases_selectors.consumer_charges_list(consumer=consumer):
            if release.completed_at is not None:
                text = wording.charge_describe(
                    release=release,
                    language=language,
                    epsilon=releases_selectors.charged_epsilon(release),
                    reach_only=getattr(release, "charged_reach_only", False),
                )
                entries.append(TimelineEntry(at=release.completed_at, kind="release", text=text))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


# --- Erasure certificates, as a page ----------------------------------------------------------

_CERTIFICATE_CAUSES = {
    "consent_withdrawn": gettext_lazy("You withdrew your consent"),
    "purpose_retired": gettext_lazy("The purpose was retired, which ended your consent"),
    "purpose_superseded": gettext_lazy("A new version of the purpose replaced the one you agreed to, which ended your consent"),
    "account_erased": gettext_lazy("You erased your account"),
    "retention_ended": gettext_lazy("The retention period ended"),
}


def certificate_view(*, envelope: dict, language: str) -> dict:
    """A signed erasure certificate in the page's language: why, when, what per platform
    and purpose (names instead of codes), the signature and a QR code of it."""
    payload = envelope["payload"]
    platforms = dict(Platform.objects.values_list("slug", "name"))
    titles = {p.code: words.in_language(p.title, language) for p in Purpose.objects.order_by("version")}
    with translation.override(language):
        reason = str(_CERTIFICATE_CAUSES.get(payload["reason"]["code"], payload["reason"]["code"]))
    return {
        "envelope": envelope,
        "id": payload["certificate_id"],
        "reason": reason,
        "issued_at": words.parse_moment(payload["issued_at"]),
        "requested_at": words.parse_moment(payload["requested_at"]),
        "pseudonym": payload["subject"]["pseudonym"],
        "controller": payload["controller"],
        "rows": [
            {
                "platform": platforms.get(row["platform"], row["platform"]),
                "purpose": titles.get(row["purpose"], row["purpose"]),
                "signals": row["signals"],
            }
            for row in payload["deleted"]
        ],
        "total": payload["total_signals"],
        "key_id": envelope["key_id"],
        "signature": envelope["signature"],
        "qr": words.signed_qr_svg(envelope, id_field="certificate_id"),
    }
