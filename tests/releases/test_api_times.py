"""The JSON API renders every time in UTC (receipts and exports always did); portal pages
stay in TIME_ZONE (Asia/Shanghai)."""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo

from django.test import Client
from django.utils import timezone

from clearinghouse.consent.models import ConsentEvent
from tests.conftest import grant_body, link_subject
from tests.releases.conftest import PRODUCT

ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def times_in(value, path="") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in times_in(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in times_in(item, f"{path}[{index}]")]
    return [(path, value)] if isinstance(value, str) and ISO_TIME.match(value) else []


def test_every_time_in_the_api_is_utc_and_the_portal_keeps_shanghai(world, make_consumer, django_capture_on_commit_callbacks):
    person = make_consumer("tess")
    consumer = person.client()
    bodies = {"POST /me/links": consumer.post("/api/v1/me/links", {"platform": world.platform.slug}, format="json").json()}
    link_subject(person, world.platform, "tess-at-shop")
    granted = consumer.post("/api/v1/me/consents", grant_body(world.purposes[PRODUCT], world.platform.slug), format="json")
    assert granted.status_code == 201, granted.content
    world.signals([{"consumer": person.consumer, "category": "furniture/sofa", "attribute": "modular", "value": 3}])
    maker = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        release = maker.post("/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": "0.5"}, format="json")
    assert release.status_code == 202, release.content
    bodies |= {
        "POST /me/consents": granted.json(),
        "GET /me/links": consumer.get("/api/v1/me/links").json(),
        "GET /me/consents": consumer.get("/api/v1/me/consents").json(),
        "GET /me/consents/history": consumer.get("/api/v1/me/consents/history").json(),
        "GET /me/purposes": consumer.get("/api/v1/me/purposes").json(),
        "GET /me/privacy-loss": consumer.get("/api/v1/me/privacy-loss").json(),
        "GET /me/export": consumer.get("/api/v1/me/export").json(),
        "GET /releases": maker.get("/api/v1/releases").json(),
        "GET /releases/{id}": maker.get(f"/api/v1/releases/{release.json()['id']}").json(),
        "GET /keys": consumer.get("/api/v1/keys").json(),
    }
    found = [(name + path, text) for name, body in bodies.items() for path, text in times_in(body)]
    named = {path.rsplit(".", 1)[-1] for path, _ in found}
    assert {"expires_at", "linked_at", "created_at", "completed_at", "charged_at", "issued_at", "updated_at"} <= named, named
    not_utc = [(path, text) for path, text in found if not text.endswith(("Z", "+00:00"))]
    assert not_utc == []

    # The API's UTC does not stay behind on the thread for the portal (or anything else).
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"
    browser = Client()
    browser.force_login(person.consumer.user)
    page = browser.get("/history/").content.decode()
    granted_at = ConsentEvent.objects.get(receipt_id=granted.json()["receipt_id"]).created_at
    shanghai, utc = timezone.localtime(granted_at, ZoneInfo("Asia/Shanghai")), timezone.localtime(granted_at, UTC)
    assert f"{shanghai.hour}:{shanghai:%M}" in page
    assert f"{utc.hour}:{utc:%M}" not in page


def test_local_calendar_rules_keep_time_zone_while_the_api_renders_utc():
    from datetime import datetime

    from clearinghouse.audit.selectors import audit_filter_parse
    from clearinghouse.releases.budgets import period_of

    with timezone.override(UTC):  # as during an API request
        # 17:00 UTC on 31 January is 1 February in Shanghai: February's budget.
        assert period_of(datetime(2026, 1, 31, 17, 0, tzinfo=UTC)) == "2026-02"
        since = audit_filter_parse({"since": "2026-01-31"}).since
    assert since == datetime(2026, 1, 31, tzinfo=ZoneInfo("Asia/Shanghai"))
