"""Results people can load: CSV (Accept: text/csv or ?format=csv) with labels in the
request's language, the detached signature (?format=sig), Link headers between them, and
the signed JSON unchanged."""

from __future__ import annotations

import csv
import io
import json

import pytest

from clearinghouse.core.crypto import canonical_json, public_key_for, sha256_hex, verify_signature
from tests.releases.conftest import FORECAST, PRODUCT
from tests.releases.conftest import world as world  # noqa: F401 - the fixture, for this module

CHAIR = "furniture/office-chair"


def rows_of(response) -> list[dict[str, str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff"), "Excel needs the BOM to open UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.fixture
def done_release(world, django_capture_on_commit_callbacks):
    people = world.consumers(3)
    world.consent(people)
    world.signals(
        [
            {"consumer": people[0], "category": CHAIR, "attribute": "lumbar-support", "age_band": "25-34"},
            {"consumer": people[1], "category": CHAIR, "attribute": "footrest", "age_band": "35-44"},
        ]
    )
    client = world.manufacturer.client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/releases",
            {
                "purpose": PRODUCT,
                "measure": "consumers",
                "group_by": ["category", "attribute"],
                "filters": {"category": CHAIR},
                "epsilon": "0.5",
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    release_id = response.json()["id"]
    assert client.get(f"/api/v1/releases/{release_id}").json()["status"] == "done"
    return client, release_id


def test_release_csv_has_one_row_per_cell_with_labels_codes_and_intervals(done_release):
    client, release_id = done_release
    document = client.get(f"/api/v1/releases/{release_id}").json()["result"]["payload"]
    for response in (
        client.get(f"/api/v1/releases/{release_id}?format=csv&lang=zh-hans"),
        client.get(f"/api/v1/releases/{release_id}", HTTP_ACCEPT="text/csv", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9"),
    ):
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == f'attachment; filename="release-{release_id}.csv"'
        rows = rows_of(response)
        assert list(rows[0]) == ["category", "category_label", "attribute", "attribute_label", "value", "half_width", "lower", "upper"]
        assert len(rows) == len(document["cells"]) == 7
        by_attribute = {row["attribute"]: row for row in rows}
        assert by_attribute["lumbar-support"]["attribute_label"] == "腰部支撑"
        assert by_attribute["lumbar-support"]["category_label"] == "办公椅"
        for cell in document["cells"]:
            row = by_attribute[cell["attribute"]]
            assert int(row["value"]) == cell["value"] and int(row["half_width"]) == cell["half_width"]
            assert int(row["lower"]) == cell["value"] - cell["half_width"]
            assert int(row["upper"]) == cell["value"] + cell["half_width"]


def test_labels_follow_lang_then_accept_language(done_release):
    client, release_id = done_release
    english = rows_of(client.get(f"/api/v1/releases/{release_id}?format=csv", HTTP_ACCEPT_LANGUAGE="en"))
    assert {row["attribute_label"] for row in english} >= {"Lumbar support", "Footrest"}
    # lang overrides the header.
    chinese = rows_of(client.get(f"/api/v1/releases/{release_id}?format=csv&lang=zh-hans", HTTP_ACCEPT_LANGUAGE="en"))
    assert "搁脚板" in {row["attribute_label"] for row in chinese}
    bad = client.get(f"/api/v1/releases/{release_id}?format=csv&lang=fr")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "lang"


def test_the_signed_json_is_unchanged_and_links_to_its_other_renderings(done_release):
    client, release_id = done_release
    plain = client.get(f"/api/v1/releases/{release_id}")
    asked = client.get(f"/api/v1/releases/{release_id}?format=json", HTTP_ACCEPT="application/json")
    assert plain.content == asked.content
    envelope = plain.json()["result"]
    assert verify_signature(
        public_key_raw=public_key_for(envelope["key_id"]), document=envelope["payload"], signature_b64=envelope["signature"]
    )
    assert "Content-Disposition" not in plain
    assert f"/api/v1/releases/{release_id}?format=csv>" in plain["Link"]
    csv_links = client.get(f"/api/v1/releases/{release_id}?format=csv")["Link"]
    assert f'/api/v1/releases/{release_id}>; rel="alternate"; type="application/json"' in csv_links
    assert f"/api/v1/releases/{release_id}?format=sig>" in csv_links
    assert "Accept" in plain["Vary"]


def test_the_detached_signature_verifies_the_signed_document(done_release):
    client, release_id = done_release
    envelope = client.get(f"/api/v1/releases/{release_id}").json()["result"]
    for response in (
        client.get(f"/api/v1/releases/{release_id}?format=sig"),
        client.get(f"/api/v1/releases/{release_id}", HTTP_ACCEPT="application/vnd.clearinghouse.signature+json"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/vnd.clearinghouse.signature+json"
        assert response["Content-Disposition"] == f'attachment; filename="release-{release_id}.sig.json"'
        signature = json.loads(response.content)
        assert signature["key_id"] == envelope["key_id"] and signature["alg"] == "Ed25519"
        assert signature["payload_sha256"] == sha256_hex(canonical_json(envelope["payload"]))
        assert verify_signature(
            public_key_raw=public_key_for(signature["key_id"]), document=envelope["payload"], signature_b64=signature["signature"]
        )


def test_nothing_to_download_before_the_job_is_done_is_a_409_in_json(world):
    client = world.manufacturer.client()
    # No on-commit execution: the release stays queued.
    release_id = client.post("/api/v1/releases", {"purpose": PRODUCT, "measure": "signals", "epsilon": "0.1"}, format="json").json()["id"]
    assert client.get(f"/api/v1/releases/{release_id}").status_code == 200
    for query, accept in (("?format=csv", "*/*"), ("?format=sig", "*/*"), ("", "text/csv")):
        response = client.get(f"/api/v1/releases/{release_id}{query}", HTTP_ACCEPT=accept)
        assert response.status_code == 409
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "no_result"
        assert response.json()["error"]["details"]["status"] == "queued"


def test_errors_stay_json_and_unknown_formats_are_refused_naming_format(world, make_manufacturer, done_release):
    client, release_id = done_release
    other = make_manufacturer("otherco", ["furniture"]).client()
    foreign = other.get(f"/api/v1/releases/{release_id}?format=csv")
    missing = other.get("/api/v1/releases/00000000-0000-0000-0000-000000000000?format=csv")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content and foreign["Content-Type"] == "application/json"
    bad = client.get(f"/api/v1/releases/{release_id}?format=xlsx")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "format"
    # A list has no CSV: Accept: text/csv alone cannot be met.
    assert client.get("/api/v1/releases", HTTP_ACCEPT="text/csv").status_code == 406
    assert client.get("/api/v1/releases?format=csv").json()["error"]["details"]["field"] == "format"


def test_budget_as_csv_with_purpose_titles_in_the_language_asked(world):
    client = world.manufacturer.client()
    response = client.get("/api/v1/budget?format=csv&lang=en")
    assert response.status_code == 200
    overview = client.get("/api/v1/budget").json()
    assert response["Content-Disposition"] == f'attachment; filename="budget-{overview["period"]}.csv"'
    rows = rows_of(response)
    assert len(rows) == len(overview["budgets"])
    row = next(r for r in rows if r["purpose"] == PRODUCT and r["period"] == overview["period"])
    expected = next(b for b in overview["budgets"] if b["purpose"] == PRODUCT and b["period"] == overview["period"])
    assert row["allocated"] == expected["allocated"] and row["remaining"] == expected["remaining"]
    assert row["purpose_label"] == world.purposes[PRODUCT].title["en"]
    chinese = rows_of(client.get("/api/v1/budget?format=csv", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert {r["purpose_label"] for r in chinese} >= {world.purposes[PRODUCT].title["zh-hans"]}
    # The budget is not a signed document: no signature rendering.
    assert client.get("/api/v1/budget?format=sig").status_code == 400


def test_catalogue_labels_every_dimension_value_in_the_language_asked(world):
    client = world.manufacturer.client()
    english = client.get("/api/v1/catalog", HTTP_ACCEPT_LANGUAGE="en").json()["purposes"]
    chinese = client.get("/api/v1/catalog?lang=zh-hans").json()["purposes"]
    for entries, language in ((english, "en"), (chinese, "zh-hans")):
        for entry in entries:
            for dimension, terms in entry["domains"].items():
                if dimension == "week":
                    continue
                groups = terms.values() if isinstance(terms, dict) else [terms]
                for group in groups:
                    for term in group:
                        assert term["label"] == term["labels"][language], (dimension, term)
    product = next(e for e in chinese if e["purpose"] == PRODUCT)
    assert {t["label"] for t in product["domains"]["attribute"][CHAIR]} >= {"腰部支撑"}


def test_report_csv_names_the_table_of_every_row(world, django_capture_on_commit_callbacks):
    people = world.consumers(4)
    world.consent(people)
    world.signals([{"consumer": p, "category": CHAIR, "attribute": "headrest", "age_band": "25-34", "region": "CN-SH"} for p in people])
    client = world.manufacturer.client()
    body = {
        "purpose": PRODUCT,
        "measure": "consumers",
        "filters": {"category": CHAIR},
        "marginals": [["attribute"], ["age_band"]],
        "epsilon": "0.5",
    }
    with django_capture_on_commit_callbacks(execute=True):
        report_id = client.post("/api/v1/reports", body, format="json").json()["id"]
    document = client.get(f"/api/v1/reports/{report_id}").json()["result"]["payload"]
    response = client.get(f"/api/v1/reports/{report_id}?format=csv&lang=en")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"] == f'attachment; filename="report-{report_id}.csv"'
    rows = rows_of(response)
    assert len(rows) == sum(len(m["cells"]) for m in document["marginals"])
    assert {r["table"] for r in rows} == {"attribute", "age_band"}
    headrest = next(r for r in rows if r["table"] == "attribute" and r["attribute"] == "headrest")
    cell = next(c for c in document["marginals"][0]["cells"] if c["attribute"] == "headrest")
    assert headrest["attribute_label"] == "Headrest" and headrest["value"] == cell["value"]
    assert float(headrest["upper"]) - float(headrest["lower"]) == pytest.approx(2 * float(cell["half_width"]))
    age_row = next(r for r in rows if r["table"] == "age_band" and r["age_band"] == "25-34")
    assert age_row["attribute"] == "" and age_row["age_band_label"]


def test_trend_csv_has_observed_weeks_then_the_forecast(world, django_capture_on_commit_callbacks):
    client = world.manufacturer.client()
    body = {
        "purpose": FORECAST,
        "measure": "consumers",
        "by": "attribute",
        "filters": {"category": CHAIR, "since": "2026-01-05", "until": "2026-03-29"},
        "epsilon": "0.5",
        "forecast_weeks": 4,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/trends", body, format="json")
    assert response.status_code == 202, response.content
    trend_id = response.json()["id"]
    document = client.get(f"/api/v1/trends/{trend_id}").json()["result"]["payload"]
    rows = rows_of(client.get(f"/api/v1/trends/{trend_id}", HTTP_ACCEPT="text/csv", HTTP_ACCEPT_LANGUAGE="en"))
    series = document["series"][0]
    mine = [r for r in rows if r["attribute"] == series["attribute"]]
    observed = [r for r in mine if r["kind"] == "observed"]
    forecast = [r for r in mine if r["kind"] == "forecast"]
    assert len(rows) == len(document["series"]) * (len(document["weeks"]) + 4)
    assert [r["week"] for r in observed] == document["weeks"]
    assert len(forecast) == 4
    assert series["attribute"] == "lumbar-support" and observed[0]["attribute_label"] == "Lumbar support"
    first = series["weeks"][0]
    assert observed[0]["value"] == first["value"] and observed[0]["running_total"] == first["running_total"]
    assert [forecast[0]["lower"], forecast[0]["upper"]] == series["forecast"]["weeks"][0]["interval_95"]


def release_done(world, capture, body):
    people = world.consumers(4)
    world.consent(people)
    world.signals(
        [
            {"consumer": p, "category": CHAIR, "attribute": attribute, "age_band": "25-34", "value": 4}
            for p in people
            for attribute in ("lumbar-support", "footrest")
        ]
    )
    client = world.manufacturer.client()
    with capture(execute=True):
        response = client.post("/api/v1/releases", {"purpose": PRODUCT, "epsilon": "0.8"} | body, format="json")
    assert response.status_code == 202, response.content
    release_id = response.json()["id"]
    return client, release_id, client.get(f"/api/v1/releases/{release_id}").json()["result"]["payload"]


def test_a_mean_release_gives_its_interval_and_the_noisy_centred_sum_and_consumers(world, django_capture_on_commit_callbacks):
    client, release_id, document = release_done(
        world, django_capture_on_commit_callbacks, {"measure": "mean_value", "group_by": ["age_band"]}
    )
    rows = rows_of(client.get(f"/api/v1/releases/{release_id}?format=csv&lang=en"))
    assert list(rows[0]) == ["age_band", "age_band_label", "value", "half_width", "lower", "upper", "noisy_centred_sum", "noisy_consumers"]
    assert len(rows) == len(document["cells"]) == 6
    for row, cell in zip(rows, document["cells"], strict=True):
        assert row["age_band"] == cell["age_band"] and [row["lower"], row["upper"]] == cell["interval"]
        assert row["value"] == (cell["value"] or "") and row["half_width"] == ""
        assert int(row["noisy_centred_sum"]) == cell["centred_sum"] and int(row["noisy_consumers"]) == cell["consumers"]
    assert rows[1]["age_band_label"] == "25–34"


def test_a_top_k_release_is_its_ranking(world, django_capture_on_commit_callbacks):
    client, release_id, document = release_done(
        world, django_capture_on_commit_callbacks, {"measure": "top_k", "k": 3, "filters": {"category": CHAIR}}
    )
    rows = rows_of(client.get(f"/api/v1/releases/{release_id}?format=csv&lang=zh-hans"))
    assert list(rows[0]) == ["rank", "category", "category_label", "attribute", "attribute_label"]
    assert [(int(r["rank"]), r["attribute"]) for r in rows] == [(r["rank"], r["attribute"]) for r in document["ranking"]]
    assert {r["category_label"] for r in rows} == {"办公椅"}
    assert all(r["attribute_label"] and r["attribute_label"] != r["attribute"] for r in rows)


def test_a_spreadsheet_never_runs_a_cell_as_a_formula():
    from clearinghouse.api.renderers import Table, csv_text

    text = csv_text(Table(["label", "value"], [['=HYPERLINK("http://x")', "-3"], ["@SUM(A1)", "+7.5"], ["25–34 岁", None]]))
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "-3"]  # numbers keep their sign
    assert rows[2] == ["'@SUM(A1)", "+7.5"]
    assert rows[3] == ["25–34 岁", ""]
