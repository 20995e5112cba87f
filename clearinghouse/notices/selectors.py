"""What a manufacturer may read about its notifications: only its own."""

from __future__ import annotations

from django.db.models import QuerySet

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.core.errors import NotFound
from clearinghouse.notices.models import Callback, Notice


def callback_get(*, manufacturer: Manufacturer) -> Callback:
    callback = Callback.objects.filter(manufacturer=manufacturer).first()
    if callback is None:
        raise NotFound("No callback is registered.")
    return callback


def notices_for(*, manufacturer: Manufacturer) -> QuerySet[Notice]:
    """The manufacturer's notices, newest first."""
    return Notice.objects.filter(manufacturer=manufacturer).order_by("-created_at", "id")


def notice_get(*, manufacturer: Manufacturer, notice_id) -> Notice:
    """Another manufacturer's notice is NotFound, exactly like a missing one."""
    notice = notices_for(manufacturer=manufacturer).filter(pk=notice_id).first()
    if notice is None:
        raise NotFound()
    return notice
