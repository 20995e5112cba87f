"""Getting back in without personal data (issue 14): recovery codes at sign-up and in
settings, recovery with a code, password change. Passkeys: tests/browser/test_passkeys.py."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from clearinghouse.accounts.models import Credential, RecoveryCode
from clearinghouse.accounts.recovery import recovery_codes_issue
from clearinghouse.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW = "meadow-lantern-42-violet"
CODE_RE = re.compile(r"<code>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</code>")


def _recover(client, *, username, code, password=NEW, password2=None):
    return client.post(
        reverse("portal:recover"),
        {"username": username, "code": code, "new_password1": password, "new_password2": password2 or password},
    )


def test_signup_shows_ten_codes_once_and_stores_only_hashes():
    client = Client()
    client.post(
        reverse("portal:signup"),
        {"username": "mei", "password1": "lantern-orchid-7-quartz", "password2": "lantern-orchid-7-quartz", "age": "14-or-over"},
    )
    page = client.get(reverse("portal:recovery-codes") + "?welcome=1")
    html = page.content.decode()
    codes = CODE_RE.findall(html)
    assert page.status_code == 200 and len(codes) == 10 and len(set(codes)) == 10
    assert page["Cache-Control"] == "no-store"
    assert "只显示这一次" in html  # "shown only this once", in the default language
    stored = list(RecoveryCode.objects.filter(user__username="mei").values_list("code_hash", flat=True))
    assert len(stored) == 10 and not any(code.replace("-", "") in value or code in value for code in codes for value in stored)
    # Shown once: a reload goes to settings, which shows the count, not the codes.
    again = client.get(reverse("portal:recovery-codes"))
    assert again.status_code == 302 and again["Location"].startswith(reverse("portal:settings"))
    settings_html = client.get(reverse("portal:settings")).content.decode()
    assert not CODE_RE.findall(settings_html) and "10" in settings_html
    event = AuditEvent.objects.get(action="auth.recovery_codes_issued")
    assert event.details["codes"] == 10 and "mei" not in str(event.details) + event.target


def test_a_code_sets_a_new_password_logs_in_and_works_only_once(consumer_a):
    codes = recovery_codes_issue(consumer=consumer_a.consumer)
    token_before = Credential.objects.filter(user=consumer_a.consumer.user, revoked_at__isnull=True).count()
    assert token_before == 1
    client = Client()
    response = _recover(client, username=consumer_a.username, code=codes[3].lower().replace("-", " "))
    assert response.status_code == 302 and response["Location"] == reverse("portal:settings")
    assert client.get(reverse("portal:dashboard")).status_code == 200  # logged in
    user = User.objects.get(pk=consumer_a.consumer.user.pk)
    assert user.check_password(NEW) and not user.check_password(consumer_a.password)
    # The old API token is revoked (whoever knew the old password may have made it).
    assert not Credential.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert "你还剩 9 个未用的恢复码" in client.get(reverse("portal:settings")).content.decode()
    # The same code a second time: refused, the password unchanged.
    again = _recover(Client(), username=consumer_a.username, code=codes[3], password="another-good-phrase-77")
    assert again.status_code == 400 and User.objects.get(pk=user.pk).check_password(NEW)
    assert AuditEvent.objects.filter(action="auth.recovery_used").count() == 1
    refused = AuditEvent.objects.get(action="auth.recovery_refused")
    assert refused.outcome == "denied" and consumer_a.username not in str(refused.details) + refused.target


def test_a_refusal_keeps_nothing_that_was_typed_and_does_not_say_whether_the_user_exists(consumer_a):
    recovery_codes_issue(consumer=consumer_a.consumer)
    wrong_code = _recover(Client(), username=consumer_a.username, code="WXYZ-2345-6789")
    no_user = _recover(Client(), username="nobody-here", code="WXYZ-2345-6789")
    for response in (wrong_code, no_user):
        html = response.content.decode()
        assert response.status_code == 400
        assert "用户名或恢复码不对" in html
        assert "WXYZ-2345-6789" not in html and consumer_a.username not in html and "nobody-here" not in html
    assert User.objects.get(pk=consumer_a.consumer.user.pk).check_password(consumer_a.password)


def test_a_weak_new_password_does_not_spend_the_code(consumer_a):
    codes = recovery_codes_issue(consumer=consumer_a.consumer)
    response = _recover(Client(), username=consumer_a.username, code=codes[0], password="12345")
    assert response.status_code == 400
    assert codes[0] not in response.content.decode()  # not shown back
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 10
    assert _recover(Client(), username=consumer_a.username, code=codes[0]).status_code == 302


def test_recovery_is_throttled_like_login(consumer_a, settings):
    settings.CH_LOGIN_FAILURES_PER_USERNAME = 3
    codes = recovery_codes_issue(consumer=consumer_a.consumer)
    for _ in range(3):
        assert _recover(Client(), username=consumer_a.username, code="ZZZZ-ZZZZ-ZZZZ").status_code == 400
    # Even the right code is refused now, without being checked or spent.
    blocked = _recover(Client(), username=consumer_a.username, code=codes[0])
    assert blocked.status_code == 429 and codes[0] not in blocked.content.decode()
    assert RecoveryCode.objects.filter(used_at__isnull=True).count() == 10
    assert AuditEvent.objects.filter(action="auth.recovery_refused", details__reason="throttled").exists()


def test_a_new_set_invalidates_the_old_one_and_needs_the_password(consumer_a, portal_client):
    old = recovery_codes_issue(consumer=consumer_a.consumer)
    client = portal_client(consumer_a)
    wrong = client.post(reverse("portal:recovery-codes-new"), {"password": "not-my-password"})
    assert wrong.status_code == 400 and RecoveryCode.objects.filter(user=consumer_a.consumer.user).count() == 10
    assert client.post(reverse("portal:recovery-codes-new"), {"password": consumer_a.password}).status_code == 302
    new = CODE_RE.findall(client.get(reverse("portal:recovery-codes")).content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert _recover(Client(), username=consumer_a.username, code=old[0]).status_code == 400
    assert _recover(Client(), username=consumer_a.username, code=new[0]).status_code == 302


def test_password_change_needs_the_current_password_and_is_audited(consumer_a, portal_client):
    client = portal_client(consumer_a)
    other_browser = portal_client(consumer_a)
    wrong = client.post(
        reverse("portal:password-change"), {"current_password": "guess-guess-1", "new_password1": NEW, "new_password2": NEW}
    )
    assert wrong.status_code == 400 and "这不是你现在的密码" in wrong.content.decode() and NEW not in wrong.content.decode()
    assert AuditEvent.objects.filter(action="auth.password_change_refused", outcome="denied").count() == 1
    mismatch = client.post(
        reverse("portal:password-change"), {"current_password": consumer_a.password, "new_password1": NEW, "new_password2": NEW + "x"}
    )
    assert mismatch.status_code == 400
    ok = client.post(
        reverse("portal:password-change"), {"current_password": consumer_a.password, "new_password1": NEW, "new_password2": NEW}
    )
    assert ok.status_code == 302
    assert User.objects.get(pk=consumer_a.consumer.user.pk).check_password(NEW)
    assert client.get(reverse("portal:dashboard")).status_code == 200  # this browser stays in
    assert other_browser.get(reverse("portal:dashboard")).status_code == 302  # the other is logged out
    assert AuditEvent.objects.get(action="auth.password_changed").details["proof"] == "password"


def test_after_recovery_a_person_can_still_erase_themselves(consumer_a):
    codes = recovery_codes_issue(consumer=consumer_a.consumer)
    client = Client()
    _recover(client, username=consumer_a.username, code=codes[0])
    response = client.post(reverse("portal:erase"), {"password": NEW, "understood": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:erased")
    assert not User.objects.filter(username=consumer_a.username).exists()
    assert not RecoveryCode.objects.exists()


def test_settings_and_recovery_pages_in_english(consumer_a, portal_client):
    html = portal_client(consumer_a, language="en").get(reverse("portal:settings")).content.decode()
    assert "Recovery codes" in html and "Change your password" in html and "Passkeys" in html
    client = Client()
    client.cookies["django_language"] = "en"
    html = client.get(reverse("portal:recover")).content.decode()
    assert "Forgot your password?" in html and "One of your recovery codes" in html
