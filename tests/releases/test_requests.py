"""Every bad request is a 400 naming the field, before any budget moves or job exists."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.core.actors import Actor
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from tests.conftest import module_world
from tests.releases.conftest import FORECAST, PRODUCT


# Every test here uses ``db``: the world is built once for the module (tests/conftest.py's
# module_db) and each test gets its own copy of it.
@pytest.fixture
def world(world_of_module, db):
    return module_world(world_of_module)


GOOD = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["category"], "epsilon": "0.5"}


def body(**changes):
    result = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


BAD = [
    ("no purpose", body(purpose=...), "purpose", "invalid"),
    ("unknown purpose", body(purpose="nope"), "purpose", "unknown_purpose"),
    ("purpose not a string", body(purpose=7), "purpose", "invalid"),
    ("no measure", body(measure=...), "measure", "invalid"),
    ("unknown measure", body(measure="median"), "measure", "invalid"),
    ("measure the purpose does not allow", body(purpose=FORECAST, measure="sum_value"), "measure", "measure_not_allowed"),
    ("unknown dimension", body(group_by=["colour"]), "group_by", "invalid"),
    ("dimension the purpose does not allow", body(purpose=FORECAST, group_by=["age_band"]), "group_by", "dimension_not_allowed"),
    ("dimension twice", body(group_by=["category", "category"]), "group_by", "invalid"),
    ("group_by not a list", body(group_by="category"), "group_by", "invalid"),
    ("filters not an object", body(filters=["furniture"]), "filters", "invalid"),
    ("unknown filter", body(filters={"colour": "red"}), "filters.colour", "invalid"),
    ("category outside the sectors", body(filters={"category": "electronics"}), "filters.category", "category_not_authorised"),
    ("unknown sub-category", body(filters={"category": "furniture/sofa/x"}), "filters.category", "unknown_category"),
    ("unknown category", body(filters={"category": "rockets"}), "filters.category", "unknown_category"),
    ("unknown signal kind", body(filters={"signals": ["teleport"]}), "filters.signals", "invalid"),
    ("empty signal kinds", body(filters={"signals": []}), "filters.signals", "invalid"),
    ("date filter on a purpose without dates", body(filters={"since": "2026-01-01"}), "filters.since", "not_collected"),
    ("malformed date", body(purpose=FORECAST, filters={"since": "2026-13-01"}), "filters.since", "invalid"),
    ("until before since", body(purpose=FORECAST, filters={"since": "2026-02-01", "until": "2026-01-01"}), "filters.until", "invalid"),
    ("week without a range", body(purpose=FORECAST, group_by=["week"]), "filters.since", "week_needs_range"),
    ("no epsilon", body(epsilon=...), "epsilon", "invalid"),
    ("zero epsilon", body(epsilon="0"), "epsilon", "invalid"),
    ("negative epsilon", body(epsilon=-1), "epsilon", "invalid"),
    ("epsilon not a number", body(epsilon="lots"), "epsilon", "invalid"),
    ("epsilon a boolean", body(epsilon=True), "epsilon", "invalid"),
    ("epsilon too precise", body(epsilon="0.00005"), "epsilon", "invalid"),
    ("epsilon over the per-release maximum", body(epsilon="1.5"), "epsilon", "epsilon_too_large"),
    ("k without top_k", body(k=3), "k", "invalid"),
    ("top_k without a category", body(measure="top_k", group_by=[], k=3), "filters.category", "invalid"),
    ("top_k over a prefix", body(measure="top_k", group_by=[], k=3, filters={"category": "furniture"}), "filters.category", "invalid"),
    ("top_k with group_by", body(measure="top_k", k=3, filters={"category": "furniture/sofa"}), "group_by", "invalid"),
    ("top_k k zero", body(measure="top_k", group_by=[], k=0, filters={"category": "furniture/sofa"}), "k", "invalid"),
    ("top_k k too large", body(measure="top_k", group_by=[], k=5, filters={"category": "furniture/sofa"}), "k", "invalid"),
    ("top_k k missing", body(measure="top_k", group_by=[], filters={"category": "furniture/sofa"}), "k", "invalid"),
    (
        "too many cells",
        body(group_by=["category", "attribute", "signal", "age_band", "region"]),
        "group_by",
        "too_many_cells",
    ),
    ("unknown field", body(colour="red"), "colour", "invalid"),
]


@pytest.mark.parametrize("name, request_body, field, code", BAD, ids=[case[0] for case in BAD])
def test_bad_request_is_400_naming_the_field_and_spends_nothing(world, name, request_body, field, code):
    before = AuditEvent.objects.filter(action="release.refused").count()
    response = world.manufacturer.client().post("/api/v1/releases", request_body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"]["field"] == field, error
    assert error["code"] == code, error
    assert field.split(".")[-1] in error["message"] or field in error["message"], error
    assert not Release.objects.exists()
    assert Allocation.objects.get(manufacturer=world.manufacturer.obj, purpose_code=PRODUCT).spent == 0
    assert not PurposeBudget.objects.filter(spent__gt=0).exists()
    refused = AuditEvent.objects.filter(action="release.refused").order_by("-seq")
    assert refused.count() == before + 1
    assert refused.first().details["code"] == code and refused.first().outcome == "denied"


@pytest.mark.parametrize("raw", [b'["consumers"]', b"", b"null", b'"consumers"', b"42"], ids=["array", "empty", "null", "string", "number"])
def test_body_that_is_not_an_object_is_400(world, raw):
    response = world.manufacturer.client().post("/api/v1/releases", raw, content_type="application/json")
    assert response.status_code == 400 and not Release.objects.exists()
    error = response.json()["error"]
    # Not "purpose: required": nothing in the body could have been read as a field.
    assert error["code"] == "malformed_body", error
    assert error["message"].startswith("the request body must be a JSON object"), error
    refused = AuditEvent.objects.filter(action="release.refused").order_by("-seq").first()
    assert refused.details["code"] == "malformed_body" and refused.outcome == "denied"


def test_an_empty_object_still_names_the_missing_purpose(world):
    response = world.manufacturer.client().post("/api/v1/releases", b"{}", content_type="application/json")
    assert response.json()["error"]["message"].startswith("purpose: required")


@pytest.mark.parametrize("raw", ['"NaN"', '"Infinity"', '"-Infinity"', '"inf"', "1e400", "-1e400"])
def test_epsilon_that_is_not_finite_says_so(world, raw):
    sent = '{"purpose": "%s", "measure": "consumers", "epsilon": %s}' % (PRODUCT, raw)
    response = world.manufacturer.client().post("/api/v1/releases", sent.encode(), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid", "epsilon")
    # A number that overflows a float is refused by the API's JSON parser, naming the field.
    expected = "must be a finite number" if raw.endswith("400") else "must be a finite positive number such as 0.5"
    assert error["message"] == f"epsilon: {expected}"


def test_epsilon_nan_as_a_bare_json_constant_is_not_json(world):
    sent = '{"purpose": "%s", "measure": "consumers", "epsilon": NaN}' % PRODUCT
    response = world.manufacturer.client().post("/api/v1/releases", sent.encode(), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body"


def test_purpose_outside_the_manufacturers_sectors_is_refused(world, make_manufacturer):
    document = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json")
    document = document | {"code": "flower-only", "recipient_sectors": ["flowers"]}
    purpose_publish(document=document, actor=Actor.operator(), approve=True)
    response = world.manufacturer.client().post("/api/v1/releases", body(purpose="flower-only"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "purpose_not_authorised"


def test_week_grouping_counts_the_weeks_in_the_cell_limit(world, settings):
    response = world.manufacturer.client().post(
        "/api/v1/releases",
        body(
            purpose=FORECAST, group_by=["category", "attribute", "region", "week"], filters={"since": "2026-01-01", "until": "2026-03-01"}
        ),
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_cells"
    # The details state both figures (the workbench words the refusal from them); the message is as it was.
    cells, most = error["details"]["cells"], error["details"]["max_cells"]
    assert error["details"]["field"] == "group_by" and cells > most == settings.CH_RELEASE_MAX_CELLS
    assert (
        error["message"] == f"group_by: {cells:,} cells is more than the {most:,} a release may have; group by fewer dimensions or filter"
    )


def test_epsilon_may_be_a_json_number(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/releases", body(epsilon=0.25), format="json")
    assert response.status_code == 202, response.content
    assert Release.objects.get().epsilon == Decimal("0.25")


def test_epsilon_as_a_json_number_keeps_the_decimal_places_rule(world):
    sent = '{"purpose": "%s", "measure": "consumers", "epsilon": 0.30000000000000004}' % PRODUCT
    response = world.manufacturer.client().post("/api/v1/releases", sent.encode(), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "epsilon: may have at most 4 decimal places"


def test_refusal_audit_keeps_only_a_short_excerpt_of_what_was_sent(world):
    response = world.manufacturer.client().post("/api/v1/releases", body(purpose="x" * 5000, measure="y" * 5000), format="json")
    assert response.status_code == 400
    details = AuditEvent.objects.filter(action="release.refused").order_by("-seq").first().details
    assert details["purpose"] == "x" * 64 and details["measure"] == "y" * 64
