from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clearinghouse.accounts.models import LinkCode, PlatformLink
from clearinghouse.accounts.pseudonyms import subject_pseudonym
from clearinghouse.audit.models import AuditEvent
from tests.conftest import grant_body, link_subject


def issue_code(consumer, platform_slug: str) -> dict:
    response = consumer.client().post("/api/v1/me/links", {"platform": platform_slug}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def redeem(platform, code: str, subject_ref: str):
    return platform.client().post("/api/v1/platform/links", {"code": code, "subject_ref": subject_ref}, format="json")


def test_a_code_links_the_subject_under_a_pseudonym_only(consumer_a, platform_p):
    issued = issue_code(consumer_a, platform_p.slug)
    assert issued["platform"] == "shop-p"
    expires_in = timezone.datetime.fromisoformat(issued["expires_at"]) - timezone.now()
    assert timedelta(minutes=9) < expires_in <= timedelta(minutes=10)

    response = redeem(platform_p, issued["code"], "user-8812")
    assert response.status_code == 201
    assert response.json()["subject_ref"] == "user-8812"
    assert "consumer" not in response.json() and "id" not in response.json()
    link = PlatformLink.objects.get()
    assert link.subject_pseudonym == subject_pseudonym(platform_id=platform_p.obj.id, subject_ref="user-8812")
    assert "user-8812" not in link.subject_pseudonym
    # The raw reference is stored nowhere: not in links, codes or the audit log.
    assert not AuditEvent.objects.filter(details__icontains="user-8812").exists()
    assert consumer_a.client().get("/api/v1/me/links").json()[0]["platform"] == "shop-p"


def test_the_same_person_on_two_platforms_has_unrelated_pseudonyms(consumer_a, platform_p, platform_q):
    link_subject(consumer_a, platform_p, "same-ref")
    link_subject(consumer_a, platform_q, "same-ref")
    pseudonyms = set(PlatformLink.objects.values_list("subject_pseudonym", flat=True))
    assert len(pseudonyms) == 2


def test_a_code_is_single_use(consumer_a, platform_p):
    code = issue_code(consumer_a, platform_p.slug)["code"]
    assert redeem(platform_p, code, "first").status_code == 201
    again = redeem(platform_p, code, "second")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "link_code_used"
    assert PlatformLink.objects.get().subject_pseudonym == subject_pseudonym(platform_id=platform_p.obj.id, subject_ref="first")


def test_an_expired_code_is_refused(consumer_a, platform_p):
    code = issue_code(consumer_a, platform_p.slug)["code"]
    LinkCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = redeem(platform_p, code, "late")
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "link_code_expired"
    assert not PlatformLink.objects.exists()


def test_a_new_code_for_the_same_platform_replaces_the_earlier_unused_one(consumer_a, consumer_b, platform_p, platform_q):
    first = issue_code(consumer_a, platform_p.slug)["code"]
    other_platform = issue_code(consumer_a, platform_q.slug)["code"]
    other_person = issue_code(consumer_b, platform_p.slug)["code"]
    second = issue_code(consumer_a, platform_p.slug)["code"]

    stale = redeem(platform_p, first, "from-the-old-tab")
    assert stale.status_code == 404
    assert stale.json()["error"]["message"].startswith("Unknown link code")
    assert not PlatformLink.objects.exists()
    issued = AuditEvent.objects.filter(action="link.code_issued").order_by("id")
    assert [event.details["superseded"] for event in issued] == [0, 0, 0, 1]
    # Only that person's earlier code for that platform goes; the newest one works.
    assert redeem(platform_p, second, "a-at-p").status_code == 201
    assert redeem(platform_q, other_platform, "a-at-q").status_code == 201
    assert redeem(platform_p, other_person, "b-at-p").status_code == 201


def test_issuing_a_code_leaves_used_codes_alone(consumer_a, platform_p):
    from clearinghouse.accounts.services import link_code_issue
    from clearinghouse.core.actors import Actor

    used = issue_code(consumer_a, platform_p.slug)["code"]
    assert redeem(platform_p, used, "first").status_code == 201
    link_code_issue(consumer=consumer_a.consumer, platform_slug=platform_p.slug, actor=Actor(kind="consumer", id="x"))
    # Re-sending the used code still says it was used, not that it never existed.
    assert redeem(platform_p, used, "again").json()["error"]["code"] == "link_code_used"
    assert LinkCode.objects.filter(used_at__isnull=True).count() == 1


def test_codes_are_accepted_without_the_hyphen_and_in_lower_case(consumer_a, platform_p):
    code = issue_code(consumer_a, platform_p.slug)["code"]
    assert redeem(platform_p, code.replace("-", "").lower(), "typed-by-hand").status_code == 201


def test_another_platforms_code_answers_like_a_missing_code_and_is_audited(consumer_a, platform_p, platform_q):
    code = issue_code(consumer_a, platform_p.slug)["code"]
    foreign = redeem(platform_q, code, "stolen")
    missing = redeem(platform_q, "ABCDE-FGHJK", "guess")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["error"]["message"].startswith("Unknown link code")
    assert not PlatformLink.objects.exists()
    blocked = AuditEvent.objects.get(action="platform.cross_access_blocked")
    assert (blocked.actor_kind, blocked.actor_id, blocked.outcome) == ("platform", "shop-q", "denied")
    assert blocked.details["code_platform"] == "shop-p"
    # The rightful platform can still use the code afterwards.
    assert redeem(platform_p, code, "rightful").status_code == 201


def test_a_subject_already_linked_to_someone_else_is_refused(consumer_a, consumer_b, platform_p):
    link_subject(consumer_a, platform_p, "shared-ref")
    response = redeem(platform_p, issue_code(consumer_b, platform_p.slug)["code"], "shared-ref")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "subject_already_linked"


def test_relinking_replaces_the_subject_reference(consumer_a, platform_p):
    link_subject(consumer_a, platform_p, "old-ref")
    link_subject(consumer_a, platform_p, "new-ref")
    assert PlatformLink.objects.count() == 1
    client = platform_p.client()
    assert client.get("/api/v1/platform/subjects/old-ref/consent?purpose=c2m-product-design").status_code == 404
    assert AuditEvent.objects.filter(action="link.replaced").count() == 1


def test_unlinking_stops_the_platform_addressing_the_subject(consumer_a, platform_p, purposes):
    link_subject(consumer_a, platform_p, "leaving")
    consumer_a.client().post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], "shop-p"), format="json")
    url = "/api/v1/platform/subjects/leaving/consent?purpose=c2m-product-design"
    assert platform_p.client().get(url).json() == {"purpose": "c2m-product-design", "active": True, "version": 1}
    assert consumer_a.client().delete("/api/v1/me/links/shop-p").status_code == 204
    assert platform_p.client().get(url).status_code == 404
    assert consumer_a.client().delete("/api/v1/me/links/shop-p").status_code == 404
    assert AuditEvent.objects.filter(action="link.removed").count() == 1


def test_unlinking_everything(consumer_a, platform_p, platform_q):
    link_subject(consumer_a, platform_p, "a")
    link_subject(consumer_a, platform_q, "b")
    assert consumer_a.client().delete("/api/v1/me/links").status_code == 204
    assert consumer_a.client().get("/api/v1/me/links").json() == []


def test_consent_check_reports_inactive_and_needs_the_purpose(consumer_a, platform_p, purposes):
    link_subject(consumer_a, platform_p, "quiet")
    client = platform_p.client()
    assert client.get("/api/v1/platform/subjects/quiet/consent?purpose=c2m-product-design").json()["active"] is False
    missing = client.get("/api/v1/platform/subjects/quiet/consent")
    assert missing.status_code == 400 and "purpose" in missing.json()["error"]["message"]
    unknown = client.get("/api/v1/platform/subjects/quiet/consent?purpose=nope")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_purpose"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"subject_ref": "x"}, "code"), ({"code": "ABCDE-FGHJK"}, "subject_ref"), ({"code": "ABCDE-FGHJK", "subject_ref": ""}, "subject_ref")],
)
def test_redeem_validation(platform_p, body, field):
    response = platform_p.client().post("/api/v1/platform/links", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["message"]


def test_link_code_for_an_unknown_platform(consumer_a):
    response = consumer_a.client().post("/api/v1/me/links", {"platform": "nowhere"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_platform"
