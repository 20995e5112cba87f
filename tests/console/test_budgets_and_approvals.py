"""Issue 15 item 5: the budget report warns about over-allocation; approving a purpose
version shows what changes and how many consents lapse, with an empty impact assessment
that is required in the page's language."""

import copy
from io import StringIO

import pytest
from django.core.management import call_command

from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.core.actors import Actor
from tests.conftest import grant_body

PRODUCT = "c2m-product-design"


@pytest.fixture
def officer_client(client, officer):
    client.login(username=officer.username, password=officer.password)
    return client


def english(client):
    client.cookies["django_language"] = "en"
    return client


def allocate(*args):
    call_command("allocate_budget", *args, stdout=StringIO(), stderr=StringIO())


def test_budget_report_marks_an_over_allocation(officer_client, purposes, make_manufacturer):
    first, second = make_manufacturer("maker-a", ["furniture"]), make_manufacturer("maker-b", ["furniture"])
    allocate(first.slug, PRODUCT, "--epsilon", "20")
    allocate(first.slug, "c2m-demand-forecast", "--epsilon", "5")
    page = english(officer_client).get("/compliance/reports/budget/").content.decode()
    assert "Over-allocated" not in page and "over the cap" not in page

    allocate(second.slug, PRODUCT, "--epsilon", "3", "--force")
    page = officer_client.get("/compliance/reports/budget/").content.decode()
    assert "Over-allocated: in 1 purpose and period" in page
    assert page.count('class="over-allocated"') == 1  # the product-design row only, not the forecast one
    row = page[page.index('class="over-allocated"') :].split("</tr>", 1)[0]
    assert PRODUCT in row and "23" in row and "over the cap" in row
    officer_client.cookies["django_language"] = "zh-hans"
    chinese = officer_client.get("/compliance/reports/budget/").content.decode()
    assert "超额分配" in chinese and "超出上限" in chinese


def _new_version(changes: dict, version: int = 2):
    document = copy.deepcopy(purpose_file_read(f"clearinghouse/consent/purposes/{PRODUCT}.json"))
    document["version"] = version
    document.update(changes)
    purpose, _ = purpose_publish(document=document, actor=Actor.operator())
    return purpose


def test_approval_page_shows_the_diff_and_the_consents_that_will_lapse(officer_client, purposes, make_consumer, platform_p, platform_q):
    current = purposes[PRODUCT]
    people = [make_consumer() for _ in range(3)]
    for person in people[:2]:
        assert person.client().post("/api/v1/me/consents", grant_body(current, platform_p.slug), format="json").status_code == 201
    people[0].client().post("/api/v1/me/consents", grant_body(current, platform_q.slug), format="json")
    # A withdrawn consent does not lapse: it is not active.
    people[2].client().post("/api/v1/me/consents", grant_body(current, platform_p.slug), format="json")
    people[2].client().post("/api/v1/me/consents", {"purpose": PRODUCT, "platform": platform_p.slug, "action": "withdraw"}, format="json")
    notice = dict(current.notice)
    notice["en"] = notice["en"].replace("after 365 days", "after 180 days")
    draft = _new_version(
        {
            "notice": notice,
            "retention_days": 180,
            "fields": [*current.fields, "occurred_at"],
            "epsilon": {"per_release_max": "1.0", "per_period_cap": "15", "per_consumer_cap": "6"},
            "recipient_sectors": [s for s in current.recipient_sectors if s != "pet"],
        }
    )
    page = english(officer_client).get(f"/compliance/purposes/{PRODUCT}/{draft.version}/").content.decode()
    assert "3 consents given to version 1 (from 2 people) will lapse when you approve" in page
    rows = [row.split("</tr>", 1)[0] for row in page.split('<th scope="row">')[1:]]

    def row(label):
        return next(text for text in rows if text.startswith(label))

    assert "changed" in row("Retention (days)") and "365" in row("Retention (days)") and "180" in row("Retention (days)")
    assert "<ins>+ time of the action</ins>" in row("Data collected")
    assert "<del>− pet</del>" in row("Recipients")
    assert "changed" in row("ε per period, all manufacturers") and ">20<" in row("ε per period, all manufacturers")
    assert "<del>365</del><ins>180</ins>" in row("Notice (English)")
    for unchanged in ("Notice (Chinese)", "Measures", "ε per release at most", "Release dimensions", "Title (English)"):
        assert "unchanged" in row(unchanged) and "changed</strong>" not in row(unchanged), unchanged
    # Fields are words, not codes.
    assert "product category" in row("Data collected") and "number of people" in row("Measures")

    chinese = officer_client
    chinese.cookies["django_language"] = "zh-hans"
    page = chinese.get(f"/compliance/purposes/{PRODUCT}/{draft.version}/").content.decode()
    assert "3 项" in page and "2 人" in page and "失效" in page and "商品类别" in page and "保存期限" in page


def test_a_first_version_has_nothing_to_lapse(officer_client, db):
    document = purpose_file_read("clearinghouse/consent/purposes/c2m-demand-forecast.json")
    draft, _ = purpose_publish(document=document, actor=Actor.operator())
    page = english(officer_client).get(f"/compliance/purposes/{draft.code}/1/").content.decode()
    assert "first version of this purpose to be approved: no consent lapses" in page
    assert "will lapse" not in page


@pytest.mark.parametrize(
    "language, required, message",
    [
        ("en", "(required)", "A personal-information impact assessment summary of at least 20 characters is required"),
        ("zh-hans", "（必填）", "须填写至少 20 个字符的个人信息保护影响评估摘要"),
    ],
)
def test_impact_assessment_starts_empty_and_is_required_in_the_pages_language(officer_client, purposes, language, required, message):
    draft = _new_version({"impact_assessment": "PIA 2026-02 (summary): an English text in the published file."})
    officer_client.cookies["django_language"] = language
    url = f"/compliance/purposes/{PRODUCT}/{draft.version}/"
    page = officer_client.get(url).content.decode()
    textarea = page[page.index('<textarea id="impact_assessment"') :].split("</textarea>", 1)[0]
    assert textarea.endswith(">")  # empty: nothing prefilled from the file
    assert "PIA 2026-02" not in page
    assert required in page
    refused = officer_client.post(url, {"action": "approve", "impact_assessment": ""})
    assert refused.status_code == 400 and message in refused.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"
    purposes[PRODUCT].refresh_from_db()
    assert purposes[PRODUCT].status == "approved"
