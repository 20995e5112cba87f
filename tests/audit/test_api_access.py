"""Who may read the audit API and its public part, and that none of it can be written
(apart from test_api.py: these tests share one log and one party of each kind, built per
module)."""

import pytest
from rest_framework.test import APIClient

from clearinghouse.audit.services import audit_checkpoint_sign
from tests.audit.conftest import make_events
from tests.audit.test_api import COMPLIANCE_ONLY, PUBLIC
from tests.conftest import consumer_make, manufacturer_make, module_build, officer_make, platform_make


@pytest.fixture(scope="module")
def parties_of_module(module_db, django_db_blocker):
    """One party of each kind and a log of three events with a checkpoint, built once for
    the module (tests/conftest.py's module_db)."""
    with module_build(django_db_blocker):
        handles = {
            "consumer": consumer_make("alice"),
            "platform": platform_make("shop-p"),
            "manufacturer": manufacturer_make("chairco", ["furniture", "food"]),
            "compliance": officer_make(),
        }
        make_events(3)
        audit_checkpoint_sign()
    return handles


@pytest.fixture
def parties(parties_of_module, db):
    return {"anonymous": APIClient(), **{kind: handle.client() for kind, handle in parties_of_module.items()}}


@pytest.mark.parametrize("kind", ["anonymous", "consumer", "platform", "manufacturer", "compliance"])
@pytest.mark.parametrize("url", COMPLIANCE_ONLY + PUBLIC)
def test_permission_matrix(parties, kind, url):
    response = parties[kind].get(url)
    if url in PUBLIC or kind == "compliance":
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == (401 if kind == "anonymous" else 403)
        assert response.json()["error"]["code"] in {"unauthenticated", "forbidden"}


@pytest.mark.parametrize("url", COMPLIANCE_ONLY + PUBLIC)
def test_writes_are_not_allowed(parties, url):
    assert parties["compliance"].post(url.split("?")[0], {}, format="json").status_code == 405
