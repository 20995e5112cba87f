"""Issue 12, item 2: every use of power leaves a trace in the tamper-evident log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.test import Client
from django.urls import reverse

from clearinghouse.accounts.power import acting_as
from clearinghouse.audit.models import AuditEvent
from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.audit.services import audit_seal
from clearinghouse.core.actors import Actor
from tests.conftest import PASSWORD


@pytest.fixture
def admin_on(settings):
    settings.CH_ADMIN_ENABLED = True


@pytest.fixture
def operator(db):
    return User.objects.create_superuser(username="root", password=PASSWORD, email="")


def _admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _user_form(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_the_admin_is_off_unless_switched_on(operator, settings):
    assert settings.CH_ADMIN_ENABLED is False
    assert Client().get("/admin/login/").status_code == 404
    assert _admin_client(operator).get("/admin/auth/user/").status_code == 404


def test_admin_logins_are_audited_and_locked_like_every_door(admin_on, operator, settings):
    for _ in range(30):
        Client().post(reverse("admin:login"), {"username": "root", "password": "wrong-password-1"})
    locked = Client().post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    refused = AuditEvent.objects.filter(action="auth.login_refused", details__channel="admin")
    assert refused.filter(details__reason="invalid_credentials").count() == settings.CH_LOGIN_FAILURES_PER_USERNAME
    assert refused.filter(details__reason="throttled").exists()
    assert not AuditEvent.objects.filter(action="admin.login").exists()

    Client().post(reverse("admin:login"), {"username": "x", "password": "y"})  # someone else's failure
    User.objects.create_user(username="staffer", password=PASSWORD, is_staff=True)
    assert Client().post(reverse("admin:login"), {"username": "staffer", "password": PASSWORD}).status_code == 302
    login = AuditEvent.objects.get(action="admin.login")
    assert login.actor_kind == "operator" and login.target == f"user:{User.objects.get(username='staffer').pk}"


def test_a_non_staff_user_with_the_right_password_is_refused_and_audited(admin_on, consumer_a):
    response = Client().post(reverse("admin:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    refused = AuditEvent.objects.get(action="auth.login_refused", details__reason="not_staff")
    assert refused.target == f"consumer:{consumer_a.consumer.pseudonym}"


def test_an_admin_change_is_in_the_verified_log_with_field_names_not_values(admin_on, operator, consumer_a):
    user = consumer_a.consumer.user
    response = _admin_client(operator).post(
        reverse("admin:auth_user_change", args=[user.pk]), _user_form(user, first_name="Secret-Name", email="a@b.example")
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="admin.changed")
    assert event.details["operation"] == "change" and event.details["model"] == "auth.user"
    assert event.details["object"] == str(user.pk) and set(event.details["fields"]) == {"First name", "Email address"}
    assert "Secret-Name" not in str(event.details) and "a@b.example" not in str(event.details)
    assert event.actor_kind == "operator"
    audit_seal()
    assert audit_chain_verify().ok


def test_bulk_deletion_is_off_and_a_deletion_is_audited(admin_on, operator):
    group = Group.objects.create(name="temporary")
    client = _admin_client(operator)
    changelist = client.get(reverse("admin:auth_group_changelist"))
    assert b"delete_selected" not in changelist.content
    assert client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"}).status_code == 302
    event = AuditEvent.objects.get(action="admin.changed", details__operation="delete")
    assert event.target == f"auth.group:{group.pk}"


def test_only_an_officer_may_put_someone_in_a_group_through_the_admin(admin_on, operator, consumer_a, officer):
    compliance = Group.objects.get(name="compliance")
    user = consumer_a.consumer.user
    url = reverse("admin:auth_user_change", args=[user.pk])
    # The attack: an operator puts a consumer into the compliance group.
    response = _admin_client(operator).post(url, _user_form(user, groups=[str(compliance.pk)]))
    assert response.status_code == 403
    assert not user.groups.exists()
    assert not AuditEvent.objects.filter(action="user.groups_changed", target=f"consumer:{consumer_a.consumer.pseudonym}").exists()
    # An officer with admin access may; it is audited with the officer and the group.
    officer_user = User.objects.get(username="officer")
    officer_user.is_staff = officer_user.is_superuser = True
    officer_user.save()
    response = _admin_client(officer_user).post(url, _user_form(user, groups=[str(compliance.pk)]))
    assert response.status_code == 302
    assert user.groups.filter(name="compliance").exists()
    event = AuditEvent.objects.get(action="user.groups_changed", target=f"consumer:{consumer_a.consumer.pseudonym}")
    assert event.actor_kind == "compliance" and event.details == {"operation": "add", "groups": ["compliance"]}


def test_group_changes_outside_the_officer_command_are_refused(consumer_a, officer):
    user = consumer_a.consumer.user
    compliance = Group.objects.get(name="compliance")
    with pytest.raises(PermissionDenied), transaction.atomic():
        user.groups.add(compliance)
    with pytest.raises(PermissionDenied), transaction.atomic(), acting_as(Actor.operator()):
        compliance.user_set.add(user)
    assert not user.groups.exists()
    # The officer command's service may, and leaves its trace.
    created = AuditEvent.objects.get(action="user.groups_changed", details__groups=["compliance"])
    assert created.actor_kind == "operator" and created.target == f"user:{User.objects.get(username='officer').pk}"


def test_permission_changes_are_audited(db):
    user = User.objects.create_user(username="someone", password=PASSWORD)
    from django.contrib.auth.models import Permission

    permission = Permission.objects.get(codename="view_user")
    with acting_as(Actor.operator("shell")):
        user.user_permissions.add(permission)
    event = AuditEvent.objects.get(action="user.permissions_changed")
    assert event.actor_id == "shell" and event.details == {"operation": "add", "permissions": ["auth.view_user"]}


# --- Denied attempts ------------------------------------------------------------------------


def test_a_forbidden_api_call_is_audited(consumer_a):
    assert consumer_a.client().get("/api/v1/audit/events").status_code == 403
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor_kind == "consumer" and event.actor_id == str(consumer_a.consumer.pseudonym)
    assert event.details == {"reason": "forbidden", "status": 403, "endpoint": "api:audit-events", "method": "GET", "count": 1}


def test_a_bad_key_is_audited(db):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION="Bearer chp_nosuchkey_secret")
    assert client.get("/api/v1/platform/batches").status_code == 401
    event = AuditEvent.objects.get(action="access.denied")
    assert event.details["reason"] == "bad_credential" and event.actor_kind == "anonymous"
    assert "nosuchkey" not in str(event.details)


def test_a_csrf_failure_is_audited(consumer_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(consumer_a.consumer.user)
    assert client.post(reverse("portal:consent-update"), {}).status_code == 403
    assert AuditEvent.objects.get(action="access.denied").details["reason"] == "csrf"
    api = Client(enforce_csrf_checks=True)
    api.force_login(consumer_a.consumer.user)
    assert api.post("/api/v1/me/links", {"platform": "x"}, content_type="application/json").status_code == 403
    assert AuditEvent.objects.filter(action="access.denied", details__reason="csrf").count() == 2


def test_repeated_denials_are_sampled_with_their_count(consumer_a):
    client = consumer_a.client()
    for _ in range(10):
        assert client.get("/api/v1/audit/verify").status_code == 403
    counts = sorted(AuditEvent.objects.filter(action="access.denied").values_list("details__count", flat=True))
    assert counts == [1, 2, 4, 8]


def test_another_manufacturers_release_is_not_found_and_audited(make_manufacturer, purposes):
    from clearinghouse.releases.models import Release

    ours, theirs = make_manufacturer("ours-co"), make_manufacturer("theirs-co")
    release = Release.objects.create(
        manufacturer=theirs.obj,
        purpose=purposes["c2m-product-design"],
        purpose_code="c2m-product-design",
        period="2026-12",
        measure="consumers",
        epsilon="0.5",
        request_digest="0" * 64,
    )
    response = ours.client().get(f"/api/v1/releases/{release.pk}")
    missing = ours.client().get("/api/v1/releases/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11")
    assert response.status_code == missing.status_code == 404 and response.content == missing.content
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor_id == "ours-co" and event.details["reason"] == "cross_party" and event.details["owner"] == "theirs-co"


def test_a_consumer_at_the_compliance_console_is_refused_and_audited(consumer_a):
    client = Client()
    client.force_login(consumer_a.consumer.user)
    assert client.get(reverse("compliance:home")).status_code == 403
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor_kind == "consumer" and event.details["reason"] == "forbidden"
    assert event.details["endpoint"] == "compliance:home"


def test_superuser_and_staff_flags_are_audited_whoever_sets_them(consumer_a):
    user = consumer_a.consumer.user
    user.is_staff = user.is_superuser = True
    user.save()
    event = AuditEvent.objects.get(action="user.permissions_changed", details__operation="flags")
    assert event.details["flags"] == {"is_superuser": True, "is_staff": True}
    assert event.target == f"consumer:{consumer_a.consumer.pseudonym}" and event.actor_id == "unattributed"
    user.first_name = "x"
    user.save()  # no flag changed: nothing more
    assert AuditEvent.objects.filter(action="user.permissions_changed").count() == 1
    User.objects.create_superuser(username="root2", password=PASSWORD, email="")
    assert AuditEvent.objects.filter(action="user.permissions_changed", details__flags__is_superuser=True).count() == 2
