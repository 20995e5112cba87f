from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clearinghouse.accounts.models import Consumer, Platform
from clearinghouse.consent.models import ConsentEvent, ConsentState, Purpose


@dataclass(frozen=True)
class FoldedState:
    version: int
    granted: bool
    last_event_id: int


def consent_fold(events: Iterable[ConsentEvent]) -> dict[tuple[int, str, int], FoldedState]:
    """The state the ledger implies: the last event per (consumer, purpose code, platform)."""
    state: dict[tuple[int, str, int], FoldedState] = {}
    for event in sorted(events, key=lambda e: e.id):
        state[(event.consumer_id, event.purpose.code, event.platform_id)] = FoldedState(
            version=event.purpose.version, granted=event.action == ConsentEvent.GRANT, last_event_id=event.id
        )
    return state


def consent_states_list(*, consumer: Consumer) -> list[ConsentState]:
    return list(
        ConsentState.objects.filter(consumer=consumer).select_related("platform", "last_event").order_by("purpose_code", "platform__slug")
    )


def consent_events_list(*, consumer: Consumer) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(consumer=consumer).select_related("purpose", "platform").order_by("id"))


def consent_is_active(*, consumer: Consumer, purpose: Purpose, platform: Platform) -> bool:
    """Active means granted for the purpose's current approved version (ConsentStateQuerySet.active)."""
    return ConsentState.objects.active(purpose=purpose).filter(consumer=consumer, platform=platform).exists()


def consent_overview(*, consumer: Consumer) -> list[dict]:
    """Approved purposes with this consumer's state on every platform (for /me/purposes
    and the portal's dashboard)."""
    purposes = list(Purpose.objects.filter(status=Purpose.APPROVED).order_by("code"))
    platforms = list(Platform.objects.order_by("slug"))
    states = {(s.purpose_code, s.platform_id): s for s in ConsentState.objects.filter(consumer=consumer).select_related("last_event")}
    overview = []
    for purpose in purposes:
        per_platform = []
        for platform in platforms:
            state = states.get((purpose.code, platform.id))
            # Approved purposes only (above), so this is ConsentStateQuerySet.active on one row.
            active = bool(state and state.granted and state.version == purpose.version)
            per_platform.append(
                {
                    "platform": platform,
                    "active": active,
                    # Given for an older version (still granted from before expiry existed, or
                    # ended by the service when this version replaced it): asked again.
                    "needs_renewal": bool(
                        state
                        and state.version != purpose.version
                        and (state.granted or consent_ended_because(state) == ConsentEvent.PURPOSE_SUPERSEDED)
                    ),
                    "granted": bool(state and state.granted),
                    "updated_at": state.updated_at if state else None,
                    # The version last consented to, and why the service ended it (an
                    # ``expire``: the version was retired or replaced), if it did.
                    "version": state.version if state else None,
                    "ended_because": consent_ended_because(state),
                }
            )
        overview.append({"purpose": purpose, "platforms": per_platform})
    return overview


@dataclass(frozen=True)
class ApprovalLapse:
    """What approving a draft does to consent already given: the grants active for the
    currently approved version stop counting (ConsentStateQuerySet.active) until each
    person consents to the new version."""

    current: Purpose | None
    grants: int  # (person, platform) pairs
    consumers: int


def consent_lapse_on_approval(*, draft: Purpose) -> ApprovalLapse:
    current = Purpose.objects.filter(code=draft.code, status=Purpose.APPROVED).exclude(pk=draft.pk).first()
    if current is None:
        return ApprovalLapse(current=None, grants=0, consumers=0)
    active = ConsentState.objects.active(purpose=current)
    return ApprovalLapse(current=current, grants=active.count(), consumers=active.values("consumer_id").distinct().count())


def consent_ended_because(state: ConsentState | None) -> str:
    """Why the service (not the person) ended this consent, or "" if it did not."""
    if state is None or state.granted or state.last_event.action != ConsentEvent.EXPIRE:
        return ""
    return state.last_event.reason


def consents_stopped_list(*, consumer: Consumer) -> list[ConsentState]:
    """This person's consents the service ended (purpose retired or replaced), newest first."""
    return list(
        ConsentState.objects.filter(consumer=consumer, granted=False, last_event__action=ConsentEvent.EXPIRE)
        .select_related("platform", "last_event", "last_event__purpose")
        .order_by("-updated_at")
    )


def purpose_version_get(*, code: str, version: int) -> Purpose | None:
    return Purpose.objects.filter(code=code, version=version).first()
