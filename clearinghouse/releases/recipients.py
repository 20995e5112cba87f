"""Manufacturers: the recipients of releases, each authorised for some sectors of the
taxonomy (category prefixes), so registering one checks its sectors against the taxonomy."""

from __future__ import annotations

from django.db import transaction

from clearinghouse.accounts.models import Credential, Manufacturer
from clearinghouse.accounts.services import credential_issue, party_slug_check
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import Invalid


def manufacturer_register(*, slug: str, name: str, sectors: list[str], actor: Actor) -> tuple[Manufacturer, str]:
    party_slug_check(slug=slug, name=name)
    if not sectors:
        raise Invalid("sectors: give at least one category prefix, e.g. furniture,food/bird-nest", details={"field": "sectors"})
    index = taxonomy_index()
    for sector in sectors:
        if not index.categories_with_prefix(sector):
            raise Invalid(f"sectors: {sector!r} matches no category of the taxonomy", details={"field": "sectors"})
    with transaction.atomic():
        manufacturer = Manufacturer.objects.create(slug=slug, name=name, sectors=sorted(set(sectors)))
        key = credential_issue(kind=Credential.KIND_MANUFACTURER, manufacturer=manufacturer)
        audit_append(
            actor=actor,
            action=AuditAction.MANUFACTURER_REGISTERED,
            target=f"manufacturer:{slug}",
            details={"sectors": manufacturer.sectors},
        )
    return manufacturer, key
