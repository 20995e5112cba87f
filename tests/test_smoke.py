from tests.conftest import grant_body, link_subject


def test_walkthrough(consumer_a, platform_p, purposes):
    client = consumer_a.client()
    r = client.get("/api/v1/me/purposes")
    assert r.status_code == 200, r.content
    r = client.post("/api/v1/me/consents", grant_body(purposes["c2m-product-design"], platform_p.slug), format="json")
    assert r.status_code == 201, r.content
    link_subject(consumer_a, platform_p, "user-42")
    r = platform_p.client().get("/api/v1/platform/subjects/user-42/consent?purpose=c2m-product-design")
    assert r.status_code == 200 and r.json()["active"] is True, r.content
