"""Getting back in without personal data, in Chromium at 375 px in both languages: sign up
and save the recovery codes, add a passkey (Chromium's virtual authenticator, driven over
CDP), forget the password and get back in with a code, then with the passkey, and set a
new password and reach erasure without the old one."""

from __future__ import annotations

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "lantern-orchid-7-quartz"
NEW = "meadow-lantern-42-violet"
NEWER = "harbour-quince-58-ember"

TEXT = {
    "zh-hans": {
        "switch_to": "中文",
        "codes_left_9": "你还剩 9 个未用的恢复码",
        "passkey_button": "用通行密钥登录",
        "dashboard": "我的同意",
    },
    "en": {
        "switch_to": None,
        "codes_left_9": "You have 9 unused recovery codes",
        "passkey_button": "Log in with a passkey",
        "dashboard": "My consents",
    },
}


@pytest.fixture
def browser_context_options():
    return {"viewport": {"width": 375, "height": 800}, "locale": "en-US", "is_mobile": True, "has_touch": True}


def virtual_authenticator(context, page) -> tuple[object, str]:
    """A platform authenticator (like a phone's fingerprint reader) that always says yes."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    answer = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, answer["authenticatorId"]


def log_out(page, live_server):
    page.locator("header form[action='/logout/'] button").click()
    page.wait_for_url(live_server.url + "/login/")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_codes_and_a_passkey_get_a_person_back_in(page, context, live_server, transactional_db, language):
    from django.contrib.auth.models import User

    from clearinghouse.accounts.models import Passkey
    from clearinghouse.audit.models import AuditEvent

    text = TEXT[language]
    username = f"lin-{language}"
    cdp, authenticator = virtual_authenticator(context, page)

    # --- Sign up and save the codes ----------------------------------------------------------
    page.goto(live_server.url + "/signup/")
    if text["switch_to"]:
        page.get_by_role("button", name=text["switch_to"]).click()
        page.wait_for_url(live_server.url + "/signup/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator('input[value="14-or-over"]').check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/settings/recovery-codes/?welcome=1")
    codes = [item.strip() for item in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert page.get_by_role("button", name="打印恢复码" if language == "zh-hans" else "Print the codes").is_visible()
    assert horizontal_overflow(page) == 0
    screenshot(page, f"recovery-{language}-01-codes-375")
    page.locator("main a.button[href='/']").click()
    page.wait_for_url(live_server.url + "/")

    # --- Add a passkey in settings -------------------------------------------------------------
    page.goto(live_server.url + "/settings/")
    page.locator("#passkey-name").fill("my phone")
    page.locator("[data-passkey-form=register] button").click()
    page.locator("#passkeys .passkey-row").wait_for()
    assert "my phone" in page.locator("#passkeys").inner_text()
    assert Passkey.objects.filter(user__username=username).count() == 1
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    assert horizontal_overflow(page) == 0
    screenshot(page, f"recovery-{language}-02-settings-375")

    # --- Forget the password: back in with a code -------------------------------------------
    log_out(page, live_server)
    page.locator("main a[href='/recover/']").click()
    page.wait_for_url(live_server.url + "/recover/")
    page.locator("#id_username").fill(username)
    page.locator("#id_code").fill(codes[0].lower())
    page.locator("#id_new_password1").fill(NEW)
    page.locator("#id_new_password2").fill(NEW)
    assert horizontal_overflow(page) == 0
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(live_server.url + "/settings/")
    assert text["codes_left_9"] in page.locator("#recovery").inner_text()
    assert User.objects.get(username=username).check_password(NEW)

    # The same code again: refused, and the form comes back empty.
    log_out(page, live_server)
    page.goto(live_server.url + "/recover/")
    page.locator("#id_username").fill(username)
    page.locator("#id_code").fill(codes[0])
    page.locator("#id_new_password1").fill(NEWER)
    page.locator("#id_new_password2").fill(NEWER)
    page.locator("main form button[type=submit]").click()
    assert page.locator("#form-errors").is_visible()
    assert page.locator("#id_username").input_value() == "" and page.locator("#id_code").input_value() == ""
    assert User.objects.get(username=username).check_password(NEW)

    # --- Forget it again: back in with the passkey, no username typed -----------------------
    page.goto(live_server.url + "/login/")
    page.get_by_role("button", name=text["passkey_button"]).click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").inner_text() == text["dashboard"]
    assert AuditEvent.objects.filter(action="auth.passkey_login").count() == 1

    # Right after a passkey login, a new password without the old one …
    page.goto(live_server.url + "/settings/")
    assert page.locator("#id_current_password").count() == 0
    page.locator("#id_new_password1").fill(NEWER)
    page.locator("#id_new_password2").fill(NEWER)
    page.locator("#password form button[type=submit]").click()
    page.wait_for_url(live_server.url + "/settings/")
    assert User.objects.get(username=username).check_password(NEWER)
    assert AuditEvent.objects.get(action="auth.password_changed").details["proof"] == "passkey"
    # … and erasure without it.
    page.goto(live_server.url + "/my-data/erase/")
    assert page.locator("#id_password").count() == 0
    page.locator("#id_understood").check()
    page.locator("main form button.danger").click()
    page.wait_for_url(live_server.url + "/goodbye/")
    assert not User.objects.filter(username=username).exists() and not Passkey.objects.exists()


def test_a_passkey_of_an_erased_or_unknown_account_is_refused(page, context, live_server, transactional_db):
    """A passkey the service does not know (here: made for an account that was erased since)
    is refused with a plain message, audited, and nobody is logged in."""
    from clearinghouse.accounts.services import consumer_register
    from clearinghouse.audit.models import AuditEvent
    from clearinghouse.core.actors import Actor
    from clearinghouse.subjects.services import consumer_erase

    consumer, _ = consumer_register(username="gone-soon", password=PASSWORD, age_confirmed=True, channel="portal")
    virtual_authenticator(context, page)
    page.goto(live_server.url + "/login/")
    page.locator("#id_username").fill("gone-soon")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/settings/")
    page.locator("[data-passkey-form=register] button").click()
    page.locator("#passkeys .passkey-row").wait_for()
    consumer_erase(consumer=consumer, actor=Actor(kind="consumer", id=str(consumer.pseudonym)), channel="portal")

    page.context.clear_cookies()
    page.goto(live_server.url + "/login/")
    page.get_by_role("button", name="Log in with a passkey").click()
    status = page.locator("[data-passkey-login] [data-passkey-status]")
    status.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-passkey-login] [data-passkey-status]').textContent.length > 0")
    assert "This passkey was not accepted" in status.inner_text()
    assert page.url == live_server.url + "/login/"
    assert AuditEvent.objects.filter(action="auth.passkey_refused", details__reason="unknown_passkey").count() == 1
