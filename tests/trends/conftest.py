"""Trend tests use the release engine's world (signals written as intake stores them), with
a flower grower as the manufacturer."""

import pytest

from clearinghouse.core.actors import Actor
from clearinghouse.releases.budgets import budget_allocate
from tests.conftest import manufacturer_make, module_build, platform_make, purposes_publish
from tests.releases.conftest import FORECAST, PRODUCT, World

__all__ = ["FORECAST", "PRODUCT", "World"]


def world_build(purposes, platform) -> World:
    grower = manufacturer_make("bloomco", ["flowers", "furniture"])
    for code in (PRODUCT, FORECAST):
        budget_allocate(manufacturer_slug=grower.slug, purpose_code=code, epsilon="20", period=None, actor=Actor.operator())
    return World(purposes=purposes, platform=platform, manufacturer=grower)


@pytest.fixture
def world(purposes, platform_p, db) -> World:
    return world_build(purposes, platform_p)


@pytest.fixture(scope="module")
def world_of_module(module_db, django_db_blocker) -> World:
    """The same world, built once for a module whose tests all use ``db``
    (tests/releases/conftest.py's ``world_of_module`` says how a module opts in)."""
    with module_build(django_db_blocker):
        return world_build(purposes_publish(), platform_make("shop-p"))
