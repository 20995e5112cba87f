"""releases.wording: every kind of job (release, report, trend) described once, in plain
words, in both languages, from the job's own request."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.releases.models import Release
from clearinghouse.releases.wording import charge_describe, job_describe

pytestmark = pytest.mark.django_db


def job(**fields) -> Release:
    defaults = {
        "manufacturer": Manufacturer(name="ErgoChair", slug="ergochair"),
        "purpose_code": "c2m-product-design",
        "kind": Release.RELEASE,
        "measure": "consumers",
        "group_by": [],
        "filters": {},
        "epsilon": Decimal("0.7"),
        "spec": {},
    }
    return Release(**(defaults | fields))


def test_a_release_names_the_maker_the_measure_the_category_and_the_breakdown():
    release = job(group_by=["attribute", "age_band"], filters={"category": "furniture/office-chair"})
    assert job_describe(release=release, language="en") == (
        "ErgoChair asked how many people showed interest in office chair, by feature and age band"
    )
    assert job_describe(release=release, language="zh-hans") == "ErgoChair 询问了办公椅方面有多少人感兴趣，按功能、年龄段分组"
    assert charge_describe(release=release, language="zh-hans").endswith("——用掉了你的 ε 0.70")
    assert charge_describe(release=release, language="en").endswith(" — used ε 0.70 of yours")


def test_filters_on_kinds_of_action_and_dates_are_said():
    release = job(measure="signals", filters={"signals": ["purchase", "wishlist"], "since": "2026-11-01", "until": "2026-11-30"})
    english = job_describe(release=release, language="en")
    assert english.startswith("ErgoChair asked how many times people showed interest; counting only: purchased and wishlisted; from ")
    assert "Nov. 1, 2026" in english and "Nov. 30, 2026" in english
    chinese = job_describe(release=release, language="zh-hans")
    assert "只计入：购买、收藏/想要" in chinese and "2026年11月1日 至 2026年11月30日" in chinese


def test_top_k_says_how_many_features():
    release = job(measure="top_k", k=3, filters={"category": "furniture/office-chair"})
    assert job_describe(release=release, language="en") == "ErgoChair asked which 3 features people want most in office chair"
    assert job_describe(release=release, language="zh-hans") == "ErgoChair 询问了办公椅方面人们最想要的 3 个功能"


def test_a_report_lists_its_marginals():
    report = job(kind=Release.REPORT, measure="consumers", spec={"marginals": [["age_band"], ["attribute", "region"], []]})
    assert job_describe(release=report, language="en") == (
        "ErgoChair asked for a report of how many people showed interest, in 3 tables: by age band; by feature and province; in total"
    )
    assert job_describe(release=report, language="zh-hans") == (
        "ErgoChair 要了一份报告：有多少人感兴趣，共 3 张表：按年龄段；按功能、省份；总数"
    )


def test_a_trend_says_weekly_series_split_and_forecast():
    trend = job(kind=Release.TREND, measure="mean_value", spec={"by": "region", "weeks": 8, "forecast_weeks": 4})
    assert job_describe(release=trend, language="en") == (
        "ErgoChair asked the average score people gave, week by week over 8 weeks, one line per province, with a forecast of 4 more weeks"
    )
    assert job_describe(release=trend, language="zh-hans") == (
        "ErgoChair 询问了人们给出的平均评分，按周统计，共 8 周，每个省份一条线，并预测之后 4 周"
    )


def test_a_person_counted_only_as_left_out_is_told_so_with_what_that_cost():
    release = job(filters={"category": "furniture/office-chair"})
    english = charge_describe(release=release, language="en", epsilon=Decimal("0.035"), reach_only=True)
    assert english.endswith("— you were only counted as someone at their limit, which used ε 0.04 of yours")
    chinese = charge_describe(release=release, language="zh-hans", epsilon=Decimal("0.035"), reach_only=True)
    assert chinese.endswith("——你只是作为已到上限的人被计数，用掉了你的 ε 0.04")
