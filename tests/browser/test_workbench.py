"""The manufacturers' workbench in headless Chromium: an analyst logs in, builds a report and
watches its plan change with the inputs, runs it, reads chart and table, downloads the CSV
and sees the signature checked, in both languages; by keyboard alone; without JavaScript;
and every page on a 375 px phone without sideways scrolling."""

from __future__ import annotations

import pytest

from tests.browser.conftest import horizontal_overflow, screenshot
from tests.workbench.conftest import PASSWORD, make_staff, seeded, staff, world  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

TEXT = {
    "en-US": {
        "title": "Log in to the workbench",
        "ask": "Ask a question",
        "run": "Run: spend the cost",
        "check": "Check the signature now",
        "valid": "Signature valid",
        "feature": "Lumbar support",
    },
    "zh-CN": {
        "title": "登录工作台",
        "ask": "提问",
        "run": "运行：花掉这笔成本",
        "check": "现在核验签名",
        "valid": "签名有效",
        "feature": "腰部支撑",
    },
}


def log_in(page, base: str) -> None:
    page.goto(base + "/workbench/login/")
    page.locator("#id_username").fill("erin")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(base + "/workbench/")


def plan_text(page) -> str:
    return page.locator("[data-plan]").inner_text()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_analyst_plans_runs_reads_downloads_and_checks_a_report(browser, live_server, staff, locale, tmp_path):  # noqa: F811
    text = TEXT[locale]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/workbench/login/")
        assert page.locator("h1").inner_text() == text["title"]
        log_in(page, live_server.url)
        assert text["feature"] in page.locator("main").text_content()  # the catalogue in words
        page.get_by_role("link", name=text["ask"]).first.click()
        page.wait_for_url(live_server.url + "/workbench/ask/")

        # Another purpose offers other choices: the form comes back with them (and a plan).
        with page.expect_navigation():
            page.locator("#id_purpose").select_option("c2m-product-design")
        assert page.locator("input[name=tables][value=age_band]").count() == 1
        # The plan follows the inputs as they change, before anything is spent.
        page.locator("#id_epsilon").fill("0.5")
        page.wait_for_function(
            "() => document.querySelector('[data-plan-epsilon]') && document.querySelector('[data-plan-epsilon]').textContent.includes('0.5')"
        )
        cells_before = page.locator("[data-plan-cells]").inner_text()
        wide = page.locator("[data-plan-half-width]").first.inner_text()
        page.locator("#id_epsilon").fill("1")
        page.wait_for_function("() => document.querySelector('[data-plan-epsilon]').textContent.includes('ε 1')")
        narrow = page.locator("[data-plan-half-width]").first.inner_text()
        assert float(narrow.strip("± ")) < float(wide.strip("± "))
        # One more table: more cells.
        page.locator("input[name=tables][value=age_band]").check()
        page.wait_for_function(f"() => document.querySelector('[data-plan-cells]').textContent.trim() !== '{cells_before}'")
        assert page.get_by_role("button", name=text["run"]).is_enabled()
        screenshot(page, f"workbench-plan-{locale}")

        page.get_by_role("button", name=text["run"]).click()
        page.wait_for_url(f"{live_server.url}/workbench/jobs/**")
        main = page.locator("main")
        assert main.locator("svg[role=img]").count() >= 2  # a chart per table
        assert main.locator("table.result-table").count() >= 2
        assert text["feature"] in main.locator("table.result-table").first.inner_text()
        screenshot(page, f"workbench-result-{locale}")

        with page.expect_download() as download:
            page.locator("[data-download-csv]").click()
        path = tmp_path / "answer.csv"
        download.value.save_as(path)
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert text["feature"] in raw.decode("utf-8-sig").splitlines()[1]

        page.get_by_role("button", name=text["check"]).click()
        page.wait_for_function("() => document.querySelector('[data-receipt-result]').textContent.length > 0")
        result = page.locator("[data-receipt-result]")
        assert result.get_attribute("data-outcome") == "ok" and result.inner_text().startswith(text["valid"])
    finally:
        context.close()


def test_the_workbench_by_keyboard_alone(browser, live_server, staff):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/workbench/login/")
        # Tab order: skip link, brand, language switch, the menu, then the form's fields.
        seen = []
        for _ in range(12):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "() => [document.activeElement.id || document.activeElement.className, getComputedStyle(document.activeElement).outlineStyle]"
            )
            seen.append(focused[0])
            assert focused[1] == "solid", focused  # the focus ring shows
            if focused[0] == "id_username":
                break
        assert seen[0] == "skip-link" and seen[-1] == "id_username"
        page.keyboard.type("erin")
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")  # Enter submits
        page.wait_for_url(live_server.url + "/workbench/")

        page.goto(live_server.url + "/workbench/ask/")
        # Arrow keys change the kind; the form comes back with that kind's fields and the
        # keyboard where it was.
        page.locator("input[name=kind][value=report]").focus()
        with page.expect_navigation():
            page.keyboard.press("ArrowDown")
        assert page.evaluate("() => document.activeElement.value") == "release"
        assert page.locator("#id_dimensions_0").count() == 1  # "Split by" belongs to a single table
        with page.expect_navigation():
            page.keyboard.press("ArrowUp")
        assert page.evaluate("() => document.activeElement.value") == "report"
        page.locator("#id_epsilon").focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.7")
        page.keyboard.press("Enter")  # the first button, "Plan", is the form's default
        page.wait_for_function(
            "() => document.querySelector('[data-plan-epsilon]') && document.querySelector('[data-plan-epsilon]').textContent.includes('0.7')"
        )
        # Tab on from the precision fields to "Run", and press it.
        page.locator("#id_half_width").focus()
        for _ in range(4):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.hasAttribute('data-run')"):
                break
        assert page.evaluate("() => document.activeElement.hasAttribute('data-run')")
        assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/workbench/jobs/**")
        assert page.locator("table.result-table").count() >= 1
    finally:
        context.close()


def test_without_javascript_the_plan_button_and_run_still_work(browser, live_server, staff):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        log_in(page, live_server.url)
        page.goto(live_server.url + "/workbench/ask/")
        assert page.get_by_role("button", name="Run: spend the cost").is_disabled()
        page.get_by_role("button", name="Plan (free)").click()
        page.wait_for_load_state()
        assert "± per cell" in plan_text(page)
        page.get_by_role("button", name="Run: spend the cost").click()
        page.wait_for_url(f"{live_server.url}/workbench/jobs/**")
        assert page.locator("table.result-table").count() >= 1
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_every_workbench_page_fits_a_375px_phone(browser, live_server, staff, locale):  # noqa: F811
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale=locale)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        log_in(page, live_server.url)
        page.goto(live_server.url + "/workbench/ask/")
        page.locator("form[data-question-form] button[value=plan]").click()
        page.wait_for_load_state()
        page.locator("form[data-question-form] [data-run]").click()
        page.wait_for_url(f"{live_server.url}/workbench/jobs/**")
        job = page.url
        for path in ("/workbench/", "/workbench/ask/", job, "/workbench/jobs/", "/workbench/budget/"):
            page.goto(path if path.startswith("http") else live_server.url + path)
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
            assert horizontal_overflow(page) <= 0, path
            if path == job:
                screenshot(page, f"workbench-result-375-{locale}")
        screenshot(page, f"workbench-budget-375-{locale}")
    finally:
        context.close()
