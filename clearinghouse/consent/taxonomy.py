"""The public taxonomy: its validation, loading and an in-memory index.

Every list in the taxonomy is a public key set of the release engine, so the loader
never deletes a term (old signals refer to it); terms missing from a newer version are
only deactivated.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_append
from clearinghouse.core.actors import Actor
from clearinghouse.core.crypto import canonical_json, sha256_hex
from clearinghouse.core.errors import Invalid
from clearinghouse.core.files import json_file_read

DEFAULT_TAXONOMY_FILE = Path(__file__).resolve().parent / "data" / "taxonomy.json"
LANGS = ("zh-hans", "en")
_CODE = re.compile(r"^[a-z0-9][a-z0-9+\-]*$")
_PATH = re.compile(r"^[a-z0-9][a-z0-9\-]*(/[a-z0-9][a-z0-9\-]*)+$")
_REGION = re.compile(r"^CN-[A-Z]{2}$")
FLAT_DIMENSIONS = {"signals": "signal", "age_bands": "age_band", "regions": "region"}


def _labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGS) or not all(isinstance(v, str) and v for v in value.values()):
        raise Invalid(f"{where}: labels must give non-empty zh-hans and en text", details={"field": where})
    return value


def taxonomy_document_validate(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise Invalid("taxonomy must be a JSON object")
    allowed = {"version", "description", "categories", *FLAT_DIMENSIONS}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise Invalid(f"unknown taxonomy field {unknown[0]!r}", details={"field": unknown[0]})
    if not isinstance(document.get("version"), str) or not document["version"]:
        raise Invalid("taxonomy version must be a non-empty string", details={"field": "version"})
    categories = document.get("categories")
    if not isinstance(categories, list) or not categories:
        raise Invalid("taxonomy needs a non-empty list of categories", details={"field": "categories"})
    seen_paths: set[str] = set()
    for index, category in enumerate(categories):
        where = f"categories[{index}]"
        if not isinstance(category, dict) or not isinstance(category.get("path"), str):
            raise Invalid(f"{where}: needs a path", details={"field": where})
        if not _PATH.match(category["path"]):
            raise Invalid(f"{where}: category path {category['path']!r} must look like 'furniture/office-chair'", details={"field": where})
        if category["path"] in seen_paths:
            raise Invalid(f"{where}: duplicate category {category['path']!r}", details={"field": where})
        seen_paths.add(category["path"])
        _labels(category.get("labels"), where)
        attributes = category.get("attributes")
        if not isinstance(attributes, list) or not attributes:
            raise Invalid(f"{where}: needs a non-empty list of attributes", details={"field": where})
        codes = set()
        for a_index, attribute in enumerate(attributes):
            a_where = f"{where}.attributes[{a_index}]"
            if not isinstance(attribute, dict) or not isinstance(attribute.get("code"), str) or not _CODE.match(attribute["code"]):
                raise Invalid(f"{a_where}: attribute code must be lower-case letters, digits and hyphens", details={"field": a_where})
            if attribute["code"] in codes:
                raise Invalid(f"{a_where}: duplicate attribute {attribute['code']!r}", details={"field": a_where})
            codes.add(attribute["code"])
            _labels(attribute.get("labels"), a_where)
    for key in FLAT_DIMENSIONS:
        values = document.get(key)
        if not isinstance(values, list) or not values:
            raise Invalid(f"taxonomy needs a non-empty list of {key}", details={"field": key})
        codes = set()
        for index, item in enumerate(values):
            where = f"{key}[{index}]"
            pattern = _REGION if key == "regions" else _CODE
            if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not pattern.match(item["code"]):
                raise Invalid(f"{where}: invalid code", details={"field": where})
            if item["code"] in codes:
                raise Invalid(f"{where}: duplicate code {item['code']!r}", details={"field": where})
            codes.add(item["code"])
            _labels(item.get("labels"), where)
    return document


def taxonomy_upsert(*, document: dict[str, Any], term_model, version_model) -> tuple[int, int]:
    """Write a validated document into the given models (also used by the data migration
    with historical models). Returns (terms created, terms deactivated)."""
    existing = {(t.dimension, t.parent_id, t.code): t for t in term_model.objects.all()}
    created = 0
    kept_ids: set[int] = set()

    def upsert(dimension: str, code: str, labels: dict, position: int, parent=None):
        nonlocal created
        key = (dimension, parent.id if parent else None, code)
        term = existing.get(key)
        if term is None:
            term = term_model.objects.create(dimension=dimension, code=code, parent=parent, labels=labels, position=position, active=True)
            existing[key] = term
            created += 1
        elif term.labels != labels or term.position != position or not term.active:
            term.labels, term.position, term.active = labels, position, True
            term.save(update_fields=["labels", "position", "active"])
        kept_ids.add(term.id)
        return term

    for position, category in enumerate(document["categories"]):
        parent = upsert("category", category["path"], category["labels"], position)
        for a_position, attribute in enumerate(category["attributes"]):
            upsert("attribute", attribute["code"], attribute["labels"], a_position, parent)
    for key, dimension in FLAT_DIMENSIONS.items():
        for position, item in enumerate(document[key]):
            upsert(dimension, item["code"], item["labels"], position)
    deactivated = term_model.objects.exclude(id__in=kept_ids).filter(active=True).update(active=False)
    digest = sha256_hex(canonical_json(document))
    version_model.objects.update_or_create(version=document["version"], defaults={"digest": digest, "document": document})
    return created, deactivated


def taxonomy_load(*, document: Any, actor: Actor) -> dict[str, Any]:
    from clearinghouse.consent.models import TaxonomyTerm, TaxonomyVersion

    document = taxonomy_document_validate(document)
    with transaction.atomic():
        created, deactivated = taxonomy_upsert(document=document, term_model=TaxonomyTerm, version_model=TaxonomyVersion)
        audit_append(
            actor=actor,
            action=AuditAction.TAXONOMY_LOADED,
            target=f"taxonomy:{document['version']}",
            details={"terms_created": created, "terms_deactivated": deactivated},
        )
    _cache.clear()
    return {"version": document["version"], "created": created, "deactivated": deactivated}


taxonomy_file_read = json_file_read


@dataclass
class TaxonomyIndex:
    """Codes ↔ term ids, and the ordered public domains, of the active taxonomy."""

    version: str
    categories: dict[str, int] = field(default_factory=dict)
    attributes: dict[tuple[int, str], int] = field(default_factory=dict)
    signals: dict[str, int] = field(default_factory=dict)
    age_bands: dict[str, int] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)  # any term id -> its code
    parent: dict[int, int] = field(default_factory=dict)  # attribute id -> category id
    labels: dict[int, dict[str, str]] = field(default_factory=dict)

    def by_dimension(self, dimension: str) -> dict:
        return {
            "category": self.categories,
            "signal": self.signals,
            "age_band": self.age_bands,
            "region": self.regions,
        }[dimension]

    def attributes_of(self, category_id: int) -> list[int]:
        return [term_id for (cat, _code), term_id in self.attributes.items() if cat == category_id]

    def categories_with_prefix(self, prefix: str) -> list[int]:
        """Category ids whose path equals ``prefix`` or lies beneath it ('food' → 'food/…')."""
        return [term_id for path, term_id in self.categories.items() if path == prefix or path.startswith(prefix + "/")]


_cache: dict[int, TaxonomyIndex] = {}
_cache_lock = threading.Lock()


def taxonomy_index() -> TaxonomyIndex:
    """The active taxonomy, rebuilt only when a new version was loaded."""
    from clearinghouse.consent.models import TaxonomyTerm, TaxonomyVersion

    latest = TaxonomyVersion.objects.order_by("-id").values_list("id", "version").first()
    if latest is None:
        raise Invalid("no taxonomy is loaded; run manage.py load_taxonomy")
    cached = _cache.get(latest[0])
    if cached is not None:
        return cached
    index = TaxonomyIndex(version=latest[1])
    for term in TaxonomyTerm.objects.filter(active=True).order_by("dimension", "position", "id"):
        index.codes[term.id] = term.code
        index.labels[term.id] = term.labels
        if term.dimension == "attribute":
            assert term.parent_id is not None  # load_taxonomy files every attribute under its category
            index.attributes[(term.parent_id, term.code)] = term.id
            index.parent[term.id] = term.parent_id
        else:
            index.by_dimension(term.dimension)[term.code] = term.id
    with _cache_lock:
        _cache.clear()
        _cache[latest[0]] = index
    return index


def taxonomy_cache_clear() -> None:
    _cache.clear()
