from __future__ import annotations

from django.conf import settings

from clearinghouse.core.actors import Actor


def request_actor(request) -> Actor:
    """The acting party of a request, computed once per request.

    A user is a compliance officer (member of the compliance group) or a consumer (has a
    live Consumer row); a user that is neither, such as an operator's admin account,
    gets no API role at all.
    """
    cached = getattr(request, "_ch_actor", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    actor = Actor.anonymous()
    if user is not None and user.is_authenticated:
        kind = getattr(user, "kind", None)
        if kind in {"platform", "manufacturer"}:
            actor = Actor(kind=kind, id=user.party.slug)
        elif user.is_active and _is_officer(user):
            actor = Actor(kind="compliance", id=f"officer:{user.pk}")
        else:
            consumer = getattr(user, "consumer", None)
            if consumer is not None and consumer.erased_at is None:
                actor = Actor(kind="consumer", id=str(consumer.pseudonym))
            else:
                actor = Actor(kind="operator", id=f"user:{user.pk}")
    request._ch_actor = actor
    # DRF wraps the Django request; cache on both so middleware and views agree.
    raw = getattr(request, "_request", None)
    if raw is not None:
        raw._ch_actor = actor
    return actor


def _is_officer(user) -> bool:
    # A bearer token's user arrives knowing (accounts.authentication); a session's asks.
    known = getattr(user, "ch_is_officer", None)
    if known is not None:
        return bool(known)
    return user.groups.filter(name=settings.COMPLIANCE_GROUP).exists()
