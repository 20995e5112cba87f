from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from django.db import connection
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith(("postgres://", "postgresql://")):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL pointing at PostgreSQL")
        if not os.environ.get("REDIS_URL"):
            raise pytest.UsageError("REQUIRE_SERVICES=1 needs REDIS_URL")


def redis_reachable() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _unavailable(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _service_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL: set DATABASE_URL")
    if request.node.get_closest_marker("redis") and not redis_reachable():
        _unavailable("needs Redis: set REDIS_URL")


@pytest.fixture(autouse=True)
def _taxonomy_present(request):
    """Transactional tests flush every table, including the taxonomy the data migration
    loaded; put it back for whichever test comes next."""
    from consent.taxonomy import taxonomy_cache_clear

    taxonomy_cache_clear()
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        transactional = "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))
        request.getfixturevalue("transactional_db" if transactional else "db")
        from consent.models import TaxonomyTerm, TaxonomyVersion
        from consent.taxonomy import DEFAULT_TAXONOMY_FILE, taxonomy_file_read, taxonomy_upsert

        if not TaxonomyVersion.objects.exists():
            taxonomy_upsert(
                document=taxonomy_file_read(DEFAULT_TAXONOMY_FILE), term_model=TaxonomyTerm, version_model=TaxonomyVersion
            )
    yield
    taxonomy_cache_clear()


# --- Parties --------------------------------------------------------------------------


@dataclass
class ConsumerHandle:
    consumer: object
    token: str
    username: str
    password: str

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return client


@dataclass
class PartyHandle:
    obj: object
    key: str

    @property
    def slug(self) -> str:
        return self.obj.slug

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        return client


PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def make_consumer(db):
    from clearinghouse.accounts.services import consumer_register

    counter = iter(range(1, 10_000))

    def make(username: str | None = None) -> ConsumerHandle:
        username = username or f"consumer{next(counter)}"
        consumer, token = consumer_register(username=username, password=PASSWORD, age_confirmed=True, channel="api")
        return ConsumerHandle(consumer=consumer, token=token, username=username, password=PASSWORD)

    return make


@pytest.fixture
def make_platform(db):
    from clearinghouse.accounts.services import platform_register
    from clearinghouse.core.actors import Actor

    def make(slug: str) -> PartyHandle:
        platform, key = platform_register(slug=slug, name=f"Platform {slug}", actor=Actor.operator())
        return PartyHandle(obj=platform, key=key)

    return make


@pytest.fixture
def make_manufacturer(db):
    from clearinghouse.accounts.services import manufacturer_register
    from clearinghouse.core.actors import Actor

    def make(slug: str, sectors: list[str] | None = None) -> PartyHandle:
        manufacturer, key = manufacturer_register(
            slug=slug, name=f"Manufacturer {slug}", sectors=sectors or ["furniture"], actor=Actor.operator()
        )
        return PartyHandle(obj=manufacturer, key=key)

    return make


@pytest.fixture
def consumer_a(make_consumer) -> ConsumerHandle:
    return make_consumer("alice")


@pytest.fixture
def consumer_b(make_consumer) -> ConsumerHandle:
    return make_consumer("bob")


@pytest.fixture
def platform_p(make_platform) -> PartyHandle:
    return make_platform("shop-p")


@pytest.fixture
def platform_q(make_platform) -> PartyHandle:
    return make_platform("shop-q")


@pytest.fixture
def manufacturer(make_manufacturer) -> PartyHandle:
    return make_manufacturer("chairco", ["furniture", "food"])


@pytest.fixture
def officer(db):
    from clearinghouse.accounts.services import compliance_officer_create, consumer_token_obtain
    from clearinghouse.core.actors import Actor

    user = compliance_officer_create(username="officer", password=PASSWORD, actor=Actor.operator())
    token = consumer_token_obtain(username="officer", password=PASSWORD)
    return ConsumerHandle(consumer=user, token=token, username="officer", password=PASSWORD)


@pytest.fixture
def purposes(db):
    """Both shipped purposes, published and approved."""
    from clearinghouse.core.actors import Actor
    from consent.purposes import purpose_file_read, purpose_publish

    result = {}
    for code in ("c2m-product-design", "c2m-demand-forecast"):
        document = purpose_file_read(f"consent/purposes/{code}.json")
        purpose, _ = purpose_publish(document=document, actor=Actor.operator(), approve=True)
        result[code] = purpose
    return result


def grant_body(purpose, platform_slug: str, language: str = "en") -> dict:
    return {
        "purpose": purpose.code,
        "version": purpose.version,
        "platform": platform_slug,
        "action": "grant",
        "notice_digest": purpose.notice_digests[language],
    }


def link_subject(consumer: ConsumerHandle, platform: PartyHandle, subject_ref: str) -> None:
    """Link ``consumer`` on ``platform`` under ``subject_ref`` through the public API."""
    response = consumer.client().post("/api/v1/me/links", {"platform": platform.slug}, format="json")
    assert response.status_code == 201, response.content
    redeem = platform.client().post(
        "/api/v1/platform/links", {"code": response.json()["code"], "subject_ref": subject_ref}, format="json"
    )
    assert redeem.status_code == 201, redeem.content
