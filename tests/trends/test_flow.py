"""A trend end to end on a seeded world: the stated half-widths of the weekly values and of
the running totals cover the truth, the running totals are the prefix sums of the weekly
values, the forecast is there, and each contributor is charged once."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.utils import timezone

from clearinghouse.core.crypto import public_key_for, verify_signature
from clearinghouse.demo.synthetic import DeterministicStream
from clearinghouse.releases import accounting
from clearinghouse.releases.ledger import chunk_decode
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.selectors import privacy_loss_statement
from tests.trends.conftest import FORECAST

CUT = "flowers/fresh-cut"
ROSES = ["rose", "lily", "carnation", "sunflower", "tulip", "peony", "chrysanthemum", "hydrangea", "gypsophila"]
WEEKS = 12


def recent_weeks():
    """The last WEEKS whole ISO weeks (inside the purpose's 180-day retention)."""
    today = timezone.localdate(timezone=ZoneInfo(settings.TIME_ZONE))
    last_sunday = today - timedelta(days=today.weekday() + 1)
    first_monday = last_sunday - timedelta(days=7 * WEEKS - 1)
    return first_monday, last_sunday


def seed_world(world, *, people: int, seed: str = "trends-flow"):
    """``people`` consumers with consent, each buying one to three (flower, week) cells, some
    twice in the same cell (counted once). Nobody reaches the 20-cell bound, so the bounded
    truth is the plain truth. Returns the consumers and the true (series, week) counts."""
    first_monday, _ = recent_weeks()
    zone = ZoneInfo(settings.TIME_ZONE)
    stream = DeterministicStream(seed)
    consumers = world.consumers(people)
    world.consent(consumers, purpose_code=FORECAST)
    # A rising season: later weeks and the first flowers are more popular.
    week_weights = np.linspace(1, 3, WEEKS)
    flower_weights = np.linspace(4, 1, len(ROSES))
    counts = stream.integers(1, 4, people)
    truth = np.zeros((len(ROSES), WEEKS), dtype=np.int64)
    rows = []
    for position, consumer in enumerate(consumers):
        flowers = stream.choice(flower_weights, int(counts[position]))
        weeks = stream.choice(week_weights, int(counts[position]))
        cells = sorted({(int(f), int(w)) for f, w in zip(flowers, weeks)})
        for flower, week in cells:
            truth[flower, week] += 1
            day = datetime.combine(first_monday + timedelta(days=7 * week + (flower % 7)), time(12), tzinfo=zone)
            for kind in ("view", "purchase"):
                rows.append({"consumer": consumer, "category": CUT, "attribute": ROSES[flower], "signal": kind, "occurred_at": day})
    world.signals(rows, purpose_code=FORECAST)
    return consumers, truth


def _request(epsilon: str, **extra):
    first_monday, last_sunday = recent_weeks()
    return {
        "purpose": FORECAST,
        "measure": "consumers",
        "by": "attribute",
        "filters": {"category": CUT, "since": first_monday.isoformat(), "until": last_sunday.isoformat()},
        "epsilon": epsilon,
        "forecast_weeks": 6,
    } | extra


def test_trend_end_to_end_covers_the_truth_sums_exactly_forecasts_and_charges_each_contributor_once(
    world, django_capture_on_commit_callbacks
):
    consumers, truth = seed_world(world, people=300)
    bystander = world.consumers(1)[0]
    world.consent([bystander], purpose_code=FORECAST)  # consented, no signals: never charged
    running_truth = np.cumsum(truth, axis=1)
    client = world.manufacturer.client()
    weekly_in = running_in = total = 0
    trends = []
    for run in range(16):
        epsilon = f"{Decimal('0.5') - Decimal(run) / 10000}"  # a new request each time
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/trends", _request(epsilon), format="json")
        assert response.status_code == 202, response.content
        trend = client.get(f"/api/v1/trends/{response.json()['id']}").json()
        assert trend["status"] == "done", trend
        envelope = trend["result"]
        assert verify_signature(
            public_key_raw=public_key_for(envelope["key_id"]), document=envelope["payload"], signature_b64=envelope["signature"]
        )
        payload = envelope["payload"]
        assert [s["attribute"] for s in payload["series"]] == ROSES
        for position, series in enumerate(payload["series"]):
            weeks = series["weeks"]
            assert len(weeks) == WEEKS
            values = [Decimal(w["value"]) for w in weeks]
            # The running totals are exactly the prefix sums of the stated weekly values.
            assert [Decimal(w["running_total"]) for w in weeks] == list(np.cumsum(values))
            got = np.array([float(v) for v in values])
            weekly_in += int(np.sum(np.abs(got - truth[position]) <= [float(w["half_width"]) for w in weeks]))
            running = np.array([float(w["running_total"]) for w in weeks])
            running_in += int(np.sum(np.abs(running - running_truth[position]) <= [float(w["running_total_half_width"]) for w in weeks]))
            total += WEEKS
        trends.append(trend)
    # 1,728 weekly values (independent) and as many running totals (correlated within a series).
    assert 0.93 <= weekly_in / total <= 0.97, weekly_in / total
    assert 0.91 <= running_in / total <= 0.99, running_in / total

    payload = trends[0]["result"]["payload"]
    assert payload["kind"] == "trend" and payload["mechanism"]["noise"] == "discrete_gaussian"
    assert payload["mechanism"]["strategy"] == "identity"  # a person may touch 12 of 12 weeks
    assert payload["epsilon"] == "0.5000" and payload["delta"] == "1e-07"
    assert accounting.zcdp_to_epsilon(float(payload["rho"]), 1e-7) <= 0.5
    assert payload["contribution_bounds"] == {
        "max_cells": 20,
        "max_signals_per_cell": 5,
        "cells_per_consumer": 20,
        "per_cell_max": 1,
        "max_weeks_per_person": WEEKS,
    }
    # The forecast: six weeks after the last, intervals nested around the point.
    forecast = payload["series"][0]["forecast"]["weeks"]
    last = recent_weeks()[1]
    assert len(forecast) == 6
    assert forecast[0]["week"] == f"{(last + timedelta(days=1)).isocalendar().year}-W{(last + timedelta(days=1)).isocalendar().week:02d}"
    for week in forecast:
        low95, high95 = map(Decimal, week["interval_95"])
        low80, high80 = map(Decimal, week["interval_80"])
        assert 0 <= low95 <= low80 <= Decimal(week["value"]) <= high80 <= high95
    # An interval is clipped at zero: a fit heading below zero (a small series under noise)
    # gives [0, 0], so a width is checked over every trend's forecast, not in one draw.
    widths = [
        Decimal(week["interval_95"][1]) - Decimal(week["interval_95"][0])
        for trend in trends
        for week in trend["result"]["payload"]["series"][0]["forecast"]["weeks"]
    ]
    assert sum(width > 0 for width in widths) >= 0.75 * len(widths), widths

    # One charge per person per trend: the ledger holds each contributor once, nobody else.
    release = Release.objects.get(pk=trends[0]["id"])
    charged = np.concatenate([chunk_decode(c.chunk, c.bits) for c in ChargeChunk.objects.filter(release=release)])
    assert sorted(charged.tolist()) == sorted(c.id for c in consumers)
    statement = privacy_loss_statement(consumer=consumers[0])
    mine = [c for c in statement["charges"] if c["release_id"] == str(release.id)]
    assert len(mine) == 1 and mine[0]["rho"] == str(release.rho)
    assert len(statement["charges"]) == len(trends)
    expected = accounting.guarantee_of(pure_units=0, rho_units_total=sum(accounting.rho_units(Decimal(t["rho"])) for t in trends))
    assert statement["total_epsilon"] == str(expected.epsilon)
    assert privacy_loss_statement(consumer=bystander)["charges"] == []


def test_a_signals_trend_counts_every_kept_signal_with_its_sensitivity(world, django_capture_on_commit_callbacks):
    consumers, truth = seed_world(world, people=40, seed="trends-signals")
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/trends", _request("1", measure="signals", by=None), format="json")
    trend = world.manufacturer.client().get(f"/api/v1/trends/{response.json()['id']}").json()
    payload = trend["result"]["payload"]
    # One series of twelve weeks: at most 12 cells (fewer than the purpose's 20) of at most
    # five signals each, so the squared L2 bound is 12 * 5^2.
    assert payload["mechanism"]["sensitivity"]["squared_bound_counts"] == 300
    assert payload["contribution_bounds"]["cells_per_consumer"] == 12
    # Kept signals: two per (flower, week) cell bought; the series is one total per week.
    weekly = [Decimal(w["value"]) for w in payload["series"][0]["weeks"]]
    last = payload["series"][0]["weeks"][-1]
    assert Decimal(last["running_total"]) == sum(weekly)
    assert abs(sum(weekly) - 2 * int(truth.sum())) <= 2 * Decimal(last["running_total_half_width"])  # z = 3.9
    assert len(payload["series"]) == 1 and payload["by"] is None
    release = Release.objects.get(pk=trend["id"])
    charged = np.concatenate([chunk_decode(c.chunk, c.bits) for c in ChargeChunk.objects.filter(release=release)])
    assert sorted(charged.tolist()) == sorted(c.id for c in consumers)
