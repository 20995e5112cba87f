"""Every endpoint × every kind of caller × method, with the status each must get.

The expectations here are written independently of clearinghouse/api/permissions.py; the
last test checks that every route the API serves appears in this matrix, so a new endpoint
cannot ship without its row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.conftest import grant_body, link_subject

ACTORS = ["anonymous", "consumer_a", "consumer_b", "platform_p", "platform_q", "manufacturer", "officer"]
_unique = itertools.count()


@dataclass
class World:
    clients: dict[str, APIClient]
    purposes: dict
    platform_p: object
    platform_q: object
    consumer_a: object
    codes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    method: str
    url: str
    expected: dict[str, int]
    body: Callable[[World], dict] | None = None
    name: str = ""  # the URL name this row covers (checked against the served routes)

    def id(self) -> str:
        return f"{self.method} {self.url}"


def consumers_only(ok: int, *, b: int | None = None) -> dict[str, int]:
    return {
        "anonymous": 401,
        "consumer_a": ok,
        "consumer_b": ok if b is None else b,
        "platform_p": 403,
        "platform_q": 403,
        "manufacturer": 403,
        "officer": 403,
    }


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def platforms_only(*, p: int, q: int) -> dict[str, int]:
    return {
        "anonymous": 401,
        "consumer_a": 403,
        "consumer_b": 403,
        "platform_p": p,
        "platform_q": q,
        "manufacturer": 403,
        "officer": 403,
    }


def manufacturers_only(ok: int) -> dict[str, int]:
    return {
        "anonymous": 401,
        "consumer_a": 403,
        "consumer_b": 403,
        "platform_p": 403,
        "platform_q": 403,
        "manufacturer": ok,
        "officer": 403,
    }


def compliance_only(ok: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, 403) | {"anonymous": 401, "officer": ok}


def new_consumer_body(world: World) -> dict:
    return {"username": f"newcomer{next(_unique)}", "password": "a-long-enough-passphrase", "age_confirmed": True}


def link_code_of_a_for_p(world: World) -> dict:
    response = world.clients["consumer_a"].post("/api/v1/me/links", {"platform": world.platform_p.slug}, format="json")
    return {"code": response.json()["code"], "subject_ref": f"fresh-ref-{next(_unique)}"}


TREND_WEEKS = {"since": "2026-01-05", "until": "2026-03-01"}  # whole weeks, long past

ROWS = [
    Row("POST", "/api/v1/consumers", everyone(201), new_consumer_body, "api:consumers"),
    Row(
        "POST",
        "/api/v1/auth/token",
        everyone(200),
        lambda w: {"username": "alice", "password": "correct-horse-battery-9"},
        "api:auth-token",
    ),
    Row("GET", "/api/v1/keys", everyone(200), name="api:keys"),
    Row("PUT", "/api/v1/keys", everyone(405), lambda w: {}, "api:keys"),
    Row("GET", "/healthz", everyone(200), name="healthz"),
    Row("GET", "/api/v1/me/purposes", consumers_only(200), name="api:me-purposes"),
    Row("GET", "/api/v1/me/consents", consumers_only(200), name="api:me-consents"),
    Row(
        "POST",
        "/api/v1/me/consents",
        consumers_only(201),
        lambda w: grant_body(w.purposes["c2m-product-design"], "shop-q"),
        "api:me-consents",
    ),
    Row(
        "PATCH",
        "/api/v1/me/consents",
        consumers_only(405, b=405) | {"anonymous": 405, "platform_p": 405, "platform_q": 405, "manufacturer": 405, "officer": 405},
        lambda w: {},
        "api:me-consents",
    ),
    Row("GET", "/api/v1/me/consents/history", consumers_only(200), name="api:me-consent-history"),
    # Nobody's receipt: consumers get 404 (their own receipts only), everyone else is refused.
    Row("GET", "/api/v1/me/receipts/5b2c0a5e-0000-4000-8000-000000000001/proof", consumers_only(404), name="api:me-receipt-proof"),
    Row("GET", "/api/v1/me/links", consumers_only(200), name="api:me-links"),
    Row("POST", "/api/v1/me/links", consumers_only(201), lambda w: {"platform": "shop-q"}, "api:me-links"),
    Row("DELETE", "/api/v1/me/links", consumers_only(204), name="api:me-links"),
    # Alice is linked to shop-p; Bob is not, so for him Alice's link does not exist.
    Row("GET", "/api/v1/me/links/shop-p", consumers_only(200, b=404), name="api:me-link-detail"),
    Row("DELETE", "/api/v1/me/links/shop-p", consumers_only(204, b=404), name="api:me-link-detail"),
    Row("POST", "/api/v1/platform/links", platforms_only(p=201, q=404), link_code_of_a_for_p, "api:platform-links"),
    Row(
        "GET",
        "/api/v1/platform/subjects/alice-at-p/consent?purpose=c2m-product-design",
        platforms_only(p=200, q=404),
        name="api:platform-subject-consent",
    ),
    Row("GET", "/api/v1/me/export", consumers_only(200), name="api:me-export"),
    Row("GET", "/api/v1/me/erasure-certificates", consumers_only(200), name="api:me-erasure-certificates"),
    Row(
        "GET",
        "/api/v1/me/erasure-certificates/5b2c0a5e-0000-4000-8000-000000000002",
        consumers_only(404),
        name="api:me-erasure-certificate-detail",
    ),
    Row("DELETE", "/api/v1/me", consumers_only(200), lambda w: {"password": w.consumer_a.password}, "api:me"),
    Row("POST", "/api/v1/platform/signals", platforms_only(p=200, q=200), lambda w: {"signals": []}, "api:platform-signals"),
    Row("GET", "/api/v1/platform/batches", platforms_only(p=200, q=200), name="api:platform-batches"),
    # A batch id nobody issued: 404 for both platforms (tests/intake/test_wall.py covers another's).
    Row(
        "GET",
        "/api/v1/platform/batches/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11",
        platforms_only(p=404, q=404),
        name="api:platform-batch-detail",
    ),
    Row("GET", "/api/v1/me/privacy-loss", consumers_only(200), name="api:me-privacy-loss"),
    Row("GET", "/api/v1/catalog", manufacturers_only(200), name="api:catalog"),
    # Trends: with no allocation a trend is budget_exhausted; a plan spends nothing and answers.
    Row("GET", "/api/v1/trends", manufacturers_only(200), name="api:trends"),
    Row(
        "POST",
        "/api/v1/trends",
        manufacturers_only(409),
        lambda w: {"purpose": "c2m-demand-forecast", "measure": "consumers", "filters": TREND_WEEKS, "epsilon": "0.5"},
        "api:trends",
    ),
    Row(
        "POST",
        "/api/v1/trends/plan",
        manufacturers_only(200),
        lambda w: {"purpose": "c2m-demand-forecast", "measure": "consumers", "filters": TREND_WEEKS, "epsilon": "0.5"},
        "api:trend-plan",
    ),
    Row("GET", "/api/v1/trends/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11", manufacturers_only(404), name="api:trend-detail"),
    Row("GET", "/api/v1/budget", manufacturers_only(200), name="api:budget"),
    Row("GET", "/api/v1/releases", manufacturers_only(200), name="api:releases"),
    # The manufacturer reaches the service; with no allocation the answer is budget_exhausted.
    Row(
        "POST",
        "/api/v1/releases",
        manufacturers_only(409),
        lambda w: {"purpose": "c2m-product-design", "measure": "consumers", "epsilon": "0.5"},
        "api:releases",
    ),
    Row("GET", "/api/v1/releases/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11", manufacturers_only(404), name="api:release-detail"),
    # A plan is free: the manufacturer gets it even with no allocation.
    Row(
        "POST",
        "/api/v1/releases/plan",
        manufacturers_only(200),
        lambda w: {"purpose": "c2m-product-design", "measure": "consumers", "epsilon": "0.5"},
        "api:release-plan",
    ),
    # Reports: with no allocation a report is budget_exhausted; a plan spends nothing and answers.
    Row("GET", "/api/v1/reports", manufacturers_only(200), name="api:reports"),
    Row(
        "POST",
        "/api/v1/reports",
        manufacturers_only(409),
        lambda w: {"purpose": "c2m-product-design", "measure": "consumers", "marginals": [["age_band"]], "epsilon": "0.5"},
        "api:reports",
    ),
    Row(
        "POST",
        "/api/v1/reports/plan",
        manufacturers_only(200),
        lambda w: {"purpose": "c2m-product-design", "measure": "consumers", "marginals": [["age_band"]], "epsilon": "0.5"},
        "api:report-plan",
    ),
    Row("GET", "/api/v1/reports/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11", manufacturers_only(404), name="api:report-detail"),
    # Notifications: the manufacturer's own callback (none registered yet) and notices.
    Row("GET", "/api/v1/callback", manufacturers_only(404), name="api:callback"),
    Row(
        "PUT",
        "/api/v1/callback",
        manufacturers_only(201),
        lambda w: {"url": "https://chairco.example/clearinghouse/notices"},
        "api:callback",
    ),
    Row("DELETE", "/api/v1/callback", manufacturers_only(404), name="api:callback"),
    Row("POST", "/api/v1/callback", everyone(405), lambda w: {}, "api:callback"),
    Row("GET", "/api/v1/notices", manufacturers_only(200), name="api:notices"),
    Row("GET", "/api/v1/notices/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11", manufacturers_only(404), name="api:notice-detail"),
    Row("POST", "/api/v1/notices/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11/resend", manufacturers_only(404), lambda w: {}, "api:notice-resend"),
    Row("GET", "/api/v1/notices/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11/resend", everyone(405), name="api:notice-resend"),
    # The audit log: compliance only; checkpoints and consistency proofs are public.
    Row("GET", "/api/v1/audit/events", compliance_only(200), name="api:audit-events"),
    Row("GET", "/api/v1/audit/events/1", compliance_only(200), name="api:audit-event-detail"),
    Row("GET", "/api/v1/audit/verify", compliance_only(200), name="api:audit-verify"),
    Row("GET", "/api/v1/audit/export", compliance_only(200), name="api:audit-export"),
    Row("GET", "/api/v1/audit/proofs/inclusion?seq=1", compliance_only(200), name="api:audit-inclusion-proof"),
    Row("POST", "/api/v1/audit/events", everyone(405), lambda w: {}, "api:audit-events"),
    Row("POST", "/api/v1/auth/unlock", compliance_only(200), lambda w: {"username": "someone"}, "api:auth-unlock"),
    Row("GET", "/api/v1/audit/checkpoints", everyone(200), name="api:audit-checkpoints"),
    Row("GET", "/api/v1/audit/checkpoints/latest", everyone(404), name="api:audit-checkpoint-latest"),  # none signed yet
    Row("GET", "/api/v1/audit/proofs/consistency?first=1&second=2", everyone(200), name="api:audit-consistency-proof"),
    Row("GET", "/api/v1/audit/tlog/checkpoint", everyone(404), name="api:audit-tlog-checkpoint"),  # none signed yet
    Row("GET", "/api/v1/audit/tlog/tile/0/000.p/1", everyone(200), name="api:audit-tlog-tile"),
    Row("GET", "/api/v1/audit/tlog/tile/entries/000.p/1", compliance_only(200), name="api:audit-tlog-entries"),
    Row("GET", "/api/v1/no-such-endpoint", everyone(404)),
]

# Routes that intentionally sit outside the matrix (documentation, not data).
UNLISTED = {"schema", "api-docs"}


@dataclass
class SharedParties:
    purposes: dict
    handles: dict[str, object]


@pytest.fixture(scope="module")
def shared_parties(django_db_setup, django_db_blocker):
    """The parties, links and consent every row needs, built and committed once for the
    module (hundreds of rows × seven callers); each test then runs in its own transaction
    that is rolled back, so what a row changes (an erasure, a grant) never reaches the next.
    The tables are emptied when the module is done."""
    from django.core.management import call_command

    from clearinghouse.accounts.services import compliance_officer_create, consumer_register, consumer_token_obtain, platform_register
    from clearinghouse.consent.models import TaxonomyTerm, TaxonomyVersion
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.consent.taxonomy import DEFAULT_TAXONOMY_FILE, taxonomy_cache_clear, taxonomy_file_read, taxonomy_upsert
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.recipients import manufacturer_register
    from tests.conftest import PASSWORD, ConsumerHandle, PartyHandle

    with django_db_blocker.unblock():
        taxonomy_cache_clear()
        if not TaxonomyVersion.objects.exists():
            taxonomy_upsert(document=taxonomy_file_read(DEFAULT_TAXONOMY_FILE), term_model=TaxonomyTerm, version_model=TaxonomyVersion)
        operator = Actor.operator()
        purposes = {}
        for code in ("c2m-product-design", "c2m-demand-forecast"):
            document = purpose_file_read(f"clearinghouse/consent/purposes/{code}.json")
            purposes[code], _ = purpose_publish(document=document, actor=operator, approve=True)
        handles: dict[str, object] = {}
        for name, username in (("consumer_a", "alice"), ("consumer_b", "bob")):
            consumer, token = consumer_register(username=username, password=PASSWORD, age_confirmed=True, channel="api")
            handles[name] = ConsumerHandle(consumer=consumer, token=token, username=username, password=PASSWORD)
        for name, slug in (("platform_p", "shop-p"), ("platform_q", "shop-q")):
            platform, key = platform_register(slug=slug, name=f"Platform {slug}", actor=operator)
            handles[name] = PartyHandle(obj=platform, key=key)
        maker, key = manufacturer_register(slug="chairco", name="Manufacturer chairco", sectors=["furniture", "food"], actor=operator)
        handles["manufacturer"] = PartyHandle(obj=maker, key=key)
        user = compliance_officer_create(username="officer", password=PASSWORD, actor=operator)
        handles["officer"] = ConsumerHandle(
            consumer=user, token=consumer_token_obtain(username="officer", password=PASSWORD), username="officer", password=PASSWORD
        )
        link_subject(handles["consumer_a"], handles["platform_p"], "alice-at-p")
        link_subject(handles["consumer_b"], handles["platform_q"], "bob-at-q")
        response = (
            handles["consumer_a"]
            .client()
            .post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], handles["platform_p"].slug), format="json")
        )
        assert response.status_code == 201, response.content
    yield SharedParties(purposes=purposes, handles=handles)
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
        taxonomy_cache_clear()


@pytest.fixture
def world(shared_parties, db) -> World:
    handles = shared_parties.handles
    clients = {name: handle.client() for name, handle in handles.items()}
    return World(
        clients={"anonymous": APIClient(), **clients},
        purposes=shared_parties.purposes,
        platform_p=handles["platform_p"],
        platform_q=handles["platform_q"],
        consumer_a=handles["consumer_a"],
    )


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("row", ROWS, ids=Row.id)
def test_permission_matrix(world, row: Row, actor: str):
    body = row.body(world) if row.body else None
    client = world.clients[actor]
    response = getattr(client, row.method.lower())(row.url, body, format="json")
    assert response.status_code == row.expected[actor], (actor, row.id(), response.content[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]


def test_another_platforms_subject_answers_exactly_like_a_missing_one(world):
    client = world.clients["platform_q"]
    foreign = client.get("/api/v1/platform/subjects/alice-at-p/consent?purpose=c2m-product-design")
    missing = client.get("/api/v1/platform/subjects/nobody-anywhere/consent?purpose=c2m-product-design")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def _served_routes() -> set[tuple[str, str]]:
    """(url name, method) for every view the project serves."""
    routes: set[tuple[str, str]] = set()

    def walk(patterns, namespace: str | None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class is None or not hasattr(view_class, "permission_classes"):
                    continue  # not a DRF view (admin, portal pages)
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                for method in ("get", "post", "put", "patch", "delete"):
                    if hasattr(view_class, method):
                        routes.add((name, method.upper()))

    walk(get_resolver().url_patterns, None)
    return routes


def test_every_served_api_route_is_in_the_matrix():
    covered = {(row.name, row.method) for row in ROWS if row.name}
    missing = sorted(route for route in _served_routes() if route not in covered and route[0] not in UNLISTED)
    assert not missing, f"add these to the permission matrix: {missing}"
