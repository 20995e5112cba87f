"""The rest of tests/browser/ runs in Chromium's headless shell when it is installed (the
faster build, conftest.CHROMIUM); the portal's whole journey runs here in the full browser
(Debian's /usr/bin/chromium), in English (test_portal_journey runs it in Chinese), so the
pages keep working in what people use."""

from __future__ import annotations

import pytest

from tests.browser import test_portal_journey as journey
from tests.browser.conftest import FULL_CHROMIUM, chromium_launch, chromium_required
from tests.browser.test_portal_journey import browser_context_options, world  # noqa: F401  (the journey's fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(playwright):
    chromium_required(FULL_CHROMIUM)
    instance = chromium_launch(playwright, FULL_CHROMIUM)
    yield instance
    instance.close()


def test_the_whole_journey_in_the_full_browser(page, context, live_server, world):  # noqa: F811
    journey.test_whole_journey(page, context, live_server, world, "en")
