"""Group and permission changes: who may make them, and their trace in the audit log.

A user's groups decide their role (the compliance group makes an officer, who reads the
whole audit log). So a change to anyone's groups, by any code path (the admin, a shell,
a script), is refused unless it happens inside ``acting_as(actor)`` with an actor who may
make it: a compliance officer, or the ``create_compliance_officer`` command (its service
passes ``groups=True``). Every group change and every change of a user's or a group's
permissions is audited with the groups or permission codenames, never a username.
The admin wraps each of its requests in ``acting_as`` for the logged-in user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission, User
from django.core.exceptions import PermissionDenied
from django.db.models.signals import m2m_changed, post_save, pre_save

from clearinghouse.accounts.lockout import user_target
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor


@dataclass(frozen=True)
class _Acting:
    actor: Callable[[], Actor]
    # Whether this actor may change users' groups; None: when it is a compliance officer.
    groups: bool | None


_acting: ContextVar[_Acting | None] = ContextVar("clearinghouse_acting", default=None)


@contextmanager
def acting_as(actor: Actor | Callable[[], Actor], *, groups: bool | None = None) -> Iterator[None]:
    """Attribute the group and permission changes made inside to ``actor`` (an Actor, or a
    function giving one, called when a change happens). ``groups``: whether this actor
    may change users' groups; by default only when it is a compliance officer."""
    resolve: Callable[[], Actor] = actor if callable(actor) else (lambda: actor)  # type: ignore[assignment,return-value]
    token = _acting.set(_Acting(actor=resolve, groups=groups))
    try:
        yield
    finally:
        _acting.reset(token)


def _current() -> tuple[Actor, bool]:
    acting = _acting.get()
    if acting is None:
        return Actor.system("unattributed"), False
    actor = acting.actor()
    return actor, acting.groups if acting.groups is not None else actor.kind == "compliance"


_OPERATIONS = {
    "pre_add": "add",
    "pre_remove": "remove",
    "pre_clear": "clear",
    "post_add": "add",
    "post_remove": "remove",
    "post_clear": "clear",
}


def _names(model, pk_set) -> list[str]:
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
    if model is Permission:
        return sorted(
            f"{app}.{code}"
            for app, code in Permission.objects.filter(pk__in=pk_set or ()).values_list("content_type__app_label", "codename")
        )
    return sorted(str(pk) for pk in pk_set or ())


def _user_groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in _OPERATIONS:
        return
    actor, may = _current()
    if action.startswith("pre_"):
        if not may:
            raise PermissionDenied("Changing a user's groups needs a compliance officer (or manage.py create_compliance_officer).")
        if action == "pre_clear":
            # Nothing says which groups after a clear: name them now.
            instance._ch_cleared = (
                sorted(instance.groups.values_list("name", flat=True))
                if not reverse
                else sorted(str(pk) for pk in instance.user_set.values_list("pk", flat=True))
            )
        return
    if reverse:  # instance is a Group, pk_set users
        users = list(User.objects.filter(pk__in=pk_set or ())) if action != "post_clear" else []
        for user in users:
            _audit_groups(actor=actor, user=user, operation=_OPERATIONS[action], groups=[instance.name])
        if action == "post_clear":
            audit_record(
                actor=actor,
                action=AuditAction.USER_GROUPS_CHANGED,
                target=f"group:{instance.pk}",
                details={"operation": "clear", "groups": [instance.name], "users": len(getattr(instance, "_ch_cleared", []))},
            )
        return
    groups = getattr(instance, "_ch_cleared", []) if action == "post_clear" else _names(Group, pk_set)
    _audit_groups(actor=actor, user=instance, operation=_OPERATIONS[action], groups=groups)


def _audit_groups(*, actor: Actor, user: User, operation: str, groups: list[str]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.USER_GROUPS_CHANGED,
        target=user_target(user),
        details={"operation": operation, "groups": groups},
    )


def _permissions_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    actor, _ = _current()
    if isinstance(instance, User):
        target = user_target(instance)
    elif isinstance(instance, Group):
        target = f"group:{instance.pk}"
    else:  # a Permission, from the reverse side
        target = f"permission:{instance.content_type.app_label}.{instance.codename}"
    names = _names(model, pk_set) if action != "pre_clear" else ["*"]
    audit_record(
        actor=actor,
        action=AuditAction.USER_PERMISSIONS_CHANGED,
        target=target,
        details={"operation": _OPERATIONS[action], "permissions": names},
    )


_FLAGS = ("is_superuser", "is_staff", "is_active")


def _user_flags_before(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not set(update_fields) & set(_FLAGS):
        instance._ch_flags_before = None  # a save that cannot touch a flag (last_login)
        return
    if instance.pk is None:
        instance._ch_flags_before = dict.fromkeys(_FLAGS, False) | {"is_active": True}
        return
    before = User.objects.filter(pk=instance.pk).values(*_FLAGS).first()
    instance._ch_flags_before = before or dict.fromkeys(_FLAGS, False) | {"is_active": True}


def _user_flags_after(sender, instance, created, **kwargs) -> None:
    """Superuser and staff status are permissions too (and closing an account is power
    over it): every change of these flags is audited, whoever makes it."""
    before = getattr(instance, "_ch_flags_before", None)
    if before is None:
        return
    changed = {flag: bool(getattr(instance, flag)) for flag in _FLAGS if bool(getattr(instance, flag)) != bool(before.get(flag))}
    if not changed:
        return
    actor, _ = _current()
    audit_record(
        actor=actor,
        action=AuditAction.USER_PERMISSIONS_CHANGED,
        target=user_target(instance),
        details={"operation": "flags", "flags": changed},
    )


def power_receivers_connect() -> None:
    pre_save.connect(_user_flags_before, sender=User, dispatch_uid="ch_user_flags_before")
    post_save.connect(_user_flags_after, sender=User, dispatch_uid="ch_user_flags_after")
    m2m_changed.connect(_user_groups_changed, sender=User.groups.through, dispatch_uid="ch_user_groups_changed")
    m2m_changed.connect(_permissions_changed, sender=User.user_permissions.through, dispatch_uid="ch_user_permissions_changed")
    m2m_changed.connect(_permissions_changed, sender=Group.permissions.through, dispatch_uid="ch_group_permissions_changed")
