from __future__ import annotations

from tests.releases.conftest import FORECAST, PRODUCT


def test_catalog_lists_queryable_purposes_with_domains_bounds_limits_and_budget(world):
    response = world.manufacturer.client().get("/api/v1/catalog")
    assert response.status_code == 200, response.content
    entries = {entry["purpose"]: entry for entry in response.json()["purposes"]}
    assert set(entries) == {PRODUCT, FORECAST}
    product = entries[PRODUCT]
    # chairco is authorised for furniture and food only: no other market appears.
    categories = [term["code"] for term in product["domains"]["category"]]
    assert categories and all(code.startswith(("furniture/", "food/")) for code in categories)
    assert "furniture/office-chair" in categories
    # Attributes are nested under their category: the key set is (category, attribute) pairs.
    assert "lumbar-support" in [a["code"] for a in product["domains"]["attribute"]["furniture/office-chair"]]
    assert set(product["domains"]["attribute"]) == set(categories)
    assert len(product["domains"]["age_band"]) == 6 and len(product["domains"]["region"]) == 34
    assert product["value_bounds"]["min"] == 1 and product["value_bounds"]["max"] == 5
    assert product["contribution_bounds"] == {"max_cells": 10, "max_signals_per_cell": 3}
    assert product["limits"]["max_epsilon_per_release"] == "1.0000"
    assert product["limits"]["consumer_epsilon_cap"] == "6.0000"
    assert product["limits"]["max_cells"] == 10_000
    assert product["budget"]["allocated"] == "20.0000" and product["budget"]["remaining"] == "20.0000"
    assert "since" not in product["filters"]  # this purpose does not collect when a signal occurred
    forecast = entries[FORECAST]
    assert "week" in forecast["dimensions"] and "since" in forecast["filters"]
    assert "age_band" not in forecast["domains"]


def test_catalog_hides_purposes_outside_the_manufacturers_sectors(make_manufacturer, purposes):
    flowers = make_manufacturer("bloomer", ["flowers"])
    entries = flowers.client().get("/api/v1/catalog").json()["purposes"]
    for entry in entries:
        assert all(term["code"].startswith("flowers/") for term in entry["domains"]["category"])


def test_catalog_is_for_manufacturers_only(world, consumer_a, platform_p):
    assert consumer_a.client().get("/api/v1/catalog").status_code == 403
    assert platform_p.client().get("/api/v1/catalog").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/catalog").status_code == 401
