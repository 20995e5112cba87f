"""The consumer portal in headless Chromium: the whole journey in both languages, a
phone-sized screen, and keyboard-only use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import element_screenshot, horizontal_overflow, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "lantern-orchid-7-quartz"
DESIGN = "c2m-product-design"

# What a person reads, per language (taken from the catalogue so a wording change is one edit).
TEXT = {
    "zh-hans": {
        # The browser asks for English (en-US), so a Chinese reader uses the switch.
        "switch_to": "中文",
        "html_lang": "zh-Hans",
        "dashboard": "我的同意",
        "login": "登录",
        "under_14": "未满 14 周岁不能自己开通账户",
        "granted_done": "已完成：你同意了",
        "withdrawn_done": "我们正在删除它已经发来的数据",
        "copied": "已复制。",
        "history": "记录与凭证",
        "privacy": "隐私消耗",
        "erase": "删除我的账户…",
        "erased": "你的账户已删除",
    },
    "en": {
        "switch_to": None,
        "html_lang": "en",
        "dashboard": "My consents",
        "login": "Log in",
        "under_14": "you cannot open an account on your own if you are under 14",
        "granted_done": "Done: you allowed",
        "withdrawn_done": "we are deleting what it already sent",
        "copied": "Copied.",
        "history": "History and receipts",
        "privacy": "Privacy loss",
        "erase": "Erase my account…",
        "erased": "Your account was erased",
    },
}


@pytest.fixture
def world(transactional_db):
    """The two shipped purposes approved and two platforms, as after `seed_demo`."""
    from clearinghouse.accounts.services import platform_register
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    for code in (DESIGN, "c2m-demand-forecast"):
        purpose_publish(document=purpose_file_read(f"clearinghouse/consent/purposes/{code}.json"), actor=Actor.operator(), approve=True)
    platforms = {}
    for slug, name in (("maomall", "猫猫商城 MaoMall"), ("livebuy", "直播购 LiveBuy")):
        platforms[slug], _ = platform_register(slug=slug, name=name, actor=Actor.operator())
    return platforms


def platform_redeems(platform, code: str, subject_ref: str) -> None:
    """What the platform's own back end does with the code the person typed in."""
    from clearinghouse.accounts.services import platform_link_redeem
    from clearinghouse.core.actors import Actor

    platform_link_redeem(platform=platform, code=code, subject_ref=subject_ref, actor=Actor(kind="platform", id=platform.slug))


def consent_state(username: str, platform: str, purpose: str = DESIGN) -> bool | None:
    from clearinghouse.consent.models import ConsentState

    state = ConsentState.objects.filter(consumer__user__username=username, platform__slug=platform, purpose_code=purpose).first()
    return None if state is None else state.granted


def switch(page, platform: str, action: str, purpose: str = DESIGN):
    return page.locator(f"#purpose-{purpose}-{platform} button[data-action={action}]")


def verify_receipt(path: Path, keys: list[dict]) -> dict:
    from clearinghouse.core.crypto import b64decode, verify_signature

    receipt = json.loads(path.read_text(encoding="utf-8"))
    key = next(k for k in keys if k["id"] == receipt["key_id"])
    assert verify_signature(public_key_raw=b64decode(key["public_key"]), document=receipt["payload"], signature_b64=receipt["signature"])
    return receipt


@pytest.fixture
def browser_context_options():
    return {"viewport": {"width": 1280, "height": 900}, "locale": "en-US", "accept_downloads": True}


# In English the journey runs in the full browser (test_full_browser.py), not here as well:
# the same pages twice in one language is a few seconds of the suite and tells nothing new.
@pytest.mark.parametrize("language", ["zh-hans"])
def test_whole_journey(page, context, live_server, world, language):
    from django.contrib.auth.models import User

    text = TEXT[language]
    username = f"mei-{language}"
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    # --- Sign up: under 14 is refused, 14 or older gets an account --------------------------
    page.goto(live_server.url + "/signup/")
    if text["switch_to"]:
        page.get_by_role("button", name=text["switch_to"]).click()
        page.wait_for_url(live_server.url + "/signup/")
    assert page.locator("html").get_attribute("lang") == text["html_lang"]
    page.locator("#id_username").fill(username)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    assert not page.locator("input[type=radio]:checked").count()
    page.locator('input[value="under-14"]').check()
    page.locator("main form button[type=submit]").click()
    assert text["under_14"] in page.locator("#id_age_error").inner_text()
    assert not User.objects.filter(username=username).exists()
    assert page.locator("#id_username").input_value() == ""  # "nothing you typed was kept"
    assert not page.locator("input[type=radio]:checked").count()
    screenshot(page, f"journey-{language}-01-under-14")

    page.locator("#id_username").fill(username)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator('input[value="14-or-over"]').check()
    page.locator("main form button[type=submit]").click()
    # First the recovery codes, shown once (tests/browser/test_recovery.py goes further).
    page.wait_for_url(live_server.url + "/settings/recovery-codes/?welcome=1")
    assert page.locator("#recovery-codes li").count() == 10
    page.locator("main a.button[href='/']").click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").inner_text() == text["dashboard"]
    assert User.objects.filter(username=username, consumer__isnull=False).exists()

    # --- Log out and back in ------------------------------------------------------------------
    page.locator("header form[action='/logout/'] button").click()
    page.wait_for_url(live_server.url + "/login/")
    assert page.locator("h1").inner_text() == text["login"]
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(live_server.url + "/")

    # --- Link two platforms with link codes ------------------------------------------------
    for slug in ("maomall", "livebuy"):
        page.goto(live_server.url + "/platforms/")
        page.locator(f"#platform-{slug} button").click()
        code = page.locator("#link-code").inner_text().strip()
        assert len(code.replace("-", "")) == 10
        assert page.locator("#issued").inner_text().count(world[slug].name) >= 2  # says where the code works
        page.get_by_role("button", name="复制关联码" if language == "zh-hans" else "Copy the code").click()
        page.wait_for_function("() => document.getElementById('copy-status').textContent.length > 0")
        assert page.locator("#copy-status").inner_text() == text["copied"]
        assert page.evaluate("() => navigator.clipboard.readText()") == code
        if slug == "maomall":
            screenshot(page, f"journey-{language}-02-link-code")
        platform_redeems(world[slug], code, subject_ref=f"{username}@{slug}")
    page.goto(live_server.url + "/platforms/")
    assert page.locator("#platform-maomall button").inner_text().startswith("解除关联" if language == "zh-hans" else "Remove link")

    # --- Grant on two platforms, withdraw on one ----------------------------------------------
    page.goto(live_server.url + "/")
    for slug in ("maomall", "livebuy"):
        switch(page, slug, "grant").click()
        page.wait_for_load_state()
        assert text["granted_done"] in page.locator("#consent-done").inner_text()
        assert consent_state(username, slug) is True
    assert page.locator(f"#purpose-{DESIGN}-maomall").get_attribute("data-state") == "on"
    screenshot(page, f"journey-{language}-03-granted")
    switch(page, "maomall", "withdraw").click()
    page.wait_for_load_state()
    assert text["withdrawn_done"] in page.locator("#consent-done").inner_text()
    assert consent_state(username, "maomall") is False and consent_state(username, "livebuy") is True
    assert page.locator(f"#purpose-{DESIGN}-maomall").get_attribute("data-state") == "off"

    # --- History: download a receipt and verify it with the published key -------------------
    page.get_by_role("link", name=text["history"], exact=True).click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 3
    with page.expect_download() as download_info:
        rows.first.locator("a[download]").click()
    receipt_path = Path(download_info.value.path())
    keys = page.request.get(live_server.url + "/api/v1/keys").json()["keys"]
    receipt = verify_receipt(receipt_path, keys)
    assert receipt["payload"]["state"] == "withdrawn" and receipt["payload"]["collection_platform"] == "maomall"
    assert receipt["payload"]["language"] == language
    screenshot(page, f"journey-{language}-04-history")

    # --- Privacy loss ----------------------------------------------------------------------------
    page.get_by_role("link", name=text["privacy"], exact=True).click()
    assert page.locator("h1").inner_text() == text["privacy"]
    chart = page.locator("figure.chart-box svg.chart[role=img]")
    assert chart.count() == 1 and chart.locator("title").text_content()
    assert page.locator("figure.chart-box details.numbers table").count() == 1
    screenshot(page, f"journey-{language}-05-privacy-loss")

    # --- My data: export, then erase with confirmation --------------------------------------
    page.goto(live_server.url + "/my-data/")
    with page.expect_download() as download_info:
        page.locator("a[href='/my-data/export.json']").click()
    exported = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert exported["account"]["username"] == username
    assert {(c["platform"], c["granted"]) for c in exported["consents"]} == {("maomall", False), ("livebuy", True)}
    assert len(exported["consent_history"]) == 3

    page.get_by_role("link", name=text["erase"]).click()
    page.wait_for_url(live_server.url + "/my-data/erase/")
    assert not page.locator("#id_understood").is_checked()
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()  # not ticked: refused, nothing erased
    assert User.objects.filter(username=username).exists()
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_understood").check()
    screenshot(page, f"journey-{language}-06-erase-confirm")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(live_server.url + "/goodbye/")
    assert page.locator("h1").inner_text() == text["erased"]
    assert not User.objects.filter(username=username).exists()
    assert consent_state(username, "livebuy") is None  # the state row now belongs to a bare pseudonym


@pytest.fixture
def linked_person(world, make_consumer):
    from clearinghouse.accounts.services import link_code_issue
    from clearinghouse.core.actors import Actor

    handle = make_consumer("lin")
    for slug, platform in world.items():
        code, _ = link_code_issue(
            consumer=handle.consumer, platform_slug=slug, actor=Actor(kind="consumer", id=str(handle.consumer.pseudonym))
        )
        platform_redeems(platform, code, subject_ref=f"lin@{slug}")
    return handle


def test_phone_screen_has_no_horizontal_scroll(browser, live_server, linked_person, login_as, monkeypatch):
    from clearinghouse.consent.models import Purpose
    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor
    from tests.portal.statements import sample_statement

    purpose = Purpose.objects.get(code=DESIGN, status="approved")
    consent_change(
        consumer=linked_person.consumer,
        request=ConsentRequest(
            purpose_code=DESIGN,
            platform_slug="maomall",
            action="grant",
            version=purpose.version,
            notice_digest=purpose.notice_digests["zh-hans"],
        ),
        channel="portal",
        actor=Actor(kind="consumer", id=str(linked_person.consumer.pseudonym)),
    )
    # Charges as the release engine reports them, so the chart and tables have content.
    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: sample_statement())
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN"
    )
    try:
        page = context.new_page()
        page.goto(live_server.url + "/login/")
        assert horizontal_overflow(page) <= 0
        login_as(page, linked_person.consumer.user)
        for path, name in (
            ("/", "dashboard"),
            ("/platforms/", "platforms"),
            ("/history/", "history"),
            ("/privacy-loss/", "privacy-loss"),
            ("/my-data/", "my-data"),
            ("/my-data/erase/", "erase"),
            ("/verify/", "verify"),
        ):
            page.goto(live_server.url + path)
            assert horizontal_overflow(page) <= 0, path
            screenshot(page, f"phone-375-{name}")
            if name == "privacy-loss":
                chart = page.locator("figure.chart-box")
                box = page.locator("figure.chart-box svg.chart").bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] > 300 and box["height"] > 200
                element_screenshot(chart, "phone-375-privacy-loss-chart")
        page.goto(live_server.url + "/platforms/")
        page.locator("#platform-maomall button").click()  # remove the link, then get a code
        page.locator("#platform-maomall button").click()
        assert page.locator("#link-code").is_visible()
        assert horizontal_overflow(page) <= 0
        screenshot(page, "phone-375-link-code", full_page=False)
    finally:
        context.close()


def test_keyboard_only_grant_and_withdraw(page, live_server, linked_person, login_as):
    login_as(page, linked_person.consumer.user)
    page.goto(live_server.url + "/")

    def tab_to(locator, limit: int = 120) -> None:
        target = locator.element_handle()
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(el) => document.activeElement === el", target):
                # The focused control must show a visible focus ring.
                assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
                return
        raise AssertionError("could not reach the control with the Tab key")

    tab_to(switch(page, "livebuy", "grant"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert consent_state("lin", "livebuy") is True
    screenshot(page, "keyboard-after-grant", full_page=False)

    tab_to(switch(page, "livebuy", "withdraw"))
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert page.locator("#consent-done").is_visible()
    assert consent_state("lin", "livebuy") is False


UNLABELLED_CONTROLS_JS = """
() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]'))
  .filter((el) => el.offsetParent !== null || el.getClientRects().length)
  .filter((el) => {
    const named = (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby');
    const labelled = el.labels && Array.from(el.labels).some((l) => l.textContent.trim());
    const text = ['BUTTON', 'A'].includes(el.tagName) && el.textContent.trim();
    return !(named || labelled || text);
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""


def test_every_control_on_every_page_has_a_label(page, live_server, linked_person, login_as, log_in_with_form):
    for path in ("/login/", "/signup/", "/verify/"):
        page.goto(live_server.url + path)
        assert page.evaluate(UNLABELLED_CONTROLS_JS) == [], path
    login_as(page, linked_person.consumer.user)
    for path in ("/", "/platforms/", "/history/", "/privacy-loss/", "/my-data/", "/my-data/erase/"):
        page.goto(live_server.url + path)
        assert page.evaluate(UNLABELLED_CONTROLS_JS) == [], path
        assert page.locator("h1").count() == 1, path


def test_reloading_after_getting_a_link_code_neither_resends_nor_shows_it_again(page, live_server, world, make_consumer, login_as):
    from clearinghouse.accounts.models import LinkCode

    handle = make_consumer("ren")
    login_as(page, handle.consumer.user)
    page.goto(live_server.url + "/platforms/")
    page.locator("#platform-maomall button").click()
    page.wait_for_url(live_server.url + "/platforms/#issued")
    code = page.locator("#link-code").inner_text().strip()
    assert len(code.replace("-", "")) == 10

    # Reloading is a plain GET: no "resend the form?" and no new code; the box is gone.
    page.reload()
    assert page.url == live_server.url + "/platforms/#issued"
    assert page.locator("#issued").count() == 0
    assert LinkCode.objects.filter(consumer=handle.consumer).count() == 1
    platform_redeems(world["maomall"], code, subject_ref="ren@maomall")  # the code shown is still the valid one

    # The old form address, opened directly, shows the list instead of a blank error page.
    response = page.goto(live_server.url + "/platforms/code/")
    assert response.status == 200 and page.url == live_server.url + "/platforms/"
    assert (
        page.locator("#platform-maomall").inner_text().count("Linked") + page.locator("#platform-maomall").inner_text().count("已关联") == 1
    )


def statement_with_long_names():
    """The sample statement with a bilingual manufacturer name and an ε of 0.70, as the
    tester saw them (a name with a space and CJK characters, a number with a trailing 0)."""
    from tests.portal.statements import sample_statement

    statement = sample_statement()
    for charge in statement["charges"]:
        if charge["manufacturer"] == "ErgoChair":
            charge["manufacturer"] = "ErgoChair 人体工学椅"
        if charge["epsilon"] == "0.75":
            charge["epsilon"] = "0.70"
    return statement


# How many lines the text of `el` (or the part from `start` to `end`) occupies on screen.
LINES_JS = """
([el, start, end]) => {
  const text = Array.from(el.childNodes).find((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim())
    || el.querySelector('.num').firstChild;
  const range = document.createRange();
  const from = start === null ? 0 : text.textContent.indexOf(start);
  range.setStart(text, from);
  range.setEnd(text, end === null ? text.textContent.length : from + end.length);
  return new Set(Array.from(range.getClientRects()).filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
}
"""


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_privacy_loss_numbers_stay_on_one_line_and_names_break_only_between_words(
    page, live_server, linked_person, login_as, monkeypatch, language
):
    from django.conf import settings

    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: statement_with_long_names())
    login_as(page, linked_person.consumer.user)
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    page.goto(live_server.url + "/privacy-loss/")
    screenshot(page, f"privacy-loss-1280-{language}")

    epsilon_cells = page.locator("table.ledger td[data-label='ε']")
    assert epsilon_cells.count() == 5
    for index in range(epsilon_cells.count()):
        cell = epsilon_cells.nth(index)
        assert page.evaluate(LINES_JS, [cell.element_handle(), None, None]) == 1, cell.inner_text()
    assert "0.70" in epsilon_cells.first.inner_text()
    # The totals: spent, limit and what is left, each "ε 2.25" on one line.
    totals = page.locator("table.ledger").first.locator("tbody td:not(:first-child)")
    assert totals.count() == 6
    for index in range(totals.count()):
        assert page.evaluate(LINES_JS, [totals.nth(index).element_handle(), None, None]) == 1, totals.nth(index).inner_text()

    makers = page.locator("table.ledger td.name", has_text="ErgoChair")
    assert makers.count() == 3
    for word in ("ErgoChair", "人体工学椅"):
        assert page.evaluate(LINES_JS, [makers.first.element_handle(), word, word]) == 1, word


SCREEN_FONT_SIZES_JS = """
() => Array.from(document.querySelectorAll('figure.chart-box svg.chart text')).map((t) => [
  t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a,
])
"""


def test_chart_labels_stay_readable_on_a_375px_phone(browser, live_server, linked_person, login_as, monkeypatch):
    from tests.portal.statements import sample_statement

    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: sample_statement())
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = context.new_page()
        login_as(page, linked_person.consumer.user)
        page.goto(live_server.url + "/privacy-loss/")
        sizes = page.evaluate(SCREEN_FONT_SIZES_JS)
        assert len(sizes) >= 6  # y ticks, dates, the ε axis label, the purposes and the limit
        assert "上限 6.00" in [text for text, _size in sizes] and any("帮助厂家" in text for text, _size in sizes)
        small = [(text, round(size, 1)) for text, size in sizes if size < 12]
        assert small == []
        assert horizontal_overflow(page) <= 0
        element_screenshot(page.locator("figure.chart-box"), "phone-375-chart-labels")
    finally:
        context.close()


# For each pixel column along the first line (a purpose with nothing spent, at 0), whether a
# pixel of `colour` shows within a few pixels of it, in a screenshot of the chart.
COLOUR_ALONG_LINE_JS = """
async ([png, colour]) => {
  const svg = document.querySelector('figure.chart-box svg.chart');
  const frame = svg.getBoundingClientRect();
  const line = svg.querySelector('path[clip-path][stroke="#0b4f8a"]').getBoundingClientRect();
  const image = new Image();
  image.src = 'data:image/png;base64,' + png;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const is = {
    blue: (r, g, b) => b > 100 && b - r > 70 && g < 110,
    orange: (r, g, b) => r > 140 && g > 60 && g < 130 && b < 60,
  }[colour];
  const middle = Math.round(line.top + line.height / 2 - frame.top);
  let seen = 0, columns = 0;
  for (let x = Math.ceil(line.left - frame.left) + 2; x < Math.floor(line.right - frame.left) - 2; x++) {
    columns++;
    for (let y = middle - 6; y <= middle + 6; y++) {
      const i = (y * canvas.width + x) * 4;
      if (is(data[i], data[i + 1], data[i + 2])) { seen++; break; }
    }
  }
  return seen / columns;
}
"""


def test_two_purposes_with_the_same_spending_are_both_visible(page, live_server, linked_person, login_as):
    """Nothing spent on either purpose: both lines lie on 0, and the first (blue, solid)
    must still show along its whole length, not only through the gaps of the orange dashes."""
    import base64

    login_as(page, linked_person.consumer.user)
    page.goto(live_server.url + "/privacy-loss/")
    lines = page.locator(
        'figure.chart-box svg.chart path[clip-path][stroke="#0b4f8a"], figure.chart-box svg.chart path[clip-path][stroke="#b35c00"]'
    )
    assert lines.count() == 2
    png = base64.b64encode(page.locator("figure.chart-box svg.chart").screenshot()).decode()
    assert page.evaluate(COLOUR_ALONG_LINE_JS, [png, "blue"]) > 0.95
    assert page.evaluate(COLOUR_ALONG_LINE_JS, [png, "orange"]) > 0.5


def grant(handle, slug: str, purpose_code: str = DESIGN) -> None:
    from clearinghouse.consent.models import Purpose
    from clearinghouse.consent.services import ConsentRequest, consent_change
    from clearinghouse.core.actors import Actor

    purpose = Purpose.objects.get(code=purpose_code, status="approved")
    consent_change(
        consumer=handle.consumer,
        request=ConsentRequest(
            purpose_code=purpose_code,
            platform_slug=slug,
            action="grant",
            version=purpose.version,
            notice_digest=purpose.notice_digests["zh-hans"],
        ),
        channel="portal",
        actor=Actor(kind="consumer", id=str(handle.consumer.pseudonym)),
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_allow_and_withdraw_buttons_are_the_same_size(page, live_server, linked_person, login_as, language):
    """Withdrawing must be as easy and as prominent as allowing: in both languages the
    Withdraw button (shown where consent is on) is exactly the size of Allow."""
    from django.conf import settings

    grant(linked_person, "maomall")
    login_as(page, linked_person.consumer.user)
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}])
    page.goto(live_server.url + "/")
    allow = switch(page, "livebuy", "grant").bounding_box()
    withdraw = switch(page, "maomall", "withdraw").bounding_box()
    assert abs(allow["width"] - withdraw["width"]) < 0.5, (allow, withdraw)
    assert abs(allow["height"] - withdraw["height"]) < 0.5, (allow, withdraw)
    # The same look too: the same colours and weight, neither nudged.
    style = "(el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).color, getComputedStyle(el).fontWeight, getComputedStyle(el).fontSize]"
    assert switch(page, "livebuy", "grant").evaluate(style) == switch(page, "maomall", "withdraw").evaluate(style)
    element_screenshot(page.locator(f"#purpose-{DESIGN}"), f"allow-withdraw-{language}")
