"""The Python client (clients/python) against a live server: pytest-django's live_server in
this process, on a transactional test database, with Celery eager, so a job requested
through HTTP is computed when its request commits, exactly as a worker would compute it.

The client is imported from its source directory, the way `pip install ./clients/python`
would install it, so `make test` needs nothing installed beyond requirements.txt."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from clearinghouse.core import crypto
from clearinghouse.core.actors import Actor
from clearinghouse.releases.budgets import budget_allocate
from clearinghouse.releases.models import Allocation
from tests.conftest import SavedWorld, manufacturer_make, platform_make, purposes_publish
from tests.releases.conftest import FORECAST, PRODUCT, World

CLIENT_SOURCE = Path(__file__).resolve().parents[2] / "clients" / "python"
if str(CLIENT_SOURCE) not in sys.path:
    sys.path.insert(0, str(CLIENT_SOURCE))

CHAIR = "furniture/office-chair"
CHAIR_FEATURES = ["lumbar-support", "recline-flat", "footrest", "headrest", "mesh-back", "adjustable-armrest", "seat-heating"]
AGES = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
FLOWERS = "flowers/fresh-cut"
BLOOMS = ["rose", "lily", "carnation", "tulip"]
WEEKS = 8


def recent_weeks() -> tuple:
    """The last WEEKS whole ISO weeks, inside the forecast purpose's retention."""
    today = timezone.localdate(timezone=ZoneInfo(django_settings.TIME_ZONE))
    last_sunday = today - timedelta(days=today.weekday() + 1)
    return last_sunday - timedelta(days=7 * WEEKS - 1), last_sunday


@pytest.fixture
def signing_keys(settings, tmp_path):
    """Signing keys of this test's own, so rotating one cannot disturb another test."""
    settings.CH_KEY_DIR = str(tmp_path / "keys")
    settings.CH_GENERATE_KEYS = True
    yield Path(settings.CH_KEY_DIR)
    crypto.reset_key_cache()


@pytest.fixture
def short_connections(monkeypatch):
    """The live server answers each request in a thread of its own: with persistent
    connections, every one would keep a session open on the test database after its thread
    ended, and the database could not be dropped at the end of the run."""
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


def market_build() -> World:
    """ErgoChair (furniture and flowers) with 20 ε per purpose this month, and consenting
    people with office-chair wishes and flower purchases over the last WEEKS weeks."""
    purposes, platform = purposes_publish(), platform_make("shop-p")
    maker = manufacturer_make("ergochair", ["furniture", "flowers"])
    for code in (PRODUCT, FORECAST):
        budget_allocate(manufacturer_slug=maker.slug, purpose_code=code, epsilon="20", period=None, actor=Actor.operator())
    world = World(purposes=purposes, platform=platform, manufacturer=maker)
    people = world.consumers(60)
    world.consent(people)
    world.consent(people, purpose_code=FORECAST)
    first_monday, _ = recent_weeks()
    zone = ZoneInfo(django_settings.TIME_ZONE)
    chairs, flowers = [], []
    for n, person in enumerate(people):
        for feature in (CHAIR_FEATURES[n % 7], CHAIR_FEATURES[(n * 3 + 1) % 7]):
            chairs.append(
                {
                    "consumer": person,
                    "category": CHAIR,
                    "attribute": feature,
                    "signal": "wishlist",
                    "value": 1 + n % 5,
                    "age_band": AGES[n % 6],
                    "region": "CN-SH" if n % 2 else "CN-GD",
                }
            )
        day = datetime.combine(first_monday + timedelta(days=7 * (n % WEEKS) + n % 7), time(12), tzinfo=zone)
        flowers.append({"consumer": person, "category": FLOWERS, "attribute": BLOOMS[n % 4], "signal": "purchase", "occurred_at": day})
    world.signals(chairs)
    world.signals(flowers, purpose_code=FORECAST)
    return world


@pytest.fixture(scope="module")
def market_saved(django_db_setup, django_db_blocker):
    """The market, built and committed once per module (tests/conftest.py's SavedWorld)."""
    saved = SavedWorld(market_build, django_db_blocker)
    yield saved
    saved.drop(django_db_blocker)


@pytest.fixture
def market(market_saved, live_server, short_connections, signing_keys, transactional_db) -> World:
    """The market, as built, for this test."""
    return market_saved.restore()


@pytest.fixture
def connect(live_server, market):
    """``connect(language="zh-hans", key=None)``: a Client for ErgoChair on the live server."""
    from clearinghouse_client import Client

    def make(language: str = "zh-hans", key: str | None = None, **options):
        return Client(live_server.url, key or market.manufacturer.key, language, **options)

    return make


# --- Request bodies -------------------------------------------------------------------------

TWO_TABLES = {"purpose": PRODUCT, "measure": "consumers", "filters": {"category": CHAIR}, "marginals": [["attribute"], ["age_band"]]}


def chair_release(**changes):
    return {
        "purpose": PRODUCT,
        "measure": "consumers",
        "group_by": ["attribute"],
        "filters": {"category": CHAIR},
        "epsilon": "0.5",
    } | changes


def flower_trend(**changes):
    since, until = recent_weeks()
    body = {
        "purpose": FORECAST,
        "measure": "consumers",
        "by": "attribute",
        "filters": {"category": FLOWERS, "since": since.isoformat(), "until": until.isoformat()},
        "forecast_weeks": 4,
        "epsilon": "0.5",
    }
    return body | changes


def spent(market, purpose=PRODUCT) -> Decimal:
    return Allocation.objects.get(manufacturer=market.manufacturer.obj, purpose_code=purpose).spent
