from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import link_subject


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    # Failed-login counters live in the cache; one test's failures must not lock another's user.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def linked_consumer(consumer_a, platform_p, platform_q, purposes):
    """alice, linked to shop-p and shop-q, both shipped purposes approved, nothing consented."""
    link_subject(consumer_a, platform_p, "alice-at-p")
    link_subject(consumer_a, platform_q, "alice-at-q")
    return consumer_a


@pytest.fixture
def portal_client():
    """``portal_client(handle)``: a Django test client logged in as that consumer."""

    def make(handle, *, language: str | None = None, enforce_csrf_checks: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf_checks)
        client.force_login(handle.consumer.user)
        if language:
            from django.conf import settings

            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return make
