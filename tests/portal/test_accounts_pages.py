from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from clearinghouse.accounts.models import Consumer
from clearinghouse.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

STRONG = "lantern-orchid-7-quartz"


def _signup(client: Client, **overrides):
    data = {"username": "mei", "password1": STRONG, "password2": STRONG, "age": "14-or-over"} | overrides
    return client.post(reverse("portal:signup"), data)


def test_signup_creates_a_consumer_logs_in_and_audits_the_portal_channel():
    client = Client()
    response = _signup(client)
    # First stop after sign-up: the recovery codes (tests/portal/test_recovery.py).
    assert response.status_code == 302 and response["Location"] == reverse("portal:recovery-codes") + "?welcome=1"
    consumer = Consumer.objects.get(user__username="mei")
    assert consumer.age_confirmed_at is not None
    event = AuditEvent.objects.get(action="consumer.registered")
    assert event.details == {"channel": "portal"} and event.target == f"consumer:{consumer.pseudonym}"
    assert "mei" not in str(event.details) + event.target + event.actor_id
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_under_14_is_refused_with_the_reason_and_nothing_is_kept():
    response = _signup(Client(), age="under-14")
    html = response.content.decode()
    assert response.status_code == 400
    assert "未满 14 周岁不能自己开通账户" in html and "第三十一条" in html
    assert not User.objects.exists() and not AuditEvent.objects.filter(action="consumer.registered").exists()


def test_the_under_14_refusal_shows_nothing_that_was_typed():
    """The refusal says nothing typed was kept: the form comes back empty, with no other
    complaint than the refusal (here the passwords also differed)."""
    response = _signup(Client(), username="kid-0415", password2="something-else-9", age="under-14")
    html = response.content.decode()
    assert response.status_code == 400
    assert "未满 14 周岁不能自己开通账户" in html
    assert "kid-0415" not in html
    assert "checked" not in html
    assert html.count('class="errorlist"') == 1  # the refusal only
    assert 'id="id_username"' in html and 'aria-describedby="id_age_helptext id_age_error"' in html


def test_age_question_has_no_default_answer():
    html = Client().get(reverse("portal:signup")).content.decode()
    assert 'value="14-or-over"' in html and 'value="under-14"' in html
    assert "checked" not in html
    response = _signup(Client(), age="")
    assert response.status_code == 400 and "请告诉我们你是否已满 14 周岁" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"password1": "short", "password2": "short"}, "密码长度太短"),
        ({"password1": "1234567890123", "password2": "1234567890123"}, "只包含数字"),
        ({"password1": "password123", "password2": "password123"}, "太常见"),
        ({"password2": STRONG + "x"}, "两次输入的密码不一样"),
        ({"username": "a b"}, "用户名"),
        ({"password1": "mei-mei-mei-1", "password2": "mei-mei-mei-1", "username": "mei-mei-mei"}, "太相似"),
    ],
)
def test_weak_or_mismatched_credentials_are_refused_clearly(overrides, message):
    response = _signup(Client(), **overrides)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_taken_username_is_refused_in_plain_words(consumer_a):
    response = _signup(Client(), username=consumer_a.username)
    assert response.status_code == 400
    assert "这个用户名已被使用" in response.content.decode()
    assert Consumer.objects.count() == 1


def test_login_and_logout(consumer_a):
    client = Client()
    response = client.post(reverse("portal:login"), {"username": consumer_a.username, "password": consumer_a.password})
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
    assert client.get(reverse("portal:dashboard")).status_code == 200
    client.post(reverse("portal:logout"))
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_login_redirects_only_to_this_site(consumer_a):
    response = Client().post(
        reverse("portal:login") + "?next=https://evil.example/",
        {"username": consumer_a.username, "password": consumer_a.password, "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")


def test_failed_logins_are_throttled_per_username_even_with_the_right_password(consumer_a, settings):
    limit = settings.CH_LOGIN_FAILURES_PER_USERNAME
    for _ in range(limit):
        response = Client().post(reverse("portal:login"), {"username": consumer_a.username, "password": "wrong-password-1"})
        assert response.status_code == 200
        assert "用户名或密码不对" in response.content.decode()
    # From another address, with the right password: still refused, and the password is not even checked.
    response = Client(REMOTE_ADDR="10.9.8.7").post(
        reverse("portal:login"), {"username": consumer_a.username, "password": consumer_a.password}
    )
    assert response.status_code == 429
    assert "暂停登录 15 分钟" in response.content.decode()
    assert not Client().get(reverse("portal:dashboard")).status_code == 200
    refused = AuditEvent.objects.filter(action="auth.login_refused", outcome="denied")
    assert refused.filter(details__reason="invalid_credentials").count() == limit
    assert refused.filter(details__reason="throttled").count() == 1
    # Another person's account is unaffected.
    assert Client().post(reverse("portal:login"), {"username": "bob-not-here", "password": "x"}).status_code == 200


def test_failed_logins_are_throttled_per_address(make_consumer, settings):
    settings.CH_LOGIN_FAILURES_PER_ADDRESS = 3
    handles = [make_consumer() for _ in range(4)]
    for handle in handles[:3]:
        Client(REMOTE_ADDR="10.0.0.5").post(reverse("portal:login"), {"username": handle.username, "password": "nope-nope-1"})
    blocked = Client(REMOTE_ADDR="10.0.0.5").post(
        reverse("portal:login"), {"username": handles[3].username, "password": handles[3].password}
    )
    assert blocked.status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.0.0.6").post(
        reverse("portal:login"), {"username": handles[3].username, "password": handles[3].password}
    )
    assert elsewhere.status_code == 302


def test_a_successful_login_clears_the_username_count(consumer_a, settings):
    limit = settings.CH_LOGIN_FAILURES_PER_USERNAME
    for _ in range(limit - 1):
        Client().post(reverse("portal:login"), {"username": consumer_a.username, "password": "wrong-password-1"})
    assert Client().post(reverse("portal:login"), {"username": consumer_a.username, "password": consumer_a.password}).status_code == 302
    for _ in range(limit - 1):
        Client().post(reverse("portal:login"), {"username": consumer_a.username, "password": "wrong-password-1"})
    assert Client().post(reverse("portal:login"), {"username": consumer_a.username, "password": consumer_a.password}).status_code == 302


def test_portal_is_chinese_by_default_and_english_on_request(consumer_a):
    # Language negotiation in detail: tests/portal/test_language.py.
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8")
    page = client.get(reverse("portal:login"))
    assert '<html lang="zh-Hans">' in page.content.decode() and "<h1>登录</h1>" in page.content.decode()
    switched = client.post(reverse("set_language"), {"language": "en", "next": "/login/"})
    assert switched.status_code == 302 and switched["Location"] == "/login/"
    page = client.get(reverse("portal:login"))
    assert '<html lang="en">' in page.content.decode() and "<h1>Log in</h1>" in page.content.decode()


def test_every_page_has_the_language_switch_and_a_strict_csp(linked_consumer, portal_client):
    client = portal_client(linked_consumer)
    for name in ("portal:dashboard", "portal:history", "portal:platforms", "portal:privacy-loss", "portal:my-data", "portal:verify"):
        response = client.get(reverse(name))
        html = response.content.decode()
        assert 'action="/i18n/setlang/"' in html and 'name="language" value="en"' in html, name
        assert 'name="csrfmiddlewaretoken"' in html
        assert (
            "script-src 'self'" in response["Content-Security-Policy"] and "frame-ancestors 'none'" in response["Content-Security-Policy"]
        )
        assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in client.get("/api/v1/keys")
