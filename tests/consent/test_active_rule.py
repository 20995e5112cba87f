"""One rule for "is this consent active?": the queryset and its SQL twin agree."""

from __future__ import annotations

from django.db import connection

from clearinghouse.consent.models import ConsentState, Purpose
from clearinghouse.consent.purposes import purpose_file_read, purpose_publish
from clearinghouse.consent.services import ConsentRequest, consent_change
from clearinghouse.core.actors import Actor
from tests.conftest import grant_body

DESIGN = "c2m-product-design"


def _sql_active(purpose: Purpose) -> set[int]:
    table = ConsentState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.consumer_id FROM {table} s WHERE {ConsentState.objects.active_sql('s')}", [purpose.code, purpose.version])
        return {row[0] for row in cursor.fetchall()}


def _orm_active(purpose: Purpose) -> set[int]:
    return set(ConsentState.objects.active(purpose=purpose).values_list("consumer_id", flat=True))


def test_granted_withdrawn_and_older_versions(make_consumer, platform_p, purposes):
    design = purposes[DESIGN]
    stays, leaves = make_consumer(), make_consumer()
    for handle in (stays, leaves):
        response = handle.client().post("/api/v1/me/consents", grant_body(design, platform_p.slug), format="json")
        assert response.status_code == 201, response.content
    consent_change(
        consumer=leaves.consumer,
        request=ConsentRequest(purpose_code=DESIGN, platform_slug=platform_p.slug, action="withdraw"),
        channel="api",
        actor=Actor.operator(),
    )

    assert _orm_active(design) == _sql_active(design) == {stays.consumer.pk}

    # A new approved version: grants given for v1 stop being active, in both forms.
    document = purpose_file_read(f"clearinghouse/consent/purposes/{DESIGN}.json") | {"version": design.version + 1}
    v2, _ = purpose_publish(document=document, actor=Actor.operator(), approve=True)
    assert _orm_active(v2) == _sql_active(v2) == set()
