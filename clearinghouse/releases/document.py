"""The signed release document: the exact aggregate noised (the only random draws of a
release, all through OpenDP) and written out with everything a reader needs to check it:
mechanism, scale, sensitivity, ε, contribution bounds, snapshot time and 95% half-widths.
tools/verify_release.py reads what this module writes."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from importlib.metadata import version as package_version
from typing import Any

from clearinghouse.releases import mechanisms
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import ReleasePlan, epsilon_text
from clearinghouse.releases.reach import epsilon_split

DOCUMENT_SCHEMA = "clearinghouse-release/1"


def _decimal_text(value: Fraction | Decimal | float, places: int = 4) -> str:
    quantum = Decimal(1).scaleb(-places)
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return str(Decimal(value).quantize(quantum))


def _mechanism_doc(mechanism, *, measure: str) -> dict[str, Any]:
    return {
        "measure": measure,
        "name": mechanism.name,
        "library": f"OpenDP {package_version('opendp')}",
        "scale": mechanism_text(mechanism.scale),
        "sensitivity": {"metric": "l1" if mechanism.name == "discrete_laplace" else "linf_monotonic", "value": int(mechanism.sensitivity)},
        "epsilon": epsilon_text(mechanism.epsilon),
        "epsilon_privacy_map": mechanism_text(mechanism.epsilon_used),
    }


def mechanism_text(value: float) -> str:
    return mechanisms.float_text(value)


def _split_epsilon(epsilon: Decimal) -> tuple[Decimal, Decimal]:
    half = (epsilon / 2).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return half, epsilon - half


def plan_mechanisms(plan: ReleasePlan) -> dict[str, Any]:
    """The noise mechanisms of a plan, built from the contribution bounds through OpenDP
    (no draw happens here), with what the document says about them. Shared by the job and
    by the free plan (preview.py), so a plan states exactly the half-widths the result will.
    The answer gets the job's ε less its reach share (reach.py)."""
    purpose = plan.purpose
    answer_epsilon = epsilon_split(plan.epsilon)[0]
    cells_per_consumer = plan.cells_per_consumer
    if plan.measure in ("consumers", "signals", "sum_value"):
        rows = cells_per_consumer * (1 if plan.measure == "consumers" else purpose.max_signals_per_cell)
        if plan.measure == "sum_value":
            sensitivity = mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max)
        else:
            sensitivity = mechanisms.count_sensitivity(rows_per_consumer=rows)
        mechanism = mechanisms.laplace_mechanism(sensitivity=sensitivity, epsilon=answer_epsilon)
        return {
            "objects": [mechanism],
            "mechanisms": [_mechanism_doc(mechanism, measure=plan.measure)],
            "accuracy": {
                "half_width": mechanism.half_width,
                "meaning": "each cell's released value is within half_width of its bounded true value with probability 0.95",
            },
        }
    if plan.measure == "mean_value":
        rows = cells_per_consumer * purpose.max_signals_per_cell
        eps_sum, eps_count = _split_epsilon(answer_epsilon)
        sum_mech = mechanisms.laplace_mechanism(
            sensitivity=mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max),
            epsilon=eps_sum,
        )
        count_mech = mechanisms.laplace_mechanism(sensitivity=mechanisms.count_sensitivity(rows_per_consumer=rows), epsilon=eps_count)
        # Each of the two intervals at 97.5% -> both hold with probability >= 95%.
        alpha = (1 - mechanisms.CONFIDENCE) / 2
        return {
            "objects": [sum_mech, count_mech],
            "mechanisms": [_mechanism_doc(sum_mech, measure="sum_value"), _mechanism_doc(count_mech, measure="signals")],
            "accuracy": {
                "sum_half_width": sum_mech.half_width_at(alpha),
                "count_half_width": count_mech.half_width_at(alpha),
                "meaning": "mean = noisy sum / noisy count (post-processing, no extra ε), clamped to the value bounds; "
                "'interval' holds the bounded true mean with probability >= 0.95 (two 97.5% intervals)",
            },
        }
    top = mechanisms.top_k_mechanism(k=plan.k, candidates=plan.cell_count, epsilon=answer_epsilon)
    return {
        "objects": [top],
        "mechanisms": [_mechanism_doc(top, measure="top_k")],
        "accuracy": {
            "score_gap": top.score_gap,
            "meaning": "with probability 0.95, the r-th returned attribute has at least as many consumers as the r-th most popular one minus score_gap",
        },
    }


def release_document(*, release: Release, plan: ReleasePlan, aggregate_values, snapshot_at) -> dict[str, Any]:
    """Noise the exact aggregate (the only random draws of a release, all OpenDP) and
    build the document that is signed. Integers stay integers; everything fractional is a
    decimal string."""
    purpose = plan.purpose
    labels = plan.cell_labels()
    document: dict[str, Any] = {
        "schema": DOCUMENT_SCHEMA,
        "release_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": purpose.code,
        "purpose_version": purpose.version,
        "period": release.period,
        "measure": plan.measure,
        "group_by": plan.group_by,
        "filters": plan.filters,
        "k": plan.k,
        "epsilon": epsilon_text(plan.epsilon),
        "privacy_unit": "one consumer, across all platforms",
        "contribution_bounds": {
            "max_cells": purpose.max_cells_per_consumer,
            "max_signals_per_cell": purpose.max_signals_per_cell,
            "value_bounds": [purpose.value_min, purpose.value_max] if plan.measure in ("sum_value", "mean_value") else None,
        },
        "snapshot_at": snapshot_at.isoformat(),
        "taxonomy_version": plan.taxonomy_version,
        "confidence": "0.95",
    }
    built = plan_mechanisms(plan)
    document["mechanisms"] = built["mechanisms"]
    document["accuracy"] = built["accuracy"]
    if plan.measure in ("consumers", "signals", "sum_value"):
        (mechanism,) = built["objects"]
        noisy = mechanism.release(aggregate_values.vector().tolist())
        half_width = mechanism.half_width
        document["cells"] = [label | {"value": int(value), "half_width": half_width} for label, value in zip(labels, noisy)]
    elif plan.measure == "mean_value":
        sum_mech, count_mech = built["objects"]
        noisy_sums = sum_mech.release(aggregate_values.sums.tolist())
        noisy_counts = count_mech.release(aggregate_values.counts.tolist())
        sum_h, count_h = built["accuracy"]["sum_half_width"], built["accuracy"]["count_half_width"]
        low, high = Fraction(purpose.value_min), Fraction(purpose.value_max)
        document["cells"] = [
            label | _mean_cell(int(total), int(count), sum_h, count_h, low, high)
            for label, total, count in zip(labels, noisy_sums, noisy_counts)
        ]
    else:  # top_k
        (mechanism,) = built["objects"]
        chosen = mechanism.release(aggregate_values.counts.tolist())
        category = labels[0].get("category") if labels else None
        document["category"] = plan.filters.get("category", category)
        document["ranking"] = [{"rank": rank, "attribute": labels[index]["attribute"]} for rank, index in enumerate(chosen, start=1)]
    return document


def _mean_cell(total: int, count: int, sum_h: int, count_h: int, low: Fraction, high: Fraction) -> dict[str, Any]:
    def clamp(x: Fraction) -> Fraction:
        return min(max(x, low), high)

    value = _decimal_text(clamp(Fraction(total, count))) if count >= 1 else None
    count_low = count - count_h
    if count_low >= 1:
        corners = [Fraction(s, c) for s in (total - sum_h, total + sum_h) for c in (count_low, count + count_h)]
        interval = [_decimal_text(clamp(min(corners))), _decimal_text(clamp(max(corners)))]
    else:
        interval = [_decimal_text(low), _decimal_text(high)]
    return {"value": value, "sum": total, "count": count, "interval": interval}
