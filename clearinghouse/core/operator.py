"""Who runs the service, in the language of the page or document that names it."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def controller_name(*, language: str | None, details: dict[str, Any] | None = None) -> str:
    """The operator's name in ``language`` (CH_CONTROLLER_NAME or CH_CONTROLLER_NAME_ZH).
    ``details`` is CH_CONTROLLER or CH_OPERATOR; one without per-language names (an older
    deployment's override) falls back to its single name."""
    chosen: dict[str, Any] = settings.CH_CONTROLLER if details is None else details
    names: dict[str, str] = chosen.get("names") or {}
    return str(names.get(language or "") or names.get(settings.LANGUAGE_CODE) or chosen["name"])
