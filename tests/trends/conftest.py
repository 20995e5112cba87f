"""Trend tests use the release engine's world (signals written as intake stores them), with
a flower grower as the manufacturer."""

import pytest

from clearinghouse.core.actors import Actor
from clearinghouse.releases.budgets import budget_allocate
from tests.releases.conftest import FORECAST, PRODUCT, World

__all__ = ["FORECAST", "PRODUCT", "World"]


@pytest.fixture
def world(purposes, platform_p, make_manufacturer) -> World:
    grower = make_manufacturer("bloomco", ["flowers", "furniture"])
    for code in (PRODUCT, FORECAST):
        budget_allocate(manufacturer_slug=grower.slug, purpose_code=code, epsilon="20", period=None, actor=Actor.operator())
    return World(purposes=purposes, platform=platform_p, manufacturer=grower)
