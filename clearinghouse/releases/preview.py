"""Know before you pay: the plan of a release request, and the ε an accuracy needs.

Everything here is a function of the request, the purpose, the public taxonomy and the
budgets, never of the data, and nothing is spent, reserved or queued: a manufacturer
can ask as often as they like. The noise mechanisms are built exactly as the job builds
them (releases/document.py), so the half-widths a plan states are the ones the signed
result will state.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.core.errors import Invalid
from clearinghouse.releases import accounting
from clearinghouse.releases.document import chosen_half_width, guarantee_text, mechanism_choose, plan_mechanisms
from clearinghouse.releases.plans import EPSILON_QUANTUM, ReleasePlan, epsilon_text, release_plan_build
from clearinghouse.releases.reach import reach_cost
from clearinghouse.releases.selectors import budget_after

# Measures whose per-cell 95% half-width is a function of ε alone (one Laplace or Gaussian vector).
ACCURACY_MEASURES = ("consumers", "signals", "sum_value")


def _fail(field_name: str, message: str, code: str = "invalid") -> Invalid:
    return Invalid(f"{field_name}: {message}", code=code, details={"field": field_name})


def accuracy_half_width(body: dict) -> int:
    """The ``accuracy`` of a request, ``{"half_width": H}`` with H a whole number ≥ 1."""
    accuracy = body.get("accuracy")
    if not isinstance(accuracy, dict) or set(accuracy) != {"half_width"}:
        raise _fail("accuracy", 'must be {"half_width": H}: the 95% half-width you need in every cell')
    value = accuracy["half_width"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _fail("accuracy.half_width", "must be a whole number such as 20")
    try:
        number = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise _fail("accuracy.half_width", "must be a whole number such as 20") from None
    if number.denominator != 1 or number < 1 or number > 10**12:
        raise _fail("accuracy.half_width", "must be a whole number from 1 to 10^12 (counts are whole numbers)")
    return int(number)


def epsilon_for_half_width(*, plan: ReleasePlan, half_width: int) -> Decimal:
    """The least ε (to 4 decimal places) whose chosen mechanism (document.mechanism_choose:
    discrete Laplace or discrete Gaussian, each after its reach share) keeps every cell
    within ``half_width`` with probability 0.95, confirmed by building the mechanisms the job
    builds. Both candidates' half-widths shrink as ε grows (ρ_G grows with ε, and ε_L with
    ρ_G), so the chosen one does too and bisection over ε finds the least."""

    def meets(units: int) -> bool:
        if units < 2:  # the reach share takes the first 0.0001
            return False
        epsilon = (Decimal(units) * EPSILON_QUANTUM).quantize(EPSILON_QUANTUM)
        return chosen_half_width(replace(plan, epsilon=epsilon, rho=Decimal(0), person_epsilon=None)) <= half_width

    high = max(2, int(plan.epsilon / EPSILON_QUANTUM))
    for _ in range(40):
        if meets(high):
            break
        high *= 2
    else:  # pragma: no cover - at a large enough ε both candidates reach any half-width ≥ 1
        raise RuntimeError("no ε meets the half-width")
    low = 1  # meets(1) is False by convention (the reach share needs 0.0001 of it)
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return (Decimal(high) * EPSILON_QUANTUM).quantize(EPSILON_QUANTUM)


def resolve_epsilon(*, manufacturer: Manufacturer, purpose: Purpose | None, body: Any, purpose_code: str) -> dict:
    """A request body with ``epsilon`` stays as it is; one with ``accuracy`` instead gets the
    least ε that meets it (400 accuracy_unreachable above the purpose's per-release maximum).
    Returns the body to plan with."""
    if not isinstance(body, dict) or "accuracy" not in body:
        return body
    if "epsilon" in body:
        raise _fail("accuracy", "give either epsilon or accuracy, not both")
    half_width = accuracy_half_width(body)
    measure = body.get("measure")
    if measure not in ACCURACY_MEASURES:
        raise _fail(
            "accuracy",
            f"accuracy-first requests are for the measures {', '.join(ACCURACY_MEASURES)}; give epsilon for {measure!r}",
            "accuracy_unsupported",
        )
    # Plan once at the largest ε allowed: it validates everything else in the body.
    maximum = purpose.max_epsilon_per_release if purpose is not None else Decimal(1)
    probe = release_plan_build(
        manufacturer=manufacturer,
        purpose=purpose,
        body={k: v for k, v in body.items() if k != "accuracy"} | {"epsilon": str(maximum)},
        purpose_code=purpose_code,
    )
    needed = epsilon_for_half_width(plan=probe, half_width=half_width)
    if needed > probe.purpose.max_epsilon_per_release:
        best = chosen_half_width(probe)
        raise Invalid(
            f"accuracy: a 95% half-width of {half_width} needs ε {epsilon_text(needed)}, more than this purpose allows per release "
            f"({epsilon_text(probe.purpose.max_epsilon_per_release)}, which gives ±{best}); ask for fewer cells or a wider half-width",
            code="accuracy_unreachable",
            details={
                "field": "accuracy",
                "epsilon_needed": epsilon_text(needed),
                "best_half_width": best,
                "max_epsilon_per_release": epsilon_text(probe.purpose.max_epsilon_per_release),
            },
        )
    return {k: v for k, v in body.items() if k != "accuracy"} | {"epsilon": epsilon_text(needed)}


def request_purpose_code(body: Any) -> str:
    """The purpose a request names; Invalid when the body is not a JSON object or names none."""
    if not isinstance(body, dict):
        raise Invalid(
            'the request body must be a JSON object such as {"purpose": …, "measure": …, "epsilon": "0.5"}', code="malformed_body"
        )
    purpose_code = body.get("purpose")
    if not isinstance(purpose_code, str) or not purpose_code:
        raise _fail("purpose", "required, the code of a purpose in your catalogue")
    return purpose_code


def release_plan_request(*, manufacturer: Manufacturer, body: Any) -> dict[str, Any]:
    """POST /api/v1/releases/plan: the same body as POST /api/v1/releases, answered with
    its plan. The same errors as the request itself, and nothing spent or recorded."""
    purpose_code = request_purpose_code(body)
    return release_plan_preview(manufacturer=manufacturer, purpose=purpose_current(code=purpose_code), body=body, purpose_code=purpose_code)


def release_plan_preview(*, manufacturer: Manufacturer, purpose: Purpose | None, body: Any, purpose_code: str) -> dict[str, Any]:
    """The plan of a request: its cells, the mechanism, each cell's 95% half-width, the cost
    and the budgets after it. Spends nothing."""
    resolved = resolve_epsilon(manufacturer=manufacturer, purpose=purpose, body=body, purpose_code=purpose_code)
    plan = release_plan_build(manufacturer=manufacturer, purpose=purpose, body=resolved, purpose_code=purpose_code)
    choice = mechanism_choose(plan)
    plan.rho, plan.person_epsilon = choice.rho, choice.person_epsilon
    built = plan_mechanisms(plan)
    after = budget_after(manufacturer=manufacturer, purpose=plan.purpose, epsilon=plan.epsilon)
    budgets = {
        "period": after["period"],
        "allocation_remaining_after": after["allocation"]["remaining_after"],
        "purpose_remaining_after": after["purpose"]["remaining_after"],
        "affordable": after["affordable"],
    }
    return {
        "purpose": plan.purpose.code,
        "purpose_version": plan.purpose.version,
        "measure": plan.measure,
        "group_by": plan.group_by,
        "filters": plan.filters,
        "cells": plan.cell_count,
        "cell_labels": plan.cell_labels() if plan.cell_count <= 200 else None,
        "mechanisms": built["mechanisms"],
        "accuracy": built["accuracy"],
        "mechanism_choice": built.get("choice"),
        "cost": {
            "epsilon": epsilon_text(plan.epsilon),
            "delta": f"{accounting.delta():g}" if plan.rho else "0",
            "rho": str(plan.rho) if plan.rho else _pure_rho(plan.charge_epsilon),
            "reach": reach_cost(epsilon=plan.charge_epsilon, rho=plan.rho),
            # What each person the answer uses is charged; ``epsilon`` is what the budget pays.
            "guarantee": guarantee_text(plan),
        },
        "accuracy_first": "accuracy" in body if isinstance(body, dict) else False,
        "budget_after": budgets,
    }


def _pure_rho(epsilon: Decimal) -> str:
    """A pure ε-DP release is also ε²/2-zCDP (Bun & Steinke 2016): what it adds to the
    person's zCDP reading of their ledger."""
    value = Fraction(epsilon) ** 2 / 2
    return str(Decimal(math.ceil(value * 10**8)) / Decimal(10**8))
