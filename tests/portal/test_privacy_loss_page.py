from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.portal.statements import sample_statement

pytestmark = pytest.mark.django_db


def test_without_charges_the_statement_is_empty_but_explains_epsilon(linked_consumer, portal_client):
    html = portal_client(linked_consumer, language="en").get(reverse("portal:privacy-loss")).content.decode()
    assert "What ε (epsilon) means" in html
    assert "No statistic has used your data yet, so your privacy loss is zero." in html
    assert "Total over all purposes: ε 0.00." in html


def test_charges_are_listed_in_words_and_drawn_as_a_cumulative_chart(linked_consumer, portal_client, monkeypatch):
    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: sample_statement())
    html = portal_client(linked_consumer, language="en").get(reverse("portal:privacy-loss")).content.decode()

    rows = re.findall(r"<tr>\s*<td data-label=\"When\">.*?</tr>", html, flags=re.S)
    assert len(rows) == 5  # every charge, including the one older than the window
    # Newest first, the measure in plain words, the manufacturer under the name the statement gives.
    assert ">PixelPhone<" in rows[0] and "most wanted features" in rows[0] and ">0.75<" in rows[0]
    assert ">ErgoChair<" in rows[-1] and ">2.00<" in rows[-1]
    assert "Total over all purposes: ε 4.50." in html
    assert "ε 2.25" in html and "ε 3.75" in html

    # One step line per purpose; the product-design line climbs 0.5 → 1.5 → 2.25 inside the window.
    svg = html[html.index('<svg class="plot"') : html.index("</svg>", html.index('<svg class="plot"'))]
    paths = re.findall(r'<path d="([^"]+)"', svg)
    assert len(paths) == 2
    ys = [float(point.split(",")[1]) for point in re.findall(r"L[\d.]+,[\d.]+", paths[1])]
    distinct = sorted(set(ys), reverse=True)  # SVG y grows downwards: higher ε is a smaller y
    assert len(distinct) == 4  # 0, 0.5, 1.5, 2.25
    assert 'role="img"' in svg and "<title" in svg and "limit 6.00" in svg


def test_chart_and_numbers_are_localised_in_chinese(linked_consumer, portal_client, monkeypatch):
    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: sample_statement())
    html = portal_client(linked_consumer).get(reverse("portal:privacy-loss")).content.decode()
    assert "所有用途合计：ε 4.50。" in html
    assert "最受欢迎的特点" in html and "上限 6.00" in html
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", html)  # dates in Chinese form


def test_a_real_release_appears_on_the_statement(
    linked_consumer, purposes, platform_p, manufacturer, portal_client, django_capture_on_commit_callbacks
):
    """End to end with the release engine: a release that used alice's data is charged to
    her ledger and shows on her page, with the manufacturer, the measure and ε."""
    from clearinghouse.core.actors import Actor
    from clearinghouse.releases.budgets import budget_allocate
    from tests.releases.conftest import PRODUCT, World

    budget_allocate(manufacturer_slug=manufacturer.slug, purpose_code=PRODUCT, epsilon="20", period=None, actor=Actor.operator())
    world = World(purposes=purposes, platform=platform_p, manufacturer=manufacturer)
    alice = linked_consumer.consumer
    world.consent([alice])
    world.signals([{"consumer": alice, "category": "furniture/office-chair", "attribute": "lumbar-support", "value": 5}])
    with django_capture_on_commit_callbacks(execute=True):
        response = manufacturer.client().post(
            "/api/v1/releases",
            {
                "purpose": PRODUCT,
                "measure": "consumers",
                "group_by": ["attribute"],
                "filters": {"category": "furniture/office-chair"},
                "epsilon": "0.5",
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    assert manufacturer.client().get(f"/api/v1/releases/{response.json()['id']}").json()["status"] == "done"

    html = portal_client(linked_consumer, language="en").get(reverse("portal:privacy-loss")).content.decode()
    rows = re.findall(r"<tr>\s*<td data-label=\"When\">.*?</tr>", html, flags=re.S)
    assert len(rows) == 1
    assert ">Manufacturer chairco<" in rows[0] and ">0.50<" in rows[0]
    # What was asked, in plain words (releases.wording), not a bare measure.
    assert ">Manufacturer chairco asked how many people showed interest in office chair, by feature<" in rows[0]
    assert "Total over all purposes: ε 0.50." in html
    assert "No statistic has used your data yet" not in html


def test_the_chart_runs_up_to_the_limit_so_spending_is_visible(linked_consumer, portal_client, monkeypatch):
    """The y-axis ends at the limit (6), not at a round 10 above it: 2.25 of 6 spent climbs
    more than a third of the way up."""
    monkeypatch.setattr("clearinghouse.portal.views._privacy_statement", lambda consumer: sample_statement())
    html = portal_client(linked_consumer, language="en").get(reverse("portal:privacy-loss")).content.decode()
    svg = html[html.index('<svg class="plot"') : html.index("</svg>", html.index('<svg class="plot"'))]
    labels = re.findall(r'text-anchor="end" dominant-baseline="middle"[^>]*>([\d.]+)</text>', svg)
    assert labels == ["0.00", "2.00", "4.00", "6.00"]
    assert "10.00" not in svg

    tick_y = {
        label: float(y)
        for y, label in re.findall(r'<text x="[\d.-]+" y="([\d.]+)" text-anchor="end" dominant-baseline="middle"[^>]*>([\d.]+)<', svg)
    }
    cap_y = float(re.search(r'<line [^>]*y1="([\d.]+)"[^>]*stroke-dasharray="1 4"', svg).group(1))
    assert cap_y == tick_y["6.00"]  # the limit is the top of the scale
    design = re.findall(r'<path d="([^"]+)"', svg)[1]
    highest = min(float(point.split(",")[1]) for point in re.findall(r"L[\d.]+,[\d.]+", design))
    climbed = (tick_y["0.00"] - highest) / (tick_y["0.00"] - tick_y["6.00"])
    assert abs(climbed - 2.25 / 6) < 0.01


def test_the_chart_zooms_to_the_active_range():
    """Two charges ten and two days ago sit far apart, not in the last 2 % of a 365-day axis."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from clearinghouse.portal.presentation import ChartSeries, cumulative_chart

    now = timezone.now()
    series = [
        ChartSeries(
            label="design",
            cap=Decimal(6),
            points=[(now - timedelta(days=10), Decimal("0.5")), (now - timedelta(days=2), Decimal("1.2"))],
        )
    ]
    chart = cumulative_chart(series=series, window_days=365, now=now)
    left, _top, right, _bottom = chart.plot
    steps = sorted({float(x) for x in re.findall(r"L([\d.]+),", chart.lines[0]["d"])})
    first, second = steps[0], steps[1]
    assert (second - first) / (right - left) > 0.4
    assert first > left + 0.1 * (right - left)  # a flat stretch before the first charge shows where it began
    # Day-precise axis labels for a range of weeks.
    assert chart.x_ticks[0]["label"] != chart.x_ticks[1]["label"]
    # No charges: a short, flat axis rather than a year of nothing.
    empty = cumulative_chart(series=[ChartSeries(label="design", cap=Decimal(6), points=[])], window_days=365, now=now)
    assert empty.x_ticks[0]["label"] != empty.x_ticks[1]["label"]
