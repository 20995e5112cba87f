"""Workbench fixtures: the release engine's world (tests/releases/conftest.py) with a few
office-chair signals, and staff logins for its manufacturer."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.releases.conftest import FORECAST, PRODUCT, World, world  # noqa: F401 - the fixture, for this package

PASSWORD = "lantern-orchid-7-quartz"
CHAIR = "furniture/office-chair"


@pytest.fixture
def make_staff(db):
    from clearinghouse.accounts.services import manufacturer_user_create
    from clearinghouse.core.actors import Actor

    def make(manufacturer_slug: str, username: str):
        return manufacturer_user_create(manufacturer_slug=manufacturer_slug, username=username, password=PASSWORD, actor=Actor.operator())

    return make


@pytest.fixture
def seeded(world):  # noqa: F811 - the imported fixture
    people = world.consumers(6)
    world.consent(people)
    world.signals(
        [
            {"consumer": person, "category": CHAIR, "attribute": attribute, "age_band": age, "region": "CN-SH", "value": 4}
            for person, attribute, age in zip(
                people,
                ["lumbar-support", "lumbar-support", "footrest", "headrest", "mesh-back", "lumbar-support"],
                ["25-34", "25-34", "35-44", "18-24", "25-34", "45-54"],
                strict=True,
            )
        ]
    )
    return world


@pytest.fixture
def staff(seeded, make_staff):
    return make_staff(seeded.manufacturer.slug, "erin")


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff)
    return client


REPORT_FORM = {
    "kind": "report",
    "purpose": PRODUCT,
    "measure": "consumers",
    "tables": ["attribute", "age_band"],
    "category": CHAIR,
    "spend": "epsilon",
    "epsilon": "0.5",
    "shown": f"report:{PRODUCT}",  # the page this form was on
}
