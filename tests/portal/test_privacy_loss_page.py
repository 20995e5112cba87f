from __future__ import annotations

import html as html_module
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

    # One step line per purpose, named, with its numbers in a table: the product-design line
    # climbs 0.5 → 1.5 → 2.25 inside the window.
    svg = _chart_svg(html)
    assert re.search(r'<svg [^>]*role="img" aria-labelledby="[^"]+"', svg) and "cumulative privacy loss" in svg
    assert len(_step_paths(svg)) == 2 and "limit 6.00" in svg
    table = _chart_table(html)
    assert table[0] == ["Date", "Help manufacturers forecast next month's demand", "Help manufacturers design products you want"]
    assert [row[2] for row in table[1:]] == ["0", "0.5", "1.5", "1.5", "2.25", "2.25"]
    assert [row[1] for row in table[1:]] == ["0", "0", "0", "0.25", "0.25", "0.25"]


def _chart_svg(html: str) -> str:
    start = html.index('<svg viewBox="')
    return html[start : html.index("</svg>", start)]


def _chart_table(html: str) -> list[list[str]]:
    table = html[html.index('<details class="numbers">') : html.index("</details>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
    return [[html_module.unescape(cell) for cell in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)] for row in rows]


def _step_paths(svg: str) -> list[list[tuple[float, float]]]:
    """The purposes' lines, drawn inside the plot (the legend's samples are not clipped to it)."""
    paths = []
    for d, colour in re.findall(r'<path d="([^"]+)" clip-path="url\(#[^"]+"[^>]* stroke="(#[0-9a-f]{6})"', svg):
        points = [(float(x), float(y)) for x, y in re.findall(r"[ML] ([\d.-]+) ([\d.-]+)", d)]
        if colour in {"#0b4f8a", "#b35c00"}:
            paths.append(points)
    return paths


def _plot_frame(svg: str) -> tuple[float, float, float, float]:
    """left, top, right, bottom of the plot: the second white rectangle (the first is the page)."""
    d = re.findall(r'<path d="([^"]+)" fill="#ffffff"', svg)[1]
    xs = [float(x) for x in re.findall(r"[ML] ([\d.]+) [\d.]+", d)]
    ys = [float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", d)]
    return min(xs), min(ys), max(xs), max(ys)


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
    svg = _chart_svg(html)
    labels = re.findall(r'text-anchor="end" fill="#4a4f55">([\d.]+)</text>', svg)
    assert labels == ["0", "2", "4", "6"]
    assert ">10<" not in svg

    zero = max(float(y) for y in re.findall(r'<path d="M [\d.]+ ([\d.]+) L [\d.]+ [\d.]+"[^>]*stroke="#c9ced4"', svg))
    limit = float(
        re.search(r'<path d="M [\d.]+ ([\d.]+) L [\d.]+ [\d.]+" clip-path[^>]*stroke-dasharray="[^"]+"[^>]*stroke="#a1150f"', svg).group(1)
    )
    _left, top, _right, _bottom = _plot_frame(svg)
    assert limit - top < 0.05 * (zero - top)  # the limit is at the top of the scale
    design = min(y for _x, y in _step_paths(svg)[1])
    assert abs((zero - design) / (zero - limit) - 2.25 / 6) < 0.01


def test_the_chart_zooms_to_the_active_range():
    """Two charges ten and two days ago sit far apart, not in the last 2 % of a 365-day axis."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from clearinghouse.portal.presentation import ChartSeries, privacy_loss_chart

    now = timezone.now()
    series = [
        ChartSeries(
            label="design",
            cap=Decimal(6),
            points=[(now - timedelta(days=10), Decimal("0.5")), (now - timedelta(days=2), Decimal("1.2"))],
        )
    ]
    chart = privacy_loss_chart(series=series, window_days=365, now=now)
    svg = str(chart.svg)
    left, _top, right, _bottom = _plot_frame(svg)
    (line,) = _step_paths(svg)
    steps = sorted({x for (x, y), (x_next, y_next) in zip(line, line[1:]) if x == x_next and y != y_next})
    first, second = steps[0], steps[1]
    assert (second - first) / (right - left) > 0.4  # eight days apart is half the axis, to scale
    assert first > left + 0.1 * (right - left)  # a flat stretch before the first charge shows where it began
    # Day-precise labels: the range starts two weeks ago and ends today.
    assert [row[1] for row in chart.table.rows] == ["0", "0.5", "1.2", "1.2"]
    assert len({row[0] for row in chart.table.rows}) == 4
    # No charges: a short, flat axis rather than a year of nothing.
    empty = privacy_loss_chart(series=[ChartSeries(label="design", cap=Decimal(6), points=[])], window_days=365, now=now)
    assert not empty.empty and [row[1] for row in empty.table.rows] == ["0", "0"] and empty.table.rows[0][0] != empty.table.rows[1][0]
