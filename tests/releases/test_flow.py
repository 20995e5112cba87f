"""The manufacturer's path end to end, with Celery eager: request, job, signed result."""

from __future__ import annotations

from decimal import Decimal

from clearinghouse.core.crypto import canonical_json, public_key_for, verify_signature
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from tests.releases.conftest import PRODUCT


def request(client, body, capture):
    with capture(execute=True):
        return client.post("/api/v1/releases", body, format="json")


def test_consumers_release_is_computed_signed_and_charged(world, django_capture_on_commit_callbacks):
    people = world.consumers(3)
    world.consent(people)
    world.signals(
        [
            {
                "consumer": people[0],
                "category": "furniture/office-chair",
                "attribute": "lumbar-support",
                "age_band": "25-34",
                "region": "CN-SH",
                "value": 5,
            },
            {
                "consumer": people[1],
                "category": "furniture/office-chair",
                "attribute": "footrest",
                "age_band": "35-44",
                "region": "CN-BJ",
                "value": 3,
            },
        ]
    )
    client = world.manufacturer.client()
    response = request(
        client,
        {"purpose": PRODUCT, "measure": "consumers", "group_by": ["category", "attribute"], "epsilon": "0.5"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    release_id = response.json()["id"]
    detail = client.get(f"/api/v1/releases/{release_id}").json()
    assert detail["status"] == "done", detail
    envelope = detail["result"]
    payload = envelope["payload"]
    assert payload["epsilon"] == "0.5000" and payload["measure"] == "consumers"
    key = public_key_for(envelope["key_id"])
    assert verify_signature(public_key_raw=key, document=payload, signature_b64=envelope["signature"])
    assert canonical_json(payload)
    assert len(payload["cells"]) == sum(1 for _ in payload["cells"])
    allocation = Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT)
    assert allocation.spent == Decimal("0.5")
    assert PurposeBudget.objects.get(purpose_code=PRODUCT).spent == Decimal("0.5")
    release = Release.objects.get(pk=release_id)
    assert release.status == Release.DONE


def test_release_list_is_paginated_and_scoped_to_the_manufacturer(world, make_manufacturer, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    ids = []
    for epsilon in ("0.1", "0.2", "0.3"):
        with django_capture_on_commit_callbacks(execute=True):
            ids.append(
                request(client, {"purpose": PRODUCT, "measure": "signals", "epsilon": epsilon}, django_capture_on_commit_callbacks).json()[
                    "id"
                ]
            )
    page = client.get("/api/v1/releases?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert {r["id"] for r in page["results"]} <= set(ids)
    assert all("result" not in r for r in page["results"])
    other = make_manufacturer("otherco", ["furniture"])
    assert other.client().get("/api/v1/releases").json()["count"] == 0
    # Another manufacturer's release answers exactly like a missing one.
    foreign = other.client().get(f"/api/v1/releases/{ids[0]}")
    missing = other.client().get("/api/v1/releases/00000000-0000-0000-0000-000000000000")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
