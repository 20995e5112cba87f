"""The Python client as a manufacturer's analyst uses it, against a live server: plans of
every kind, an accuracy-first report into pandas with its intervals and labels, releases as
plain records, a trend and its forecast."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from clearinghouse_client import ValidationError

from clearinghouse.releases.models import Release
from tests.clients.conftest import AGES, BLOOMS, CHAIR, CHAIR_FEATURES, FLOWERS, TWO_TABLES, WEEKS, chair_release, flower_trend, spent
from tests.releases.conftest import FORECAST, PRODUCT

pytestmark = pytest.mark.django_db(transaction=True)


# --- Plans -------------------------------------------------------------------------------


def test_plans_of_every_kind_spend_nothing(connect, market):
    client = connect("en")
    release_plan = client.plan("release", **chair_release(epsilon=0.5))
    assert release_plan["cells"] == len(CHAIR_FEATURES)
    assert release_plan["cost"]["epsilon"] == "0.5000"

    report_plan = client.plan("report", **TWO_TABLES, accuracy=200)
    assert [m["dimensions"] for m in report_plan["marginals"]] == [["attribute"], ["age_band"]]
    assert all(Decimal(m["half_width"]) <= 200 for m in report_plan["marginals"])

    trend_plan = client.plan("trend", **flower_trend())
    assert len(trend_plan["weeks"]) == WEEKS
    assert Decimal(trend_plan["cost"]["epsilon"]) == Decimal("0.5")

    assert spent(market) == 0 and spent(market, FORECAST) == 0
    assert not Release.objects.exists()


def test_a_plan_with_a_bad_body_is_a_validation_error_naming_the_field(connect):
    with pytest.raises(ValidationError) as caught:
        connect("en").plan("report", **TWO_TABLES | {"marginals": [["attribute"], ["colour"]]}, epsilon="0.5")
    assert caught.value.status == 400
    assert caught.value.detail["field"] == "marginals[1]"
    assert caught.value.code != ""


def test_an_unknown_kind_is_refused_before_any_request(connect):
    with pytest.raises(ValueError, match="release, report, trend"):
        connect().plan("histogram", purpose=PRODUCT)


# --- A report into pandas ------------------------------------------------------------------


def test_accuracy_first_report_into_pandas_with_intervals_and_chinese_labels(connect, market):
    client = connect("zh-hans")
    plan = client.plan("report", **TWO_TABLES, accuracy=200)
    job = client.report(**TWO_TABLES, accuracy=200)
    assert job.status in ("queued", "running", "done") and not job.repeat
    job.wait(timeout=60)
    assert job.done

    frame = job.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(CHAIR_FEATURES) + 6  # one row per cell of both tables
    assert {"marginal", "attribute", "attribute_label", "age_band", "age_band_label", "value", "half_width", "lower", "upper"} <= set(
        frame.columns
    )
    features = frame[frame["marginal"] == "attribute"]
    assert list(features["attribute"]) == CHAIR_FEATURES
    assert features.set_index("attribute").loc["lumbar-support", "attribute_label"] == "腰部支撑"
    assert features["age_band"].isna().all()  # the attribute table covers every age band
    assert (frame["lower"] == frame["value"] - frame["half_width"]).all()
    assert (frame["upper"] == frame["value"] + frame["half_width"]).all()
    assert (frame["half_width"] <= 200).all()
    assert (frame["value"] >= 0).all()  # a report's tables are made non-negative
    # The age-band table counts people, each once, off a table of people; the attribute
    # table counts them once per feature they want: two tables, the document says which.
    tables = job.payload["mechanism"]["tables"]
    assert [(t["table"], t["marginals"]) for t in tables] == [("full_domain", [["attribute"]]), ("people", [["age_band"]])]
    assert "age_band alone counts each consumer once" in job.payload["counts"]

    attrs = frame.attrs
    assert attrs["kind"] == "report" and attrs["id"] == job.id
    assert attrs["epsilon"] == pytest.approx(float(plan["cost"]["epsilon"]))
    assert attrs["rho"] == pytest.approx(float(job.data["rho"]))
    assert attrs["delta"] == pytest.approx(float(job.payload["delta"])) and attrs["delta"] > 0
    assert attrs["mechanism"] == job.payload["mechanism"]["name"]
    assert attrs["snapshot_at"] == job.payload["snapshot_at"]
    assert ("reach" in attrs) == ("reach" in job.payload)
    assert spent(market) == Decimal(plan["cost"]["epsilon"])

    english = connect("en").job("report", job.id).to_pandas()
    assert english.set_index(["marginal", "attribute"]).loc[("attribute", "lumbar-support"), "attribute_label"] == "Lumbar support"


def test_asking_the_same_report_again_is_the_stored_answer_and_spends_nothing(connect, market):
    client = connect("en")
    first = client.report(**TWO_TABLES, epsilon="0.5").wait(timeout=60)
    before = spent(market)
    again = client.report(**TWO_TABLES, epsilon=0.5)
    assert again.repeat and again.id == first.id and again.done
    assert spent(market) == before
    assert again.to_records() == first.to_records()


# --- Releases without pandas -----------------------------------------------------------------


def test_release_to_records_one_row_per_cell_with_labels_and_bounds(connect):
    job = connect("en").release(**chair_release()).wait(timeout=60)
    rows = job.to_records()
    assert [row["attribute"] for row in rows] == CHAIR_FEATURES
    assert rows[0]["attribute_label"] == "Lumbar support"
    half_width = job.payload["accuracy"]["half_width"]
    for row, cell in zip(rows, job.payload["cells"]):
        assert row["value"] == cell["value"] and isinstance(row["value"], int)
        assert (row["half_width"], row["lower"], row["upper"]) == (half_width, cell["value"] - half_width, cell["value"] + half_width)
    attrs = job.to_pandas().attrs
    # Seven attributes a person at ε 0.5: the Gaussian wins at the same share of the cap.
    assert attrs["epsilon"] == 0.5 and attrs["delta"] == 1e-07 and attrs["mechanism"] == "discrete_gaussian"
    assert attrs["rho"] == float(job.payload["rho"]) > 0


def test_mean_and_top_k_releases_as_rows(connect):
    client = connect("en")
    mean = client.release(purpose=PRODUCT, measure="mean_value", group_by=["age_band"], filters={"category": CHAIR}, epsilon="1").wait(60)
    rows = mean.to_records()
    assert [row["age_band"] for row in rows] == AGES
    assert rows[0]["age_band_label"] == "18–24"
    for row, cell in zip(rows, mean.payload["cells"]):
        assert row["half_width"] is None  # a mean's interval is not symmetric about it
        assert (row["lower"], row["upper"]) == (float(cell["interval"][0]), float(cell["interval"][1]))
    top = client.release(purpose=PRODUCT, measure="top_k", k=3, filters={"category": CHAIR}, epsilon="0.5").wait(60)
    ranked = top.to_records()
    assert [row["rank"] for row in ranked] == [1, 2, 3]
    assert all(row["attribute"] in CHAIR_FEATURES and row["attribute_label"] for row in ranked)
    assert top.to_pandas().attrs["score_gap"] == top.payload["accuracy"]["score_gap"]


# --- A trend ---------------------------------------------------------------------------------


def test_trend_weeks_and_forecast_into_pandas(connect):
    client = connect("zh-hans")
    job = client.trend(**flower_trend()).wait(timeout=120)
    frame = job.to_pandas()
    forecast_entry = next(p for p in client.catalog()["purposes"] if p["purpose"] == FORECAST)
    series = len(forecast_entry["domains"]["attribute"][FLOWERS])
    assert len(frame) == series * WEEKS  # one series per fresh-cut flower, whether bought or not
    assert set(BLOOMS) <= set(frame["attribute"])
    assert frame.set_index("attribute").loc["rose", "attribute_label"].iloc[0] == "玫瑰"
    rose = frame[frame["attribute"] == "rose"]
    assert list(rose["week"]) == job.payload["weeks"]
    # Running totals are the prefix sums of the weekly values.
    assert rose["value"].cumsum().round(2).tolist() == rose["running_total"].round(2).tolist()
    assert (frame["upper"] - frame["lower"]).tolist() == pytest.approx((2 * frame["half_width"]).tolist())
    assert frame.attrs["rho"] == pytest.approx(float(job.payload["rho"]))
    assert frame.attrs["mechanism"] == "continual_release_factorisation"

    forecast = job.to_pandas(forecast=True)
    assert len(forecast) == series * 4
    assert (forecast["lower"] <= forecast["lower_80"]).all() and (forecast["upper_80"] <= forecast["upper"]).all()
    assert (forecast["lower"] >= 0).all()
    with pytest.raises(ValueError, match="only a trend"):
        connect().release(**chair_release()).wait(60).to_records(forecast=True)
