"""The platforms page: a link code is issued by a POST that redirects back to the list
(post/redirect/get), and the code is shown exactly once."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from clearinghouse.accounts.models import LinkCode
from clearinghouse.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def shown_code(html: str) -> str | None:
    match = re.search(r'<span class="link-code" id="link-code">([^<]+)</span>', html)
    return match.group(1) if match else None


@pytest.fixture
def unlinked_consumer(consumer_a, platform_p, purposes):
    return consumer_a


def test_getting_a_code_redirects_to_the_list_which_shows_it_once(unlinked_consumer, platform_p, portal_client):
    client = portal_client(unlinked_consumer, language="en")
    response = client.post(reverse("portal:link-code"), {"platform": "shop-p"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:platforms") + "#issued"
    assert "code" not in response["Location"].lower().replace("#issued", "")

    page = client.get(reverse("portal:platforms"))
    code = shown_code(page.content.decode())
    assert code and len(code.replace("-", "")) == 10
    assert page["Cache-Control"] == "no-store"

    # A reload shows the list without the code and issues nothing new: the code still works.
    again = client.get(reverse("portal:platforms")).content.decode()
    assert shown_code(again) is None and 'id="issued"' not in again
    assert LinkCode.objects.count() == 1
    assert AuditEvent.objects.filter(action="link.code_issued").count() == 1
    redeemed = platform_p.client().post("/api/v1/platform/links", {"code": code, "subject_ref": "a-at-p"}, format="json")
    assert redeemed.status_code == 201


def test_opening_the_code_address_directly_goes_to_the_list_and_issues_nothing(unlinked_consumer, portal_client):
    client = portal_client(unlinked_consumer, language="en")
    response = client.get(reverse("portal:link-code"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:platforms")
    assert not LinkCode.objects.exists()


def test_a_code_that_expired_before_the_page_was_shown_is_not_shown(unlinked_consumer, portal_client, settings):
    from datetime import timedelta

    settings.LINK_CODE_TTL = timedelta(seconds=-1)
    client = portal_client(unlinked_consumer, language="en")
    client.post(reverse("portal:link-code"), {"platform": "shop-p"})
    assert shown_code(client.get(reverse("portal:platforms")).content.decode()) is None
