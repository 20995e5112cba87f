"""A service's refusal reads in the page's language: words built from its code and details,
with the right numbers written the page's way, never the API's English message on a Chinese
page, and nothing spent or queued. The numbers expected are the service's own (its details,
asked of the same planner with the same body), so the tests say what the page must show for
whatever the engine states."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation
from django.utils.datastructures import MultiValueDict

from clearinghouse.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from clearinghouse.releases.models import Allocation, PurposeBudget, Release
from clearinghouse.workbench import presentation
from clearinghouse.workbench.forms import ERROR_FIELDS, QuestionForm
from tests.releases.test_faults import unreachable_broker  # noqa: F401 - the fixture, for the broker test
from tests.workbench.conftest import CHAIR, FORECAST, PRODUCT, REPORT_FORM

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def en(value: Any) -> str:
    """A number as an English page writes it: 42,840; 3,254.1212; 1 (not 1.0000)."""
    return f"{Decimal(str(value)).normalize():,f}"


def zh(value: Any) -> str:
    """A number as a Chinese page writes it: 42840; 3254.1212; 1."""
    return f"{Decimal(str(value)).normalize():f}"


def month_en(period: str) -> str:
    year, month = period.split("-")
    return f"{MONTHS[int(month) - 1]} {year}"


def month_zh(period: str) -> str:
    year, month = period.split("-")
    return f"{year}年{int(month)}月"


def reads_as_chinese(text: str, refusal: DomainError) -> None:
    """Chinese words, and no word of English: nothing of the API's message either."""
    assert CJK.search(text), text
    assert not LATIN_WORD.search(text), text
    assert not any(word in text for word in re.findall(r"[A-Za-z]{4,}", refusal.message)), text


def client_for(staff, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(staff)
    return client


def nothing_spent(world) -> None:
    assert not Release.objects.filter(status__in=Release.LIVE).exists()
    assert not Release.objects.filter(status="done").exists()
    assert all(row.spent == 0 for row in Allocation.objects.filter(manufacturer=world.manufacturer.obj))
    assert all(row.spent == 0 for row in PurposeBudget.objects.all())


def _today() -> date:
    return timezone.localdate()


RELEASE = {
    "kind": "release",
    "purpose": PRODUCT,
    "measure": "consumers",
    "dimensions": ["attribute"],
    "category": CHAIR,
    "spend": "epsilon",
    "epsilon": "0.5",
    "shown": f"release:{PRODUCT}",
}


def trend_form(**changes: Any) -> dict[str, Any]:
    """A trend over whole weeks that are over (the last ended at least a week ago)."""
    return {
        "kind": "trend",
        "purpose": FORECAST,
        "measure": "signals",
        "category": CHAIR,
        "since": (_today() - timedelta(weeks=12)).isoformat(),
        "until": (_today() - timedelta(days=14)).isoformat(),
        "forecast_weeks": "4",
        "spend": "epsilon",
        "epsilon": "0.5",
        "shown": f"trend:{FORECAST}",
    } | changes


@dataclass
class Case:
    name: str
    code: str
    form: Callable[[], dict[str, Any]]
    field: str  # the form's field the refusal is shown at
    english: Callable[[dict[str, Any]], str]
    chinese: Callable[[dict[str, Any]], str]


def out_of_reach_en(d: dict[str, Any]) -> str:
    return (
        f"Out of reach: that precision needs ε {en(d['epsilon_needed'])}, more than the ε {en(d['max_epsilon_per_release'])} "
        f"this purpose allows per question. The most it allows gives ± {en(d['best_half_width'])}. Ask for a wider ±, or for fewer cells."
    )


def out_of_reach_zh(d: dict[str, Any]) -> str:
    return (
        f"达不到：这个精度需要 ε {zh(d['epsilon_needed'])}，超过了这个用途每个问题最多可花的 ε {zh(d['max_epsilon_per_release'])}。"
        f"花到上限，精度最好是 ± {zh(d['best_half_width'])}。请放宽 ±，或减少单元格。"
    )


def too_many_cells_en(d: dict[str, Any]) -> str:
    return (
        f"This question has {en(d['cells'])} cells, more than the {en(d['max_cells'])} one answer may have. "
        "Split by fewer things, or choose one product category."
    )


def too_many_cells_zh(d: dict[str, Any]) -> str:
    return f"这个问题有 {zh(d['cells'])} 个单元格，超过了一个答案最多可有的 {zh(d['max_cells'])} 个。请少按几项分组，或只选一个商品类别。"


EPSILON_RULE_EN = (
    "The privacy cost ε was not accepted: give a positive number with at most 4 decimal places, such as 0.5. "
    "A very small ε cannot pay for an answer."
)
EPSILON_RULE_ZH = "隐私成本 ε 没有被接受：请填一个正数，最多 4 位小数，例如 0.5。ε 太小，就付不起一个答案。"


CASES = [
    Case(
        "release accuracy out of reach",
        "accuracy_unreachable",
        lambda: RELEASE | {"spend": "accuracy", "half_width": "1"},
        "half_width",
        out_of_reach_en,
        out_of_reach_zh,
    ),
    Case(
        "report accuracy out of reach",
        "accuracy_unreachable",
        lambda: REPORT_FORM | {"spend": "accuracy", "half_width": "0.5"},
        "half_width",
        out_of_reach_en,
        out_of_reach_zh,
    ),
    Case(
        "trend accuracy out of reach",
        "accuracy_unreachable",
        lambda: trend_form(spend="accuracy", half_width="0.5"),
        "half_width",
        out_of_reach_en,
        out_of_reach_zh,
    ),
    Case(
        "release with too many cells",
        "too_many_cells",
        lambda: RELEASE | {"dimensions": ["category", "attribute", "signal", "age_band", "region"], "category": ""},
        "dimensions",
        too_many_cells_en,
        too_many_cells_zh,
    ),
    Case(
        "report with too many cells",
        "too_many_cells",
        lambda: REPORT_FORM | {"category": "", "tables": ["attribute+region", "signal+age_band"]},
        "tables",
        too_many_cells_en,
        too_many_cells_zh,
    ),
    Case(
        "release ε above the purpose's maximum",
        "epsilon_too_large",
        lambda: RELEASE | {"epsilon": "9"},
        "epsilon",
        lambda d: "This ε is more than this purpose allows per question: at most ε 1.",
        lambda d: "这个 ε 超过了这个用途每个问题允许的上限：最多 ε 1。",
    ),
    Case(
        "trend ε far above any maximum",
        "epsilon_too_large",
        lambda: trend_form(epsilon="10000000"),
        "epsilon",
        lambda d: "This ε is more than this purpose allows per question: at most ε 1.",
        lambda d: "这个 ε 超过了这个用途每个问题允许的上限：最多 ε 1。",
    ),
    Case(
        "precision first for an average",
        "accuracy_unsupported",
        lambda: RELEASE | {"measure": "mean_value", "spend": "accuracy", "half_width": "5"},
        "half_width",
        lambda d: "Choosing the precision works for counts and sums: for an average or a ranking, choose the privacy cost ε instead.",
        lambda d: "按精度提问只适用于计数和求和：平均分或排名请改为选择隐私成本 ε。",
    ),
    Case(
        "trend over too many weeks",
        "too_many_weeks",
        lambda: trend_form(since=(_today() - timedelta(weeks=200)).isoformat()),
        "until",
        lambda d: f"A trend may cover at most {en(d['max_weeks'])} weeks: shorten the span from “From” to “Until”.",
        lambda d: f"一个趋势最多覆盖 {zh(d['max_weeks'])} 周：请缩短“从”和“到”之间的时间段。",
    ),
    Case(
        "trend until this week",
        "week_not_over",
        lambda: trend_form(until=_today().isoformat()),
        "until",
        lambda d: "A trend counts whole weeks that are over: choose an “Until” date in a week that has already ended.",
        lambda d: "趋势只统计已经结束的整周：“到”请选一个已经结束的周里的日期。",
    ),
    Case(
        "trend of a purpose without weeks",
        "dimension_not_allowed",
        lambda: trend_form(purpose=PRODUCT, shown=f"trend:{PRODUCT}"),
        "purpose",
        lambda d: "This purpose has no weekly figures: choose another purpose for a trend.",
        lambda d: "这个用途没有逐周数字：做趋势请选别的用途。",
    ),
    Case(
        "report with a category table beside features",
        "category_with_attribute",
        lambda: REPORT_FORM | {"tables": ["attribute", "category"]},
        "tables",
        lambda d: (
            "A report split by product feature cannot also have a table by product category alone (each feature already names "
            "its category): ask for that table in a report of its own."
        ),
        lambda d: "按商品特点分组的报告，不能再有只按商品类别分组的表（每个特点已经说明了它的类别）：请把那张表放到另一份报告里。",
    ),
    Case(
        "report with the same table twice",
        "duplicate_marginal",
        lambda: REPORT_FORM | {"tables": ["attribute", "category+attribute"]},
        "tables",
        lambda d: "Two of the tables you ticked are the same table (a product feature already names its category): keep one.",
        lambda d: "你勾选的表里有两张其实是同一张（商品特点已经说明了它的类别）：请只留一张。",
    ),
    Case(
        "report with a one-value table",
        "single_value_dimension",
        lambda: REPORT_FORM | {"tables": ["category"]},
        "tables",
        lambda d: (
            "One table is split by something that has a single value under your choices (such as the product category when "
            "you chose one): leave that table out."
        ),
        lambda d: "有一张表的分组在你的选择下只有一个值（例如只选了一个商品类别时的商品类别）：请去掉那张表。",
    ),
    # Refusals coded only "invalid": the general sentence of the field they name.
    Case(
        "ε that is no number",
        "invalid",
        lambda: RELEASE | {"epsilon": "abc"},
        "epsilon",
        lambda d: EPSILON_RULE_EN,
        lambda d: EPSILON_RULE_ZH,
    ),
    Case(
        "ε too small for a report",
        "invalid",
        lambda: REPORT_FORM | {"epsilon": "0.0001"},
        "epsilon",
        lambda d: EPSILON_RULE_EN,
        lambda d: EPSILON_RULE_ZH,
    ),
    Case(
        "a single table's ± that is not whole",
        "invalid",
        lambda: RELEASE | {"spend": "accuracy", "half_width": "1.5"},
        "half_width",
        lambda d: "The precision ± was not accepted: give a positive number such as 20 (a whole number for a single table).",
        lambda d: "精度 ± 没有被接受：请填一个正数，例如 20（单张表要填整数）。",
    ),
    Case(
        "a report without tables",
        "invalid",
        lambda: REPORT_FORM | {"tables": []},
        "tables",
        lambda d: "Tick at least one table.",
        lambda d: "请至少勾选一张表。",
    ),
    Case(
        "a ranking of more features than the category has",
        "invalid",
        lambda: RELEASE | {"measure": "top_k", "dimensions": [], "k": "50"},
        "k",
        lambda d: "“How many to rank” must be a whole number no larger than the number of features of the category.",
        lambda d: "“排前几名”必须是整数，而且不能多于这个类别的特点个数。",
    ),
    Case(
        "a ranking of every category",
        "invalid",
        lambda: RELEASE | {"measure": "top_k", "dimensions": [], "category": ""},
        "category",
        lambda d: "Choose one product category: a ranking ranks the features of exactly one.",
        lambda d: "请选一个商品类别：排名只在一个类别的特点之间排。",
    ),
    Case(
        "a ranking split by feature",
        "invalid",
        lambda: RELEASE | {"measure": "top_k"},
        "dimensions",
        lambda d: "A ranking ranks the features of one category: leave every “Split by” box unticked.",
        lambda d: "排名只在一个类别的特点之间排：“按什么分组”请一个都不要勾。",
    ),
    Case(
        "a trend without its first day",
        "invalid",
        lambda: trend_form(since=""),
        "since",
        lambda d: "Check the dates: a trend needs both, and “Until” must not be before “From”.",
        lambda d: "请检查日期：趋势两个日期都要填，而且“到”不能早于“从”。",
    ),
]


def service_refusal(manufacturer, form_data: dict[str, Any]) -> DomainError:
    """What the plan service answers the form's request body with (its code and details)."""
    from clearinghouse.releases.selectors import catalog_for
    from clearinghouse.workbench.forms import QuestionForm
    from clearinghouse.workbench.views import PLANNERS

    data = MultiValueDict({key: value if isinstance(value, list) else [value] for key, value in form_data.items()})
    form = QuestionForm(data, entries=presentation.catalogue_entries(catalog_for(manufacturer=manufacturer)), words=presentation.words())
    assert form.is_valid(), form.errors
    with pytest.raises(DomainError) as refused:
        PLANNERS[form.cleaned_data["kind"]](manufacturer, form.request_body())
    return refused.value


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_refusal_reads_in_the_pages_language_with_its_numbers_and_nothing_is_spent(staff, seeded, case, language):
    form = case.form()
    refusal = service_refusal(seeded.manufacturer.obj, form)
    assert refusal.code == case.code, refusal.message
    expected = (case.english if language == "en" else case.chinese)(refusal.details)
    client = client_for(staff, language)

    response = client.post("/workbench/ask/", form | {"action": "run"})
    assert response.status_code == 400
    assert response.context["form"].errors.get(case.field) == [expected], response.context["form"].errors
    page = html.unescape(response.content.decode())
    assert expected in page and refusal.message not in page
    if language != "en":
        reads_as_chinese(expected, refusal)
    # The free plan the page's script asks for says the same.
    answer = client.post("/workbench/ask/plan.json", form)
    assert answer.status_code == 400 and answer.json()["errors"][case.field] == [expected]
    nothing_spent(seeded)


# --- Refusals of a purpose that changed after the catalogue was read ---------------------------


@pytest.fixture
def catalogue_read_before(seeded, monkeypatch):
    """The catalogue as it was when the page was drawn; a change made afterwards (the
    purpose retired, its recipients narrowed) meets the question in the services."""
    from clearinghouse.releases import selectors

    entries = selectors.catalog_for(manufacturer=seeded.manufacturer.obj)
    monkeypatch.setattr(selectors, "catalog_for", lambda **kwargs: entries)
    return entries


def _retire(seeded) -> None:
    from clearinghouse.consent.purposes import purpose_retire
    from clearinghouse.core.actors import Actor

    purpose_retire(purpose=seeded.purposes[PRODUCT], actor=Actor.operator())


def _close_to_the_company(seeded) -> None:
    from clearinghouse.consent.models import Purpose

    Purpose.objects.filter(code=PRODUCT, status=Purpose.APPROVED).update(recipient_sectors=["pet"])


PURPOSE_CHANGES = {
    "retired": (
        _retire,
        "unknown_purpose",
        "This purpose is no longer approved: reload the page to see what you may ask now.",
        "这个用途已不再处于批准状态：请刷新页面，看看现在可以问什么。",
    ),
    "no longer open to the company": (
        _close_to_the_company,
        "purpose_not_authorised",
        "Your company's sectors are not among the recipients of this purpose: choose another purpose.",
        "你公司的行业不在这个用途的接收方之内：请选别的用途。",
    ),
}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("change", sorted(PURPOSE_CHANGES))
def test_a_purpose_changed_after_the_page_was_drawn_reads_in_the_pages_language(staff, seeded, catalogue_read_before, change, language):
    make_change, code, english, chinese = PURPOSE_CHANGES[change]
    make_change(seeded)
    refusal = service_refusal(seeded.manufacturer.obj, REPORT_FORM)
    assert refusal.code == code
    response = client_for(staff, language).post("/workbench/ask/", REPORT_FORM | {"action": "run"})
    assert response.status_code == 400
    (text,) = response.context["form"].errors["purpose"]
    if language == "en":
        assert text == english
    else:
        assert text == chinese
        reads_as_chinese(text, refusal)
    assert refusal.message not in html.unescape(response.content.decode())
    nothing_spent(seeded)


# --- Running: the budgets and the job queue ---------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_not_enough_allocation_reads_in_the_pages_language(staff, seeded, language, django_capture_on_commit_callbacks):
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.budgets import budget_allocate, period_of

    budget_allocate(manufacturer_slug=seeded.manufacturer.slug, purpose_code=PRODUCT, epsilon="0.1", period=None, actor=Actor.operator())
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(staff, language).post("/workbench/ask/", REPORT_FORM | {"action": "run"})
    assert response.status_code == 409
    (text,) = response.context["form"].non_field_errors()
    period = period_of()
    if language == "en":
        assert text == (
            f"Not run: your allocation for {month_en(period)} has ε 0.1 left. This question costs ε 0.5. "
            "Nothing was spent: ask for less precision or fewer cells."
        )
    else:
        assert text == f"没有运行：你{month_zh(period)}的配额只剩 ε 0.1。这个问题要花 ε 0.5。没有花任何预算：请降低精度，或减少单元格。"
        reads_as_chinese(text, Conflict(f"Not enough budget: 0.5000 ε requested, 0.1000 left in your allocation for {period}."))
    assert "requested" not in response.content.decode()
    assert not Release.objects.exists()
    assert Allocation.objects.get(manufacturer=seeded.manufacturer.obj, purpose_code=PRODUCT).spent == 0


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_not_enough_left_under_the_purposes_cap_reads_in_the_pages_language(staff, seeded, language, django_capture_on_commit_callbacks):
    from clearinghouse.releases.budgets import period_of

    period = period_of()
    assert PurposeBudget.objects.filter(purpose_code=PRODUCT, period=period).update(cap=Decimal("0.3")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(staff, language).post("/workbench/ask/", REPORT_FORM | {"action": "run"})
    assert response.status_code == 409
    (text,) = response.context["form"].non_field_errors()
    if language == "en":
        assert text == (
            f"Not run: this purpose's cap for all manufacturers together has ε 0.3 left for {month_en(period)}. "
            "This question costs ε 0.5. Nothing was spent: ask for less precision or fewer cells."
        )
    else:
        assert (
            text
            == f"没有运行：这个用途{month_zh(period)}所有厂家合计的上限只剩 ε 0.3。这个问题要花 ε 0.5。没有花任何预算：请降低精度，或减少单元格。"
        )
        reads_as_chinese(text, Conflict("Not enough budget: 0.5000 ε requested, 0.3000 left in the purpose's cap for all manufacturers."))
    assert "requested" not in response.content.decode()
    assert not Release.objects.exists()
    assert PurposeBudget.objects.get(purpose_code=PRODUCT, period=period).spent == 0


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_unreachable_job_queue_reads_in_the_pages_language(transactional_db, staff, seeded, unreachable_broker, language):  # noqa: F811
    response = client_for(staff, language).post("/workbench/ask/", REPORT_FORM | {"action": "run"})
    assert response.status_code == 503
    (text,) = response.context["form"].non_field_errors()
    if language == "en":
        assert text == "The job queue cannot be reached right now; nothing was spent. Try again in a minute."
    else:
        assert text == "现在连不上任务队列；没有花任何预算。请过一分钟再试。"
        reads_as_chinese(text, Unavailable("The job queue is unreachable right now; your budget was not charged. Try again shortly."))
    assert "unreachable" not in response.content.decode()
    # The job was closed at once and its reservation given back: nothing queued, nothing spent.
    assert list(Release.objects.values_list("status", flat=True)) == ["failed"]
    nothing_spent(seeded)


# --- Every code the workbench words, in both languages ----------------------------------------

# Details as the services state them (each code's own keys), one refusal per code mapped.
SAMPLES: dict[str, tuple[type[DomainError], dict[str, Any]]] = {
    "accuracy_unreachable": (
        Invalid,
        {"field": "accuracy", "epsilon_needed": "3254.1212", "best_half_width": "187.3", "max_epsilon_per_release": "1.0000"},
    ),
    "accuracy_unsupported": (Invalid, {"field": "accuracy"}),
    "epsilon_too_large": (Invalid, {"field": "epsilon"}),
    "too_many_cells": (Invalid, {"field": "group_by", "cells": 42840, "max_cells": 10000}),
    "too_many_weeks": (Invalid, {"field": "filters.until", "max_weeks": 104}),
    "week_not_over": (Invalid, {"field": "filters.until"}),
    "dimension_not_allowed": (Invalid, {"field": "purpose"}),
    "category_with_attribute": (Invalid, {"field": "marginals[1]"}),
    "duplicate_marginal": (Invalid, {"field": "marginals[1]"}),
    "single_value_dimension": (Invalid, {"field": "marginals"}),
    "purpose_not_authorised": (Invalid, {"field": "purpose"}),
    "unknown_purpose": (Invalid, {"field": "purpose"}),
    "budget_exhausted": (Conflict, {"scope": "allocation", "remaining": "1234.5000", "period": "2026-12"}),
    "broker_unavailable": (Unavailable, {}),
}
# Numbers of the samples as each page writes them.
SAMPLE_NUMBERS = {
    "accuracy_unreachable": {"en": ["3,254.1212", "187.3", "ε 1"], "zh-hans": ["3254.1212", "187.3", "ε 1"]},
    "too_many_cells": {"en": ["42,840", "10,000"], "zh-hans": ["42840", "10000"]},
    "too_many_weeks": {"en": ["104"], "zh-hans": ["104"]},
    "budget_exhausted": {"en": ["1,234.5", "December 2026"], "zh-hans": ["1234.5", "2026年12月"]},
}
ENGLISH_MESSAGE = "this is the API's English sentence for a client, not for the workbench"


def test_every_code_the_workbench_words_has_a_sample_here():
    assert set(SAMPLES) == set(presentation.REFUSALS)


def _in(language: str, error: DomainError, **context: Any) -> str:
    with translation.override(language):
        return presentation.refusal_words(error, **context)


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_every_code_reads_in_english_and_in_chinese_with_its_numbers(code):
    kind, details = SAMPLES[code]
    error = kind(ENGLISH_MESSAGE, code=code, details=details)
    english, chinese = _in("en", error), _in("zh-hans", error)
    assert english and not CJK.search(english) and ENGLISH_MESSAGE not in english
    reads_as_chinese(chinese, error)
    for language, text in (("en", english), ("zh-hans", chinese)):
        for figure in SAMPLE_NUMBERS.get(code, {}).get(language, []):
            assert figure in text, (language, text)
    # Without its details (or with other ones) a refusal still reads in the page's language.
    bare = kind(ENGLISH_MESSAGE, code=code)
    assert _in("en", bare) and not CJK.search(_in("en", bare))
    reads_as_chinese(_in("zh-hans", bare), bare)


@pytest.mark.parametrize(
    "field",
    sorted(set(ERROR_FIELDS) | {"", "marginals[2]", "filters.signals"}),
)
@pytest.mark.parametrize("kind", [Invalid, NotFound])
def test_any_other_refusal_names_its_field_in_the_pages_language(field, kind):
    error = kind(ENGLISH_MESSAGE, code="some_code_the_workbench_does_not_know", details={"field": field} if field else {})
    form = QuestionForm(entries=[], words={"dimensions": {}, "measures": {}})
    name = form.field_for(field)
    texts = {}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            label = str(form.fields[name].label) if name else None
            texts[language] = presentation.refusal_words(error, field=name, label=label)
            if name is not None and name not in presentation.FIELD_RULES:
                assert label in texts[language]
    english, chinese = texts["en"], texts["zh-hans"]
    assert english != chinese and not CJK.search(english) and ENGLISH_MESSAGE not in english
    reads_as_chinese(chinese, error)


@pytest.mark.parametrize("kind", [Conflict, Unavailable])
def test_an_unknown_conflict_or_outage_reads_in_the_pages_language(kind):
    error = kind(ENGLISH_MESSAGE, code="some_code_the_workbench_does_not_know")
    english, chinese = _in("en", error), _in("zh-hans", error)
    assert "Nothing was spent" in english or "nothing was spent" in english
    reads_as_chinese(chinese, error)


def test_the_catalogues_limits_fill_what_the_details_leave_out_and_the_asked_cost_is_said():
    release = Invalid(
        ENGLISH_MESSAGE, code="accuracy_unreachable", details={"field": "accuracy", "epsilon_needed": "13.0087", "best_half_width": 27}
    )
    assert "more than this purpose allows per question" in _in("en", release)
    assert "more than the ε 2.5 this purpose allows" in _in("en", release, limits={"max_epsilon_per_release": "2.5000"})
    # The details win over the catalogue.
    report = Invalid(ENGLISH_MESSAGE, code="accuracy_unreachable", details={"epsilon_needed": "2", "max_epsilon_per_release": "1.0000"})
    assert "the ε 1 this purpose" in _in("en", report, limits={"max_epsilon_per_release": "2.5000"})
    budget = Conflict(ENGLISH_MESSAGE, code="budget_exhausted", details={"scope": "purpose", "remaining": "0.0000", "period": "2026-12"})
    asked = Conflict(ENGLISH_MESSAGE, code="budget_exhausted", details=budget.details | {"epsilon": "0.7500"})
    assert "This question costs ε 0.75." in _in("en", asked)
    assert "这个问题要花 ε 0.75。" in _in("zh-hans", asked)
    assert "costs" not in _in("en", budget)
    # Every partial wording reads in Chinese too.
    cells = Invalid(ENGLISH_MESSAGE, code="too_many_cells", details={"field": "marginals"})
    assert "10,000 one answer" in _in("en", cells, limits={"max_cells": 10000})
    for error, limits in ((release, None), (cells, {"max_cells": 10000}), (cells, None)):
        reads_as_chinese(_in("zh-hans", error, limits=limits), error)
    assert "13.0087" in _in("zh-hans", release) and "10000" in _in("zh-hans", cells, limits={"max_cells": 10000})


def test_numbers_are_written_the_pages_way():
    with translation.override("en"):
        assert [presentation.amount_words(v) for v in (42840, "1.0000", "3254.1212", None)] == ["42,840", "1", "3,254.1212", ""]
        assert presentation.month_words("2026-12") == "December 2026"
    with translation.override("zh-hans"):
        assert [presentation.amount_words(v) for v in (42840, "1.0000", "3254.1212")] == ["42840", "1", "3254.1212"]
        assert presentation.month_words("2026-12") == "2026年12月"
