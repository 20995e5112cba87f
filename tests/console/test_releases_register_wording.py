"""The console's releases register says what each job asked in the same words a person
reads on their privacy-loss page (releases.wording), in the officer's language."""

from __future__ import annotations

import pytest

from clearinghouse.core.actors import Actor
from clearinghouse.releases.budgets import budget_allocate
from tests.releases.conftest import PRODUCT, World

pytestmark = pytest.mark.django_db


def test_the_register_describes_each_release_in_words(
    client, officer, purposes, platform_p, manufacturer, consumer_a, django_capture_on_commit_callbacks
):
    budget_allocate(manufacturer_slug=manufacturer.slug, purpose_code=PRODUCT, epsilon="20", period=None, actor=Actor.operator())
    world = World(purposes=purposes, platform=platform_p, manufacturer=manufacturer)
    world.consent([consumer_a.consumer])
    world.signals([{"consumer": consumer_a.consumer, "category": "furniture/office-chair", "attribute": "lumbar-support"}])
    with django_capture_on_commit_callbacks(execute=True):
        response = manufacturer.client().post(
            "/api/v1/releases",
            {"purpose": PRODUCT, "measure": "top_k", "k": 2, "filters": {"category": "furniture/office-chair"}, "epsilon": "0.5"},
            format="json",
        )
    assert response.status_code == 202, response.content

    client.login(username=officer.username, password=officer.password)
    chinese = client.get("/compliance/reports/releases/").content.decode()
    assert "Manufacturer chairco 询问了办公椅方面人们最想要的 2 个功能" in chinese
    client.cookies["django_language"] = "en"
    english = client.get("/compliance/reports/releases/").content.decode()
    assert "Manufacturer chairco asked which 2 features people want most in office chair" in english
    assert "What was asked" in english
