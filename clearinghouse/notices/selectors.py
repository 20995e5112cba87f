"""What a manufacturer may read about its notifications: only its own."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.errors import NotFound
from clearinghouse.notices.models import Callback, Notice


def callback_get(*, manufacturer: Manufacturer) -> Callback:
    callback = Callback.objects.filter(manufacturer=manufacturer).first()
    if callback is None:
        raise NotFound("No callback is registered.")
    return callback


def notices_for(*, manufacturer: Manufacturer, now: datetime | None = None) -> QuerySet[Notice]:
    """The manufacturer's notices that have occurred, newest first. A done job's notice is
    recorded when the job finishes but occurs at the job's visible time; shown earlier, it
    would tell what the job's own answer hides until then (how long it took)."""
    return Notice.objects.filter(manufacturer=manufacturer, occurred_at__lte=now or timezone.now()).order_by("-created_at", "id")


def notice_get(*, manufacturer: Manufacturer, notice_id) -> Notice:
    """Another manufacturer's notice is NotFound, exactly like a missing one."""
    notice = notices_for(manufacturer=manufacturer).filter(pk=notice_id).first()
    if notice is None:
        raise NotFound()
    return notice
