from __future__ import annotations

import copy
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clearinghouse.audit.models import AuditEvent
from clearinghouse.consent.models import Purpose, TaxonomyTerm
from clearinghouse.consent.purposes import notice_digest, purpose_file_read

SHIPPED = ["c2m-product-design", "c2m-demand-forecast"]


def write(tmp_path, document) -> str:
    path = tmp_path / "purpose.json"
    path.write_text(json.dumps(document, ensure_ascii=False))
    return str(path)


def publish(*args) -> str:
    out = StringIO()
    call_command("publish_purpose", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def design() -> dict:
    return purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json")


@pytest.mark.parametrize("code", SHIPPED)
def test_shipped_purposes_publish_and_approve(db, code):
    output = publish(f"clearinghouse/consent/purposes/{code}.json", "--approve")
    assert f"{code} version 1 (approved)" in output
    purpose = Purpose.objects.get(code=code)
    assert purpose.notice_digests == {lang: notice_digest(text) for lang, text in purpose.notice.items()}
    assert purpose.impact_assessment
    assert AuditEvent.objects.filter(action="purpose.approved", target=f"purpose:{code}@1").exists()


def test_shipped_purposes_collect_what_the_issue_says(db):
    design = purpose_file_read("clearinghouse/consent/purposes/c2m-product-design.json")
    forecast = purpose_file_read("clearinghouse/consent/purposes/c2m-demand-forecast.json")
    assert design["fields"] == ["category", "attribute", "signal", "value", "age_band", "region"]
    assert design["retention_days"] == 365
    assert forecast["fields"] == ["category", "attribute", "signal", "region", "occurred_at"]
    assert forecast["retention_days"] == 180


def test_approving_an_existing_draft_says_it_approved_it(db, tmp_path, design):
    path = write(tmp_path, design)
    assert publish(path).strip() == "Published c2m-product-design version 1 (draft)."
    approved = publish(path, "--approve").strip()
    assert approved.startswith("Approved c2m-product-design version 1 (was a draft)"), approved
    assert Purpose.objects.get().status == Purpose.APPROVED
    again = publish(path, "--approve").strip()
    assert again == "Already published: c2m-product-design version 1 (approved); nothing changed."
    assert AuditEvent.objects.filter(action="purpose.approved").count() == 1


def test_publishing_without_approve_leaves_a_draft_and_republishing_is_a_no_op(db, tmp_path, design):
    path = write(tmp_path, design)
    assert "(draft)" in publish(path)
    assert "Already published" in publish(path)
    assert Purpose.objects.count() == 1
    assert AuditEvent.objects.filter(action="purpose.published").count() == 1


def test_changed_content_under_the_same_version_is_refused(db, tmp_path, design):
    publish(write(tmp_path, design))
    design["notice"]["en"] += " (changed)"
    with pytest.raises(CommandError, match="already published with different content; publish version 2"):
        publish(write(tmp_path, design))


def test_approving_a_new_version_retires_the_old_one(db, tmp_path, design):
    publish(write(tmp_path, design), "--approve")
    publish(write(tmp_path, design | {"version": 2}), "--approve")
    assert dict(Purpose.objects.values_list("version", "status")) == {1: "retired", 2: "approved"}


def test_approval_needs_an_impact_assessment(db, tmp_path, design):
    del design["impact_assessment"]
    with pytest.raises(CommandError, match="impact assessment"):
        publish(write(tmp_path, design), "--approve")
    assert not Purpose.objects.filter(status="approved").exists()


def _without(document, key):
    document = copy.deepcopy(document)
    del document[key]
    return document


def _with(document, path, value):
    document = copy.deepcopy(document)
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return document


BAD = [
    ("unknown top-level field", lambda d: d | {"colour": "blue"}, "colour: unknown field"),
    ("missing field", lambda d: _without(d, "retention_days"), "retention_days: is required"),
    ("field outside the schema", lambda d: _with(d, ["fields"], d["fields"] + ["phone"]), "'phone' is not one of"),
    ("duplicate field", lambda d: _with(d, ["fields"], d["fields"] + ["region"]), "fields: lists an entry twice"),
    ("no category", lambda d: _with(d, ["fields"], ["signal", "value"]), "must include 'category'"),
    ("dimension without its field", lambda d: _with(d, ["dimensions"], d["dimensions"] + ["week"]), "'week' needs the field 'occurred_at'"),
    ("unknown dimension", lambda d: _with(d, ["dimensions"], ["colour"]), "'colour' is not one of"),
    ("attribute without category", lambda d: _with(d, ["dimensions"], ["attribute"]), "'category' must be a dimension too"),
    (
        "measure without value",
        lambda d: _with(_with(d, ["fields"], ["category", "signal"]), ["dimensions"], ["category"]),
        "'sum_value' needs the field 'value'",
    ),
    ("unknown measure", lambda d: _with(d, ["measures"], ["median"]), "'median' is not one of"),
    ("inverted bounds", lambda d: _with(d, ["value_bounds"], {"min": 5, "max": 1}), "min (5) must be less than max (1)"),
    ("float bound", lambda d: _with(d, ["value_bounds"], {"min": 0.5, "max": 1}), "value_bounds.min: must be an integer"),
    (
        "bounds without value",
        lambda d: _with(_with(_with(d, ["fields"], ["category", "signal"]), ["dimensions"], ["category"]), ["measures"], ["consumers"]),
        "value_bounds: only applies",
    ),
    ("zero retention", lambda d: _with(d, ["retention_days"], 0), "retention_days: must be a whole number from 1 to 365"),
    ("sector outside taxonomy", lambda d: _with(d, ["recipient_sectors"], ["furniture", "weapons"]), "'weapons' matches no category"),
    ("negative epsilon", lambda d: _with(d, ["epsilon", "per_release_max"], -1), "epsilon.per_release_max: must be greater than 0"),
    ("release over period cap", lambda d: _with(d, ["epsilon", "per_period_cap"], "0.5"), "cannot exceed epsilon.per_period_cap"),
    ("release over consumer cap", lambda d: _with(d, ["epsilon", "per_consumer_cap"], "0.5"), "cannot exceed epsilon.per_consumer_cap"),
    ("zero cells", lambda d: _with(d, ["contribution_bounds", "max_cells"], 0), "contribution_bounds.max_cells"),
    ("missing language", lambda d: _with(d, ["notice"], {"en": "only English"}), "notice: must give exactly these languages"),
    ("empty notice", lambda d: _with(d, ["notice", "zh-hans"], "  "), "notice.zh-hans: must be non-empty"),
    ("bad code", lambda d: d | {"code": "Has Spaces"}, "code: must be"),
    ("lawful basis", lambda d: d | {"lawful_basis": "legitimate-interest"}, "lawful_basis: must be one of consent"),
    ("version", lambda d: d | {"version": 0}, "version: must be a whole number"),
]


@pytest.mark.parametrize(("label", "mutate", "message"), BAD, ids=[b[0] for b in BAD])
def test_publish_purpose_names_the_problem(db, tmp_path, design, label, mutate, message):
    with pytest.raises(CommandError) as excinfo:
        publish(write(tmp_path, mutate(design)))
    assert message in str(excinfo.value)
    assert not Purpose.objects.exists()


def test_publish_purpose_with_a_broken_file(db, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="is not valid JSON"):
        publish(str(path))
    with pytest.raises(CommandError, match="no such file"):
        publish(str(tmp_path / "missing.json"))


def test_load_taxonomy_is_idempotent_and_never_deletes_terms(db, tmp_path):
    out = StringIO()
    call_command("load_taxonomy", stdout=out)
    assert "0 new terms, 0 deactivated" in out.getvalue()
    document = json.loads(open("clearinghouse/consent/data/taxonomy.json", encoding="utf-8").read())
    document["version"] = "2026.2"
    document["categories"] = [c for c in document["categories"] if c["path"] != "watch/custom"]
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(document, ensure_ascii=False))
    out = StringIO()
    call_command("load_taxonomy", str(path), stdout=out)
    assert "deactivated" in out.getvalue()
    watch = TaxonomyTerm.objects.get(dimension="category", code="watch/custom")
    assert watch.active is False


def test_load_taxonomy_rejects_bad_documents(db, tmp_path):
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps({"version": "x", "categories": [], "signals": [], "age_bands": [], "regions": []}))
    with pytest.raises(CommandError, match="non-empty list of categories"):
        call_command("load_taxonomy", str(path))


def test_default_taxonomy_has_the_spec_domains(db):
    from clearinghouse.consent.taxonomy import taxonomy_index

    index = taxonomy_index()
    assert len(index.regions) == 34
    assert set(index.age_bands) == {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}
    assert set(index.signals) == {"view", "wishlist", "cart", "purchase", "rating", "survey"}
    for path in (
        "furniture/office-chair",
        "food/bird-nest",
        "electronics/gaming-phone",
        "electronics/senior-phone",
        "electronics/laptop",
        "appliance/fresh-air-ac",
        "apparel/shirt",
        "apparel/hoodie",
        "flowers/fresh-cut",
        "beauty/lipstick",
        "watch/custom",
    ):
        assert path in index.categories
    chair = index.categories["furniture/office-chair"]
    assert (chair, "lumbar-support") in index.attributes
