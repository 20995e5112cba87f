"""The shared charts: what a person (or a screen reader) gets from each function, the same
bytes for the same data, intervals drawn where they belong, empty data said in words,
Chinese kept as text, and a drawing the portal's CSP does not strip of its colours."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.utils import translation

from clearinghouse import charts
from clearinghouse.charts import drawing
from clearinghouse.charts.drawing import INK, LIMIT, _text_width

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _tree(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def _texts(chart: charts.Chart) -> list[str]:
    return [element.text or "" for element in _tree(chart).iter("{http://www.w3.org/2000/svg}text")]


def _ages(**overrides):
    arguments = {
        "title": "Buyers by age",
        "description": "Noisy counts with 95% intervals",
        "categories": ["18–24", "25–34", "35–44"],
        "values": [40.0, 100.0, 3.0],
        "lows": [30.0, 80.0, -7.0],
        "highs": [50.0, 120.0, 13.0],
        "value_label": "people",
    }
    return charts.bars_with_intervals(**(arguments | overrides))


def test_the_same_data_gives_the_same_bytes_and_other_data_other_ids():
    first = _ages()
    drawing._drawn.clear()  # drawn again, not read back from the per-process cache
    again = _ages()
    assert str(first.svg) == str(again.svg)
    other = _ages(values=[41.0, 100.0, 3.0])
    ids = set(re.findall(r' id="([^"]+)"', str(first.svg)))
    assert ids and not ids & set(re.findall(r' id="([^"]+)"', str(other.svg)))


def test_a_chart_drawn_before_is_served_again_without_drawing_but_never_across_kinds_or_languages(monkeypatch):
    drawing._drawn.clear()
    figures = []
    real_figure = drawing._figure
    monkeypatch.setattr(drawing, "_figure", lambda **kwargs: figures.append(1) or real_figure(**kwargs))
    first = _ages()
    again = _ages()
    assert str(again.svg) == str(first.svg) and len(figures) == 1

    with translation.override("zh-hans"):
        chinese = _ages()
    assert len(figures) == 2
    assert "95% 区间" in _texts(chinese) or _texts(chinese) != _texts(first)

    series = [charts.Series(label="grants", values=[3.0, 5.0]), charts.Series(label="withdrawals", values=[1.0, 2.0])]
    arguments = {"title": "Consents", "description": "per week", "categories": ["w1", "w2"], "value_label": "people"}
    stacked = charts.stacked_bars(stacks=series, **arguments)
    grouped = charts.grouped_bars(groups=series, **arguments)
    assert len(figures) == 4 and str(stacked.svg) != str(grouped.svg)

    # A language that writes 0,5 for 0.5 draws its own tick labels.
    shares = {"values": [0.4, 1.2, 0.3], "lows": [0.2, 1.0, 0.1], "highs": [0.6, 1.4, 0.5]}
    point = _ages(**shares)
    monkeypatch.setattr(drawing, "number_format", lambda value, **kwargs: str(value).replace(".", ","))
    comma = _ages(**shares)
    monkeypatch.undo()
    monkeypatch.setattr(drawing, "_figure", lambda **kwargs: figures.append(1) or real_figure(**kwargs))
    assert len(figures) == 6 and "0,5" in _texts(comma) and "0.5" in _texts(point)
    assert str(_ages(**shares).svg) == str(point.svg) and len(figures) == 6

    monkeypatch.setattr(drawing, "_DRAWN_KEPT", 2)
    for value in (1.0, 2.0, 3.0):
        _ages(values=[value, 100.0, 3.0])
    assert len(drawing._drawn) == 2


def test_the_svg_is_named_by_its_title_and_description_and_scales_to_its_box():
    chart = _ages()
    root = _tree(chart)
    assert root.get("role") == "img" and root.get("width") is None and root.get("height") is None and root.get("viewBox")
    title_id, desc_id = root.get("aria-labelledby").split()
    named = {element.get("id"): element.text for element in root.iter() if element.get("id") in {title_id, desc_id}}
    assert named == {title_id: "Buyers by age", desc_id: "Noisy counts with 95% intervals"}
    assert chart.table.headers == ["Category", "people", "Lower bound (95%)", "Upper bound (95%)"]
    assert chart.table.rows[2] == ["35–44", "3", "-7", "13"]


def test_colours_survive_a_csp_without_inline_styles_and_text_uses_the_page_font():
    svg = str(_ages().svg)
    assert "style=" not in svg and "<style" not in svg and "font-family" not in svg
    assert 'fill="#0b4f8a"' in svg  # the bars' colour, as a presentation attribute


def _vertical_segments(chart: charts.Chart, colour: str) -> list[tuple[float, float, float]]:
    found = []
    for path in _tree(chart).iter("{http://www.w3.org/2000/svg}path"):
        if path.get("stroke") != colour:
            continue
        for x1, y1, x2, y2 in re.findall(r"M ([\d.-]+) ([\d.-]+) L ([\d.-]+) ([\d.-]+)", path.get("d", "")):
            if x1 == x2 and y1 != y2:
                found.append((float(x1), float(y1), float(y2)))
    return sorted(found)


def test_each_bar_has_its_interval_drawn_to_scale_and_below_zero_when_it_reaches_there():
    chart = _ages()
    labels_top = min(float(t.get("y")) for t in _tree(chart).iter("{http://www.w3.org/2000/svg}text") if t.text == "18–24")
    whiskers = [segment for segment in _vertical_segments(chart, INK) if max(segment[1:]) < labels_top]  # not the legend's
    assert len(whiskers) == 3
    lengths = [abs(y2 - y1) for _x, y1, y2 in whiskers]
    # Interval widths 20, 40, 20.
    assert lengths[1] == pytest.approx(2 * lengths[0], rel=0.01) and lengths[2] == pytest.approx(lengths[0], rel=0.01)
    zero = [
        float(y)
        for path in _tree(chart).iter("{http://www.w3.org/2000/svg}path")
        if path.get("stroke") == INK
        for y, y_again in re.findall(r"M [\d.]+ ([\d.]+) L [\d.]+ ([\d.]+)$", path.get("d", ""))
        if y == y_again
    ]
    assert len(zero) == 1 and max(whiskers[2][1:]) > zero[0] + 5  # the third interval reaches below the zero line


def test_lines_have_shaded_bands_and_a_forecast_is_dashed_with_a_lighter_band():
    chart = charts.lines_with_band(
        title="Weekly buyers",
        description="Observed and forecast",
        x_labels=["W1", "W2", "W3", "W4", "W5"],
        series=[
            charts.Series("observed", [10, 12, 14, None, None], lows=[8, 10, 12, None, None], highs=[12, 14, 16, None, None]),
            charts.Series(
                "forecast", [None, None, 14, 16, 18], lows=[None, None, 14, 13, 12], highs=[None, None, 14, 19, 24], forecast=True
            ),
        ],
        value_label="people",
    )
    svg = str(chart.svg)
    bands = re.findall(r'fill="(#[0-9a-f]{6})" fill-opacity="([\d.]+)"', svg)
    # The forecast continues the observed line: its colour, a lighter band.
    assert [opacity for colour, opacity in bands if colour == "#0b4f8a"] == ["0.28", "0.12"]
    assert svg.count("stroke-dasharray") >= 1
    assert {"W1", "W5", "observed", "forecast", "95% interval"} <= set(_texts(chart))
    assert chart.table.headers[:4] == ["Period", "observed", "observed, lower bound (95%)", "observed, upper bound (95%)"]
    assert chart.table.rows[4][1] == "–" and chart.table.rows[4][4] == "18"


def test_step_lines_run_up_to_the_limit_drawn_as_a_dotted_line():
    chart = charts.step_lines(
        title="Privacy loss",
        description="Cumulative ε",
        x_labels=["1 Nov", "3 Nov", "today"],
        series=[charts.Series("design", [0.0, 1.5, 1.5])],
        value_label="ε",
        limit=6,
        limit_label="limit 6.00",
    )
    texts = _texts(chart)
    assert "6" in texts and "10" not in texts and "limit 6.00" in texts
    limit_lines = [
        p for p in _tree(chart).iter("{http://www.w3.org/2000/svg}path") if p.get("stroke") == LIMIT and p.get("stroke-dasharray")
    ]
    assert len(limit_lines) >= 1
    y_values = set(re.findall(r"M [\d.]+ ([\d.]+) L [\d.]+ ([\d.]+)", limit_lines[0].get("d"))[0])
    assert len(y_values) == 1  # horizontal


def test_stacked_bars_total_their_stacks_in_the_table():
    chart = charts.stacked_bars(
        title="Requests",
        description="Per week",
        categories=["W1", "W2"],
        stacks=[charts.Series("export", [1, 2]), charts.Series("erasure", [3, 0])],
        value_label="",
    )
    assert chart.table.headers == ["Period", "export", "erasure", "Total"]
    assert chart.table.rows == [["W1", "1", "3", "4"], ["W2", "2", "0", "2"]]
    # Two bars (one of height 0) and the legend's swatch.
    assert len(re.findall(r'<path d="[^"]+" [^>]*fill="#b35c00"', str(chart.svg))) == 3


def test_many_labels_are_thinned_so_that_they_never_overlap():
    labels = [f"12-{day:02d}" for day in range(1, 91)]
    chart = charts.stacked_bars(title="t", description="d", categories=labels, stacks=[charts.Series("a", [1.0] * 90)], value_label="")
    shown = [
        (float(element.get("x")), element.text)
        for element in _tree(chart).iter("{http://www.w3.org/2000/svg}text")
        if element.text in labels
    ]
    assert 3 <= len(shown) < 90 and shown[0][1] == "12-01"
    gaps = [b[0] - a[0] for a, b in zip(shown, shown[1:])]
    assert min(gaps) >= _text_width("12-01")


@pytest.mark.parametrize(
    "draw",
    [
        lambda: charts.bars_with_intervals(title="t", description="d", categories=[], values=[], lows=[], highs=[], value_label="v"),
        lambda: charts.lines_with_band(
            title="t", description="d", x_labels=["a", "b"], series=[charts.Series("s", [None, None])], value_label="v"
        ),
        lambda: charts.step_lines(title="t", description="d", x_labels=[], series=[], value_label="v", limit=6),
        lambda: charts.stacked_bars(title="t", description="d", categories=["a"], stacks=[], value_label="v"),
        lambda: charts.grouped_bars(title="t", description="d", categories=[], groups=[], value_label="v"),
    ],
)
def test_empty_data_says_so_instead_of_drawing_empty_axes(draw):
    with translation.override("zh-hans"):
        chart = draw()
    assert chart.empty and chart.table.rows == []
    assert _texts(chart) == ["这个范围内没有可显示的数据。"]
    assert _tree(chart).get("role") == "img" and "这个范围内没有可显示的数据" in str(chart.svg).split("</desc>")[0]


def test_chinese_labels_stay_text_and_markup_in_labels_is_escaped():
    with translation.override("zh-hans"):
        chart = _ages(title="按年龄的买家", categories=["18–24岁", "<b>25–34</b>", "35 & 以上"], value_label="人数")
    texts = _texts(chart)
    assert {"18–24岁", "<b>25–34</b>", "35 & 以上", "人数", "95% 区间"} <= set(texts)
    assert "<b>" not in str(chart.svg) and "&lt;b&gt;" in str(chart.svg)
    assert chart.table.headers[0] == "类别" and chart.title == "按年龄的买家"


def test_a_dollar_sign_is_text_not_mathematics():
    chart = _ages(categories=["$5", "$10", "$20"], value_label="$ spent")
    assert {"$5", "$10", "$20", "$ spent"} <= set(_texts(chart))


def test_importing_the_package_costs_nothing_and_drawing_never_writes_to_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import sys\n"
        "from django.conf import settings\n"
        "settings.configure(USE_I18N=False)\n"
        "import django; django.setup()\n"
        "import clearinghouse.charts as charts\n"
        "assert 'matplotlib' not in sys.modules, 'imported at start'\n"
        "chart = charts.grouped_bars(title='t', description='d', categories=['a'], groups=[charts.Series('s', [1])], value_label='')\n"
        "import matplotlib\n"
        "assert matplotlib.get_backend().lower() == 'agg', matplotlib.get_backend()\n"
        "print(chart.svg[:4])\n"
    )
    environment = {key: value for key, value in os.environ.items() if key not in {"MPLCONFIGDIR", "MPLBACKEND", "DJANGO_SETTINGS_MODULE"}}
    environment |= {
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "<svg"
    assert list(home.rglob("*")) == []


def test_mismatched_lengths_are_a_programming_error():
    with pytest.raises(ValueError):
        _ages(lows=[1.0, 2.0])


def test_the_shared_template_shows_the_chart_and_its_numbers_and_only_the_message_when_empty():
    from django.template.loader import render_to_string

    html = render_to_string("charts/_chart.html", {"chart": _ages()})
    assert html.index("<svg") < html.index('<details class="numbers">')
    assert "<caption>Buyers by age</caption>" in html
    assert '<th scope="col">Lower bound (95%)</th>' in html and '<th scope="row">35–44</th><td class="num">3</td>' in html
    empty = render_to_string(
        "charts/_chart.html",
        {"chart": charts.bars_with_intervals(title="t", description="d", categories=[], values=[], lows=[], highs=[], value_label="v")},
    )
    assert "No data to show for this range." in empty and "<table" not in empty
