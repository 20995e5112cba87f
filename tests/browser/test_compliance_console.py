"""The compliance console in headless Chromium: an officer logs in, approves a purpose with
its impact assessment, browses the audit log by keyboard, exports and verifies it, reads
every report (charts checked on a screenshot) and downloads the record of processing."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from tests.browser.conftest import element_screenshot, horizontal_overflow, screenshot, tables_wider_than_their_box
from tests.conftest import SavedWorld, officer_make

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world_saved(django_db_setup, django_db_blocker):
    """The world, built and committed once for the module (tests/conftest.py's SavedWorld)."""
    saved = SavedWorld(world_build, django_db_blocker)
    yield saved
    saved.drop(django_db_blocker)


@pytest.fixture
def world(world_saved, transactional_db):
    return world_saved.restore()


def world_build():
    """Both purposes approved, one new draft, and a log with something in every report."""
    from clearinghouse.audit.services import audit_checkpoint_sign, audit_record
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    officer = officer_make()
    for code in ("c2m-product-design", "c2m-demand-forecast"):
        purpose_publish(document=purpose_file_read(f"clearinghouse/consent/purposes/{code}.json"), actor=Actor.operator(), approve=True)
    draft = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json") | {"version": 2}
    purpose_publish(document=draft, actor=Actor.operator())
    subject = "5b2c0a5e-0000-4000-8000-000000000001"

    def emit(action, kind="system", actor_id="tests", target="", outcome="ok", **details):
        audit_record(actor=Actor(kind=kind, id=actor_id), action=action, target=target, outcome=outcome, details=details)

    for n in range(6):
        emit("consent.granted", "consumer", subject, "purpose:c2m-product-design@platform:shop-p", subject=subject, n=n)
    emit("consent.withdrawn", "consumer", subject, "purpose:c2m-product-design@platform:shop-p", subject=subject)
    for n in range(3):
        emit("intake.batch", "platform", "shop-p", accepted=100, duplicates=0, rejected={"consent_required": 3 + n, "not_necessary": n})
    emit("platform.cross_access_blocked", "platform", "shop-q", outcome="denied", object="intake_batch", owner="shop-p")
    emit(
        "release.refused", "manufacturer", "chairco", outcome="denied", code="budget_exhausted", purpose="c2m-product-design", epsilon="0.5"
    )
    emit("budget.allocated", manufacturer="chairco", purpose="c2m-product-design", period="2026-11", epsilon="3.0")
    emit(
        "budget.reserved",
        release_id="r1",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
        period="2026-11",
    )
    emit(
        "release.completed",
        target="release:r1",
        release_id="r1",
        manufacturer="chairco",
        purpose="c2m-product-design",
        measure="consumers",
        epsilon="0.5",
    )
    emit("retention.purged", target="purpose:c2m-product-design@1", purpose="c2m-product-design", signals=40)
    emit(
        "erasure.completed",
        target="platform:shop-p",
        reason="withdrawal",
        subject=subject,
        purpose="c2m-product-design",
        signals=7,
        latency_ms=850,
    )
    emit("export.completed", "consumer", subject, channel="portal")
    for n in range(55):
        emit("test.filler", n=n)
    audit_checkpoint_sign()
    return {"officer": officer, "subject": subject}


def english(page):
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": page.base_url}])


def test_officer_logs_in_and_lands_on_the_console_in_chinese_then_english(page, world, log_in_with_form):
    log_in_with_form(page, world["officer"].username, world["officer"].password)
    assert page.url.endswith("/compliance/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("heading", name="合规控制台").is_visible()
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Compliance console").is_visible()
    assert horizontal_overflow(page) == 0


def test_purpose_approval_requires_an_impact_assessment(page, world, login_as):
    login_as(page, world["officer"].consumer)
    english(page)
    page.goto(page.base_url + "/compliance/purposes/")
    page.get_by_role("heading", name="Waiting for approval").wait_for()
    page.locator("table").first.get_by_role("link", name="Help manufacturers design products you want").click()  # the draft
    assert "v2" in page.locator("h1").inner_text()
    field = page.get_by_label("Personal-information impact assessment summary")
    field.fill("too short but long?")  # 19 characters: the browser's own check stops it
    page.get_by_role("button", name="Approve this version").click()
    assert "v2" in page.locator("h1").inner_text() and page.locator(".state.draft").is_visible()
    field.evaluate("element => element.removeAttribute('minlength')")  # server-side check too
    page.get_by_role("button", name="Approve this version").click()
    page.wait_for_load_state()
    assert "at least 20 characters" in page.locator(".errorlist").inner_text()
    assert page.get_by_label("Personal-information impact assessment summary").get_attribute("aria-invalid") == "true"
    summary = "Version 2 keeps the same fields; aggregates only; consumer epsilon cap unchanged; residual risk low."
    page.get_by_label("Personal-information impact assessment summary").fill(summary)
    page.get_by_role("button", name="Approve this version").click()
    page.wait_for_load_state()
    assert "Approved c2m-product-design version 2" in page.locator(".messages").inner_text()
    assert page.locator(".state.on").inner_text() == "approved"
    assert summary in page.locator("main").inner_text()
    assert world["officer"].username in page.locator("main").inner_text()
    screenshot(page, "console-purpose-approved")


def test_audit_browser_by_keyboard_alone(page, world, login_as):
    login_as(page, world["officer"].consumer)
    english(page)
    page.goto(page.base_url + "/compliance/audit/")
    # Tab from the top of the page to the outcome filter, choose "denied" with the arrow keys.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "outcome":
            break
    assert page.evaluate("document.activeElement.id") == "outcome"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # any -> ok -> denied
    assert page.locator("#outcome").input_value() == "denied"
    for _ in range(15):  # date fields take a Tab per part (year, month, day)
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Apply filters":
            break
    assert page.evaluate("document.activeElement.textContent.trim()") == "Apply filters"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "outcome=denied" in page.url
    rows = page.locator("table.events tbody tr")
    assert rows.count() == 2  # the blocked cross access and the refused release
    # On to the first event link (past the header, menu, filters and export) and open it.
    for _ in range(50):
        page.keyboard.press("Tab")
        if (page.evaluate("document.activeElement.getAttribute('aria-label')") or "").startswith("Event "):
            break
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert label.endswith("release.refused")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/compliance/audit/" in page.url and "release.refused" in page.locator("h1").inner_text()
    # Older/newer pages are links too, reachable the same way (the whole log has 73+ events).
    page.goto(page.base_url + "/compliance/audit/")
    older = page.get_by_role("link", name="Older →")
    older.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "before=" in page.url and page.get_by_role("link", name="← Newer").is_visible()


def test_export_and_verify_from_the_console(page, world, login_as, tmp_path):
    from clearinghouse.core.crypto import published_keys
    from tests.audit.conftest import load_offline_verifier

    login_as(page, world["officer"].consumer)
    english(page)
    page.goto(page.base_url + "/compliance/auditor/")
    with page.expect_download() as checkpoint_download:
        page.get_by_role("link", name="The latest signed checkpoint").click()
    with page.expect_download() as export_download:
        page.get_by_role("link", name="The export of events 1 to").click()
    checkpoint = json.loads(Path(checkpoint_download.value.path()).read_text())
    lines = Path(export_download.value.path()).read_text().splitlines()
    offline = load_offline_verifier()
    summary = offline.verify_log(lines, [checkpoint], offline.load_keys({"keys": published_keys()}))
    assert summary["events"] == checkpoint["payload"]["tree_size"]

    page.goto(page.base_url + "/compliance/verify/")
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_load_state()
    result = page.locator("#verify-result")
    result.wait_for()
    assert "The log is intact" in result.inner_text()
    screenshot(page, "console-verified")


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Rows of RGB(A) pixels of a PNG (8-bit, non-interlaced, as Chromium writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, up_left = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 255
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def _palette_pixels(png: bytes) -> dict[str, int]:
    """How many pixels show each chart colour (bars and lines are drawn in these)."""
    from clearinghouse.charts import PALETTE

    colours = {tuple(int(code[i : i + 2], 16) for i in (1, 3, 5)): code for code in PALETTE}
    width, channels, rows = _png_pixels(png)
    counts: dict[str, int] = {}
    for row in rows:
        for x in range(width):
            pixel = tuple(row[x * channels : x * channels + 3])
            if pixel in colours:
                counts[colours[pixel]] = counts.get(colours[pixel], 0) + 1
    return counts


@pytest.mark.parametrize(
    "slug, heading, colours",
    [
        ("consent", "Consent grants and withdrawals", 2),  # granted and withdrawn bars
        ("releases", "Releases register", 1),
        ("budget", "Budget ledger", 3),  # cap, allocated, spent
        ("refusals", "Refused and blocked attempts", 4),  # four lines
        ("retention", "Retention purges and erasures", 2),
        ("requests", "Data-subject requests", 2),
    ],
)
def test_every_report_renders_its_chart(page, world, login_as, slug, heading, colours):
    login_as(page, world["officer"].consumer)
    english(page)
    page.goto(page.base_url + f"/compliance/reports/{slug}/")
    assert page.get_by_role("heading", name=heading).first.is_visible()
    chart = page.locator("svg.chart").first
    chart.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    assert chart.get_attribute("role") == "img" and page.locator("svg.chart title").first.text_content()
    png = chart.screenshot()
    (Path(screenshot(page, f"console-report-{slug}")).parent / f"console-chart-{slug}.png").write_bytes(png)
    drawn = _palette_pixels(png)
    assert len([colour for colour, count in drawn.items() if count >= 20]) >= colours, drawn
    assert horizontal_overflow(page) == 0
    # A table wider than its box hides its last columns behind a scroll bar nobody notices.
    assert tables_wider_than_their_box(page) == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_budget_ledger_shows_every_column_on_a_desktop_and_scrolls_in_its_box_on_a_phone(
    browser, live_server, world, login_as, language
):
    for width in (1280, 375):
        context = browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            page.base_url = live_server.url
            login_as(page, world["officer"].consumer)
            page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
            page.goto(live_server.url + "/compliance/reports/budget/")
            releases = page.locator(".table-scroll table thead th").last
            assert releases.inner_text() == ("Releases" if language == "en" else "发布次数")
            if width == 1280:
                assert tables_wider_than_their_box(page) == [], language
                box = page.locator(".table-scroll").bounding_box()
                header = releases.bounding_box()
                assert header["x"] + header["width"] <= box["x"] + box["width"] + 0.5  # the last column is in view
            assert horizontal_overflow(page) == 0, (language, width)
            screenshot(page, f"console-budget-{language}-{width}")
        finally:
            context.close()


def test_reports_in_chinese_and_the_record_of_processing_downloads(page, world, login_as):
    login_as(page, world["officer"].consumer)
    page.goto(page.base_url + "/compliance/reports/")
    assert page.get_by_role("link", name="同意的授予与撤回").is_visible()
    page.get_by_role("link", name="个人信息处理活动记录").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="个人信息处理活动记录", exact=True).is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    assert {item["purpose"] for item in document["activities"]} == {"c2m-product-design", "c2m-demand-forecast"}
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 CSV（电子表格）").click()
    assert Path(download.value.path()).read_text(encoding="utf-8-sig").startswith("purpose,version,status")


def test_a_consumer_cannot_open_the_console(page, world, login_as, make_consumer):
    consumer = make_consumer("curious")
    login_as(page, consumer.consumer.user)
    english(page)
    response = page.goto(page.base_url + "/compliance/audit/")
    assert response.status == 403
    assert page.get_by_role("heading", name="Compliance officers only").is_visible()


CHART_TEXT_SIZES_JS = """
(chart) => Array.from(chart.querySelectorAll('text')).map((t) => [
  t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a,
])
"""


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_report_chart_fits_a_375px_phone_with_readable_text(browser, live_server, world, login_as, language):
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = context.new_page()
        page.base_url = live_server.url
        login_as(page, world["officer"].consumer)
        page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        for slug in ("consent", "releases", "budget", "refusals", "retention", "requests"):
            page.goto(live_server.url + f"/compliance/reports/{slug}/")
            chart = page.locator("figure.chart-box svg.chart").first
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] > 280 and box["height"] > 150, (slug, box)
            assert chart.get_attribute("role") == "img" and chart.locator("title").text_content()
            assert horizontal_overflow(page) <= 0, slug
            sizes = page.evaluate(CHART_TEXT_SIZES_JS, chart.element_handle())
            assert sizes and min(size for _text, size in sizes) >= 11.5, (slug, sizes)
            screenshot(page, f"phone-375-console-{slug}-{language}")
            element_screenshot(chart, f"phone-375-console-chart-{slug}-{language}")
    finally:
        context.close()
