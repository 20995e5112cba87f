"""POST /api/v1/platform/signals: what is lawful, consented and necessary is stored; everything
else is rejected item by item with a code and a message, or refused whole when malformed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.intake.models import IntakeBatch, Signal
from tests.conftest import module_world
from tests.intake.conftest import design_item, forecast_item, submit, withdraw

URL = "/api/v1/platform/signals"


@pytest.fixture
def world(world_of_module, db):
    """Every test here uses ``db``: the world is built once for the module."""
    return module_world(world_of_module)


def test_accepted_items_are_stored_as_term_ids_with_uncollected_fields_null(world):
    response = submit(
        world.p,
        [
            design_item("d-1", "alice-at-p"),
            design_item("d-2", "bob-at-p", value=..., age_band=..., region=...),  # optional fields left out
            forecast_item("f-1", "alice-at-p"),
        ],
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, [])
    index = taxonomy_index()
    chair = index.categories["furniture/office-chair"]
    stored = {s.event_id: s for s in Signal.objects.all()}
    assert set(stored) == {"d-1", "d-2", "f-1"}
    d1 = stored["d-1"]
    assert (d1.platform_id, d1.consumer_id, d1.purpose_id) == (world.p.obj.pk, world.alice.consumer.pk, world.design.pk)
    assert (d1.category, d1.attribute, d1.signal, d1.value) == (
        chair,
        index.attributes[(chair, "lumbar-support")],
        index.signals["wishlist"],
        5,
    )
    assert (d1.age_band, d1.region, d1.occurred_at) == (index.age_bands["25-34"], index.regions["CN-GD"], None)
    d2 = stored["d-2"]
    assert (d2.consumer_id, d2.value, d2.age_band, d2.region) == (world.bob.consumer.pk, None, None, None)
    f1 = stored["f-1"]
    assert f1.purpose_id == world.forecast.pk and f1.occurred_at is not None
    assert (f1.value, f1.age_band) == (None, None)  # the forecast purpose collects neither
    assert f1.received_at == d1.received_at

    batch = IntakeBatch.objects.get()
    assert str(batch.public_id) == body["batch"] and batch.platform_id == world.p.obj.pk
    audit = AuditEvent.objects.get(action="intake.batch")
    assert audit.actor_kind == "platform" and audit.actor_id == "shop-p" and audit.target == "platform:shop-p"
    assert audit.details == {"batch": body["batch"], "items": 3, "accepted": 3, "duplicates": 0, "rejected": {}}


def _soon():
    return (timezone.now() + timedelta(hours=1)).isoformat()


def _long_ago():
    return (timezone.now() - timedelta(days=181)).isoformat()


REJECTIONS = [
    # (case, item factory, code, field, words the message must contain)
    (
        "unknown purpose",
        lambda: design_item("x", "alice-at-p", purpose="c2m-mind-reading"),
        "unknown_purpose",
        None,
        ["c2m-mind-reading", "not an approved purpose"],
    ),
    ("unlinked subject", lambda: design_item("x", "nobody-here"), "unknown_subject", None, ["not linked to your platform"]),
    (
        "no consent for this purpose",
        lambda: forecast_item("x", "bob-at-p"),
        "consent_required",
        None,
        ["no active consent", "c2m-demand-forecast v1"],
    ),
    (
        "field the purpose does not collect",
        lambda: design_item("x", "alice-at-p", occurred_at=timezone.now().isoformat()),
        "not_necessary",
        "occurred_at",
        ["occurred_at: not necessary", "c2m-product-design v1"],
    ),
    (
        "value for a purpose without values",
        lambda: forecast_item("x", "alice-at-p", value=3),
        "not_necessary",
        "value",
        ["value: not necessary"],
    ),
    (
        "age band for the forecast purpose",
        lambda: forecast_item("x", "alice-at-p", age_band="18-24"),
        "not_necessary",
        "age_band",
        ["age_band: not necessary"],
    ),
    (
        "a field no purpose knows",
        lambda: design_item("x", "alice-at-p", phone="13800000000"),
        "not_necessary",
        "phone",
        ["phone: not necessary", "Leave it out"],
    ),
    (
        "unknown category",
        lambda: design_item("x", "alice-at-p", category="furniture/throne"),
        "invalid_value",
        "category",
        ["'furniture/throne' is not a category"],
    ),
    ("missing category", lambda: design_item("x", "alice-at-p", category=...), "invalid_value", "category", ["category: required"]),
    (
        "attribute of another category",
        lambda: design_item("x", "alice-at-p", attribute="rose"),
        "invalid_value",
        "attribute",
        ["'rose' is not an attribute of 'furniture/office-chair'"],
    ),
    (
        "attribute missing where collected",
        lambda: design_item("x", "alice-at-p", attribute=...),
        "invalid_value",
        "attribute",
        ["attribute: required by purpose"],
    ),
    (
        "unknown signal kind",
        lambda: design_item("x", "alice-at-p", signal="stare"),
        "invalid_value",
        "signal",
        ["'stare' is not a signal kind"],
    ),
    ("value above the bounds", lambda: design_item("x", "alice-at-p", value=6), "invalid_value", "value", ["6 is outside 1..5"]),
    ("value below the bounds", lambda: design_item("x", "alice-at-p", value=0), "invalid_value", "value", ["0 is outside 1..5"]),
    (
        "unknown age band",
        lambda: design_item("x", "alice-at-p", age_band="12-17"),
        "invalid_value",
        "age_band",
        ["'12-17' is not an age band"],
    ),
    ("unknown region", lambda: design_item("x", "alice-at-p", region="US-CA"), "invalid_value", "region", ["'US-CA' is not a region code"]),
    (
        "occurred in the future",
        lambda: forecast_item("x", "alice-at-p", occurred_at=_soon()),
        "invalid_value",
        "occurred_at",
        ["is in the future"],
    ),
    (
        "older than retention",
        lambda: forecast_item("x", "alice-at-p", occurred_at=_long_ago()),
        "invalid_value",
        "occurred_at",
        ["older than the 180-day retention"],
    ),
    (
        "time without zone",
        lambda: forecast_item("x", "alice-at-p", occurred_at="2026-11-20T10:00:00"),
        "invalid_value",
        "occurred_at",
        ["needs a time zone"],
    ),
    (
        "not a time",
        lambda: forecast_item("x", "alice-at-p", occurred_at="last tuesday"),
        "invalid_value",
        "occurred_at",
        ["'last tuesday' is not an ISO 8601 time"],
    ),
    (
        "time missing where collected",
        lambda: forecast_item("x", "alice-at-p", occurred_at=...),
        "invalid_value",
        "occurred_at",
        ["occurred_at: required by purpose"],
    ),
]


@pytest.mark.parametrize("case, make, code, field, words", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_every_rejection_has_its_code_field_and_a_clear_message(world, case, make, code, field, words):
    response = submit(world.p, [design_item("ok", "alice-at-p"), make()])

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert (rejected["index"], rejected["event_id"], rejected["code"]) == (1, "x", code)
    assert rejected.get("field") == field
    for word in words:
        assert word in rejected["message"], rejected["message"]
    assert list(Signal.objects.values_list("event_id", flat=True)) == ["ok"]
    audit = AuditEvent.objects.get(action="intake.batch")
    assert audit.details["rejected"] == {code: 1} and audit.details["accepted"] == 1


def test_consent_is_checked_at_the_moment_of_intake(world, django_capture_on_commit_callbacks):
    assert submit(world.p, [design_item("before", "alice-at-p")]).json()["accepted"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(world.alice, world.design, world.p)
    body = submit(world.p, [design_item("after", "alice-at-p")]).json()
    assert body["accepted"] == 0 and body["rejected"][0]["code"] == "consent_required"
    assert not Signal.objects.filter(consumer=world.alice.consumer, platform=world.p.obj).exclude(purpose=world.forecast).exists()


def test_draft_and_retired_purposes_are_unknown(world):
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish, purpose_retire
    from clearinghouse.core.actors import Actor

    document = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json") | {"version": 2}
    draft, _ = purpose_publish(document=document, actor=Actor.operator())
    assert draft.status == "draft"
    purpose_retire(purpose=world.forecast, actor=Actor.operator())

    body = submit(world.p, [design_item("d", "alice-at-p"), forecast_item("f", "alice-at-p")]).json()
    assert body["accepted"] == 1  # design v1 is still the approved version
    assert [(r["event_id"], r["code"]) for r in body["rejected"]] == [("f", "unknown_purpose")]


def test_consent_for_an_older_version_does_not_count(world):
    from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
    from clearinghouse.core.actors import Actor

    document = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json") | {"version": 2}
    purpose_publish(document=document, actor=Actor.operator(), approve=True)

    body = submit(world.p, [design_item("d", "alice-at-p")]).json()
    assert body["rejected"][0]["code"] == "consent_required" and "c2m-product-design v2" in body["rejected"][0]["message"]


def test_null_optional_fields_count_as_absent(world):
    body = submit(world.p, [forecast_item("f", "alice-at-p", value=None, age_band=None)]).json()
    assert body["accepted"] == 1, body


def test_rejections_are_listed_in_item_order_with_counts_by_code_in_the_audit(world):
    items = [
        design_item("a", "nobody"),
        design_item("b", "alice-at-p"),
        design_item("c", "alice-at-p", value=9),
        forecast_item("d", "bob-at-p"),
        design_item("e", "alice-at-p", purpose="nope"),
        design_item("f", "ghost"),
    ]
    body = submit(world.p, items).json()
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (0, "unknown_subject"),
        (2, "invalid_value"),
        (3, "consent_required"),
        (4, "unknown_purpose"),
        (5, "unknown_subject"),
    ]
    details = AuditEvent.objects.get(action="intake.batch").details
    assert details["rejected"] == {"consent_required": 1, "invalid_value": 1, "unknown_purpose": 1, "unknown_subject": 2}
    assert details["items"] == 6 and details["accepted"] == 1
    # No per-item personal data: neither subject references nor pseudonyms nor event ids.
    text = json.dumps(details)
    for secret in ("nobody", "alice-at-p", "ghost", str(world.alice.consumer.pseudonym), '"b"'):
        assert secret not in text


def test_resubmission_is_idempotent_and_counts_duplicates(world):
    first = submit(world.p, [design_item("e-1", "alice-at-p"), design_item("e-2", "bob-at-p")]).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)

    again = submit(world.p, [design_item("e-1", "alice-at-p"), design_item("e-2", "bob-at-p"), design_item("e-3", "bob-at-p")]).json()

    assert (again["accepted"], again["duplicates"], again["rejected"]) == (1, 2, [])
    assert sorted(Signal.objects.values_list("event_id", flat=True)) == ["e-1", "e-2", "e-3"]
    audit = AuditEvent.objects.filter(action="intake.batch").order_by("-seq").first()
    assert (audit.details["accepted"], audit.details["duplicates"]) == (1, 2)


def test_the_same_event_twice_in_one_batch_is_stored_once(world):
    body = submit(world.p, [design_item("twin", "alice-at-p"), design_item("twin", "alice-at-p", value=1)]).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert Signal.objects.get().value == 5  # the first one wins


def test_a_rejected_item_does_not_shadow_a_later_valid_one_with_its_event_id(world):
    body = submit(world.p, [design_item("e", "nobody"), design_item("e", "alice-at-p")]).json()
    assert (body["accepted"], body["duplicates"], len(body["rejected"])) == (1, 0, 1)


def test_event_ids_are_unique_per_platform_only(world):
    assert submit(world.q, [design_item("shared-id", "alice-at-q")]).json()["accepted"] == 1
    body = submit(world.p, [design_item("shared-id", "alice-at-p")]).json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)


def test_more_than_the_maximum_is_413_and_stores_nothing(world, settings):
    settings.CH_SIGNAL_BATCH_MAX = 10_000
    items = [design_item(f"e-{i}", "alice-at-p") for i in range(10_001)]
    response = submit(world.p, items)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "batch_too_large" and "at most 10,000 signals; this one has 10,001" in error["message"]
    assert not Signal.objects.exists() and not IntakeBatch.objects.exists()
    audit = AuditEvent.objects.get(action="intake.batch")
    assert audit.outcome == "denied" and audit.details["error"] == "batch_too_large"


def test_exactly_the_maximum_is_accepted(world, settings):
    settings.CH_SIGNAL_BATCH_MAX = 50
    body = submit(world.p, [design_item(f"e-{i}", "alice-at-p") for i in range(50)]).json()
    assert body["accepted"] == 50


def test_an_oversized_body_is_refused_before_it_is_read(world, settings):
    settings.CH_SIGNAL_BATCH_MAX_BYTES = 2048
    response = submit(world.p, [design_item(f"e-{i}", "alice-at-p") for i in range(20)])
    assert response.status_code == 413
    assert "a batch may be at most 2,048 bytes" in response.json()["error"]["message"]
    assert not Signal.objects.exists()


MALFORMED = [
    ("not JSON", b'{"signals": [', "not valid JSON"),
    ("empty body", b"", "The body is empty"),
    ("a list instead of an object", b"[]", 'must be a JSON object {"signals": [...]}'),
    ("no signals list", b'{"items": []}', "Unknown top-level field 'items'"),
    ("signals is not a list", b'{"signals": {"a": 1}}', '"signals" must be a list'),
    ("an item is not an object", lambda: [design_item("a", "alice-at-p"), "oops"], "signals[2] must be an object"),
    ("event_id missing", lambda: [design_item("a", "alice-at-p"), design_item(..., "alice-at-p")], "signals[2].event_id: required"),
    ("event_id a number", lambda: [design_item(7, "alice-at-p")], "signals[1].event_id: required"),
    ("event_id with a control character", lambda: [design_item("a\tb", "alice-at-p")], "printable"),
    ("event_id too long", lambda: [design_item("e" * 129, "alice-at-p")], "1 to 128"),
    ("subject_ref missing", lambda: [design_item("a", ...)], "signals[1].subject_ref: required"),
    ("purpose a list", lambda: [design_item("a", "alice-at-p", purpose=["c2m-product-design"])], "signals[1].purpose"),
    ("value a string", lambda: [design_item("a", "alice-at-p", value="5")], "signals[1].value: must be a whole number"),
    ("value a boolean", lambda: [design_item("a", "alice-at-p", value=True)], "signals[1].value: must be a whole number"),
    ("value a fraction", lambda: [design_item("a", "alice-at-p", value=4.5)], "signals[1].value: must be a whole number"),
    ("category a number", lambda: [design_item("a", "alice-at-p", category=3)], "signals[1].category: must be a string"),
    (
        "occurred_at a number",
        lambda: [forecast_item("a", "alice-at-p", occurred_at=1700000000)],
        "signals[1].occurred_at: must be an ISO 8601",
    ),
]


@pytest.mark.parametrize("case, body, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_body_is_400_and_stores_nothing(world, case, body, words):
    if callable(body):
        # A valid item first (index 0): it must not be stored either.
        body = json.dumps({"signals": [design_item("valid-first", "bob-at-p"), *body()]}).encode()
    response = world.p.client().post(URL, data=body, content_type="application/json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_body"
    assert words in error["message"] and "Nothing in this batch was stored." in error["message"]
    assert not Signal.objects.exists() and not IntakeBatch.objects.exists()
    assert AuditEvent.objects.get(action="intake.batch").outcome == "denied"


def test_a_body_that_is_not_json_by_content_type_is_415(world):
    response = world.p.client().post(URL, data=b'{"signals": []}', content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_an_empty_list_is_a_valid_empty_batch(world):
    body = submit(world.p, []).json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 0, [])
    assert AuditEvent.objects.get(action="intake.batch").details["items"] == 0


def test_platform_reads_its_own_batch_receipts(world):
    first = submit(world.p, [design_item("a", "alice-at-p"), design_item("b", "nobody")]).json()
    submit(world.p, [design_item("a", "alice-at-p")])

    listing = world.p.client().get("/api/v1/platform/batches")
    assert listing.status_code == 200
    results = listing.json()["results"]
    assert [(b["accepted"], b["duplicates"]) for b in results] == [(0, 1), (1, 0)]
    assert results[1]["rejected_counts"] == {"unknown_subject": 1} and "rejected" not in results[1]

    detail = world.p.client().get(f"/api/v1/platform/batches/{first['batch']}")
    assert detail.status_code == 200
    assert detail.json()["rejected"] == first["rejected"] and detail.json()["items"] == 2
    assert world.q.client().get("/api/v1/platform/batches").json()["results"] == []


def test_the_schema_documents_the_batch_body(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/platform/signals"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "signals" in schema["components"]["schemas"][body]["properties"]
    assert "/api/v1/platform/batches/{batch}" in schema["paths"]
