"""Typed readers for environment variables.

Every reader fails at start-up with ImproperlyConfigured naming the variable, so a
typo in a deployment never silently falls back to a default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TypeVar, overload

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_MISSING = object()


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value if value != "" else None


# Only an explicit None default can come back as None: without a default the variable is
# required, and a str default stands in for it.
@overload
def env_str(name: str) -> str: ...
@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None) -> str | None: ...
def env_str(name: str, default: str | None | object = _MISSING) -> str | None:
    value = _raw(name)
    if value is not None:
        return value
    if default is _MISSING:
        raise ImproperlyConfigured(f"environment variable {name} is required but not set")
    return default  # type: ignore[return-value]


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"environment variable {name} must be one of 1/0/true/false/yes/no/on/off, got {value!r}")


def _parsed(name: str, default: T, parse: Callable[[str], T], kind: str) -> T:
    value = _raw(name)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"environment variable {name} must be {kind}, got {value!r}") from None


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    result = _parsed(name, default, int, "an integer")
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"environment variable {name} must be at least {minimum}, got {result}")
    return result


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    result = _parsed(name, default, float, "a number")
    if not math.isfinite(result):
        raise ImproperlyConfigured(f"environment variable {name} must be a finite number, got {result!r}")
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"environment variable {name} must be at least {minimum}, got {result}")
    return result


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = _raw(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"environment variable {name} must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value
