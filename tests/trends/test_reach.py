"""A trend states its reach like every answer, paid from 5% of its ρ (releases/reach.py)."""

from __future__ import annotations

from decimal import Decimal

from clearinghouse.releases.ledger import chunk_decode
from clearinghouse.releases.models import ChargeChunk, Release
from tests.trends.test_flow import _request, seed_world


def test_a_trend_states_its_reach_and_charges_its_rho_only(world, django_capture_on_commit_callbacks):
    consumers, _truth = seed_world(world, people=40, seed="trends-reach")
    body = _request("1")
    planned = world.manufacturer.client().post("/api/v1/trends/plan", body, format="json").json()
    assert planned["cost"]["reach"]["share"] == "0.05"
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/trends", body, format="json")
    assert response.status_code == 202, response.content
    trend = Release.objects.get(pk=response.json()["id"])
    assert trend.status == Release.DONE, (trend.error_code, trend.error_message)
    section = trend.result["payload"]["reach"]
    assert section["mechanism"]["name"] == "discrete_gaussian" and section["rho"] == planned["cost"]["reach"]["rho"]
    assert Decimal(section["rho"]) + Decimal(section["answer_rho"]) == trend.rho
    assert abs(section["covered"]["value"] - 40) <= 4 * section["covered"]["half_width"]
    charged = set()
    for chunk in ChargeChunk.objects.filter(release=trend):
        assert not chunk.reach_only
        charged |= set(chunk_decode(chunk.chunk, chunk.bits).tolist())
    assert charged == {c.id for c in consumers}
