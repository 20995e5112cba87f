"""Django's admin, with every use of it in the tamper-evident audit log.

- It answers only when ``settings.CH_ADMIN_ENABLED`` (default off; ``AdminGateMiddleware``).
- Its login goes through the lockout every door shares (``accounts.lockout``): a locked
  username answers 429 with ``Retry-After`` here too. Logins are audited (``admin.login``;
  refusals as ``auth.login_refused`` with ``channel: admin``).
- Every addition, change and deletion is audited as ``admin.changed`` in the transaction
  of the change: model, object id, operation and the names of the fields changed (never
  their values). Bulk deletion is switched off, so each deletion is one audited change.
- Group changes need a compliance officer, whoever makes them (``accounts.power``).
"""

from __future__ import annotations

import json
import math

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from clearinghouse.accounts.lockout import login_attempt, user_target
from clearinghouse.accounts.power import acting_as
from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import TooManyRequests

ADMIN_PREFIX = "/admin/"
# The portal's wording (its catalogue, in LOCALE_PATHS, translates it).
THROTTLED = _("Too many failed attempts. For your safety, logging in to this account is paused for %(minutes)s minutes. Try again later.")


def _user_actor(user: User) -> Actor:
    if user.groups.filter(name=settings.COMPLIANCE_GROUP).exists():
        return Actor(kind="compliance", id=f"officer:{user.pk}")
    return Actor(kind="operator", id=f"user:{user.pk}")


class AdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_attempt(username=username, password=password, address=client_address(self.request), channel="admin")
            except TooManyRequests as locked:
                if self.request is not None:
                    self.request._ch_retry_after = locked.details["retry_after_seconds"]
                seconds = locked.details["retry_after_seconds"]
                raise ValidationError(THROTTLED, code="throttled", params={"minutes": max(1, math.ceil(seconds / 60))}) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            try:
                self.confirm_login_allowed(self.user_cache)
            except ValidationError:
                audit_record(
                    actor=Actor.anonymous(),
                    action=AuditAction.AUTH_LOGIN_REFUSED,
                    target=user_target(self.user_cache),
                    outcome="denied",
                    details={"channel": "admin", "reason": "not_staff"},
                )
                raise
            audit_record(
                actor=_user_actor(self.user_cache),
                action=AuditAction.ADMIN_LOGIN,
                target=user_target(self.user_cache),
                details={"superuser": self.user_cache.is_superuser},
            )
        return self.cleaned_data


def _changed_fields(message) -> list[str]:
    """Field names from the admin's change message (a JSON list); never values."""
    if isinstance(message, str):
        try:
            message = json.loads(message) if message else []
        except ValueError:
            return []
    fields: list[str] = []
    for item in message or []:
        if isinstance(item, dict):
            for kind in ("added", "changed", "deleted"):
                entry = item.get(kind)
                if isinstance(entry, dict):
                    fields.extend(str(name) for name in entry.get("fields", []))
                    if entry.get("name"):
                        fields.append(f"{entry['name']}")
    return sorted(set(fields))


class AuditedModelAdmin(admin.ModelAdmin):
    def _audit(self, request, obj, *, operation: str, fields: list[str]) -> None:
        audit_record(
            actor=request_actor(request),
            action=AuditAction.ADMIN_CHANGED,
            target=f"{obj._meta.label_lower}:{obj.pk}"[:128],
            details={"operation": operation, "model": obj._meta.label_lower, "object": str(obj.pk), "fields": fields},
        )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, operation="add", fields=_changed_fields(message))
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, obj, operation="change", fields=_changed_fields(message))
        return entry

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            self._audit(request, obj, operation="delete", fields=[])
        return entries

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class AuditedUserAdmin(AuditedModelAdmin, UserAdmin):
    pass


class AuditedGroupAdmin(AuditedModelAdmin, GroupAdmin):
    pass


admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.register(User, AuditedUserAdmin)
admin.site.register(Group, AuditedGroupAdmin)
admin.site.login_form = AdminLoginForm


class AdminGateMiddleware:
    """The admin answers 404 unless CH_ADMIN_ENABLED; its requests act as the logged-in
    user for group and permission changes (accounts.power); a locked login answers 429."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(ADMIN_PREFIX):
            return self.get_response(request)
        if not settings.CH_ADMIN_ENABLED:
            raise Http404()
        with acting_as(lambda: request_actor(request)):
            response = self.get_response(request)
        retry_after = getattr(request, "_ch_retry_after", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response
