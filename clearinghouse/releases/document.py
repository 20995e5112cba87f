"""The signed release document: the exact aggregate noised (the only random draws of a
release, all through OpenDP) and written out with everything a reader needs to check it:
mechanism, scale, sensitivity, ε, contribution bounds, snapshot time and 95% half-widths.
tools/verify_release.py reads what this module writes."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from importlib.metadata import version as package_version
from typing import Any

from clearinghouse.releases import accounting, mechanisms
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import ReleasePlan, epsilon_text, mean_scale
from clearinghouse.releases.reach import epsilon_split, rho_split

DOCUMENT_SCHEMA = "clearinghouse-release/1"


def _decimal_text(value: Fraction | Decimal | float, places: int = 4) -> str:
    quantum = Decimal(1).scaleb(-places)
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return str(Decimal(value).quantize(quantum))


def _mechanism_doc(mechanism, *, measure: str) -> dict[str, Any]:
    if isinstance(mechanism, mechanisms.GaussianMechanism):
        return {
            "measure": measure,
            "name": mechanism.name,
            "library": f"OpenDP {package_version('opendp')}",
            "scale": mechanism_text(mechanism.scale),
            "sensitivity": {"metric": "l2", "value": mechanism_text(mechanism.sensitivity)},
            "rho": str(Decimal(mechanism.rho.numerator) / Decimal(mechanism.rho.denominator)),
            "rho_privacy_map": mechanism_text(mechanism.rho_used),
        }
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


MEAN_DEFINITION = (
    "the mean over consumers of each consumer's mean value in the cell: each consumer's values clamped to the value "
    "bounds, at most {signals} of their signals in the cell kept (a keyed choice), averaged, and that average counted "
    "once; the centred sum is in units of 1/{scale} of a value"
)


def _split_epsilon(epsilon: Decimal) -> tuple[Decimal, Decimal]:
    half = (epsilon / 2).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return half, epsilon - half


def _candidates(plan: ReleasePlan, *, rho: Decimal) -> tuple[mechanisms.LaplaceMechanism, mechanisms.GaussianMechanism | None]:
    """Both mechanisms a count or sum could use at the same stated cost: discrete Laplace at
    the plan's ε, discrete Gaussian at ``rho`` (0: the largest ρ whose stated ε at δ is
    within the plan's ε), each less its reach share. The Gaussian is None when ρ buys
    nothing."""
    purpose = plan.purpose
    cells_per_consumer = plan.cells_per_consumer
    rows = cells_per_consumer * (1 if plan.measure == "consumers" else purpose.max_signals_per_cell)
    per_cell = 1 if plan.measure == "consumers" else purpose.max_signals_per_cell
    if plan.measure == "sum_value":
        sensitivity = mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max)
        per_cell *= max(abs(int(purpose.value_min or 0)), abs(int(purpose.value_max or 0)))
    else:
        sensitivity = mechanisms.count_sensitivity(rows_per_consumer=rows)
    laplace = mechanisms.laplace_mechanism(sensitivity=sensitivity, epsilon=epsilon_split(plan.epsilon)[0])
    rho = rho or accounting.rho_within(plan.epsilon)
    answer_rho = rho_split(rho)[0] if rho > 0 else Decimal(0)
    if answer_rho <= 0:
        return laplace, None
    # One consumer changes at most C cells, each by at most k: √C·k in L2 against C·k in L1.
    l2 = mechanisms.l2_sensitivity(cells_per_consumer=cells_per_consumer, per_cell=per_cell)
    return laplace, mechanisms.gaussian_mechanism(sensitivity=l2, rho=answer_rho)


def _choice_doc(laplace, gaussian, *, chosen) -> dict[str, Any]:
    return {
        "rule": "the mechanism with the smaller stated 95% half-width at the same stated cost (ε at δ), Laplace on a tie",
        "chosen": chosen.name,
        "discrete_laplace_half_width": laplace.half_width,
        "discrete_gaussian_half_width": gaussian.half_width if gaussian is not None else None,
    }


def mechanism_choose(plan: ReleasePlan) -> Decimal:
    """Per request, for counts and sums: 0 (discrete Laplace, pure ε) or the ρ of a discrete
    Gaussian answer, whichever states the smaller 95% half-width at the plan's ε. A function
    of the request alone, so the plan and the job choose the same."""
    if plan.measure not in ("consumers", "signals", "sum_value"):
        return Decimal(0)
    laplace, gaussian = _candidates(plan, rho=Decimal(0))
    if gaussian is None or gaussian.half_width >= laplace.half_width:
        return Decimal(0)
    return accounting.rho_within(plan.epsilon)


def plan_mechanisms(plan: ReleasePlan) -> dict[str, Any]:
    """The noise mechanisms of a plan, built from the contribution bounds through OpenDP
    (no draw happens here), with what the document says about them. Shared by the job and
    by the free plan (preview.py), so a plan states exactly the half-widths the result will.
    The answer gets the job's ε less its reach share (reach.py)."""
    purpose = plan.purpose
    answer_epsilon = epsilon_split(plan.epsilon)[0]
    cells_per_consumer = plan.cells_per_consumer
    if plan.measure in ("consumers", "signals", "sum_value"):
        laplace, gaussian = _candidates(plan, rho=plan.rho)
        mechanism: mechanisms.LaplaceMechanism | mechanisms.GaussianMechanism = laplace
        if plan.rho:
            if gaussian is None:  # pragma: no cover - a stored ρ always buys an answer share
                raise ValueError("this release's ρ buys no Gaussian answer")
            mechanism = gaussian
        return {
            "objects": [mechanism],
            "mechanisms": [_mechanism_doc(mechanism, measure=plan.measure)],
            "accuracy": {
                "half_width": mechanism.half_width,
                "meaning": "each cell's released value is within half_width of its bounded true value with probability 0.95",
            },
            "choice": _choice_doc(laplace, gaussian, chosen=mechanism),
        }
    if plan.measure == "mean_value":
        # One value per consumer and cell (their mean, compute.py): the count of consumers
        # moves by at most C, the centred sum by C times the half-range, in whole units of
        # 1/(2·lcm(1..S)) of a value, whatever the number of signals behind each mean.
        span = mean_scale(purpose.max_signals_per_cell) * (int(purpose.value_max) - int(purpose.value_min))
        eps_sum, eps_count = _split_epsilon(answer_epsilon)
        sum_mech = mechanisms.laplace_mechanism(
            sensitivity=mechanisms.sum_sensitivity(rows_per_consumer=cells_per_consumer, lower=-span, upper=span),
            epsilon=eps_sum,
        )
        count_mech = mechanisms.laplace_mechanism(
            sensitivity=mechanisms.count_sensitivity(rows_per_consumer=cells_per_consumer), epsilon=eps_count
        )
        # Each of the two intervals at 97.5% -> both hold with probability >= 95%.
        alpha = (1 - mechanisms.CONFIDENCE) / 2
        return {
            "objects": [sum_mech, count_mech],
            "mechanisms": [_mechanism_doc(sum_mech, measure="centred_sum"), _mechanism_doc(count_mech, measure="consumers")],
            "accuracy": {
                "sum_half_width": sum_mech.half_width_at(alpha),
                "count_half_width": count_mech.half_width_at(alpha),
                "definition": MEAN_DEFINITION.format(
                    signals=purpose.max_signals_per_cell, scale=2 * mean_scale(purpose.max_signals_per_cell)
                ),
                "meaning": "mean = middle of the value bounds + noisy centred_sum / (scale × noisy consumers) (post-processing, "
                "no extra ε), clamped to the value bounds; 'interval' holds the bounded true mean with probability >= 0.95 "
                "(two 97.5% intervals)",
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
    if "choice" in built:
        document["mechanism_choice"] = built["choice"]
    if plan.rho:
        # A Gaussian answer is charged as zCDP ρ; ε is what it states at δ.
        document["rho"] = str(plan.rho)
        document["delta"] = f"{accounting.delta():g}"
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
        unit = 2 * mean_scale(purpose.max_signals_per_cell)
        document["cells"] = [
            label | _mean_cell(int(total), int(count), sum_h, count_h, low, high, unit)
            for label, total, count in zip(labels, noisy_sums, noisy_counts)
        ]
    else:  # top_k
        (mechanism,) = built["objects"]
        chosen = mechanism.release(aggregate_values.counts.tolist())
        category = labels[0].get("category") if labels else None
        document["category"] = plan.filters.get("category", category)
        document["ranking"] = [{"rank": rank, "attribute": labels[index]["attribute"]} for rank, index in enumerate(chosen, start=1)]
    return document


def _mean_cell(total: int, count: int, sum_h: int, count_h: int, low: Fraction, high: Fraction, unit: int) -> dict[str, Any]:
    """A mean cell from the noisy centred sum (units of 1/unit of a value) and the noisy
    number of consumers."""
    middle = (low + high) / 2

    def clamp(x: Fraction) -> Fraction:
        return min(max(x, low), high)

    value = _decimal_text(clamp(middle + Fraction(total, unit * count))) if count >= 1 else None
    count_low = count - count_h
    if count_low >= 1:
        corners = [middle + Fraction(s, unit * c) for s in (total - sum_h, total + sum_h) for c in (count_low, count + count_h)]
        interval = [_decimal_text(clamp(min(corners))), _decimal_text(clamp(max(corners)))]
    else:
        interval = [_decimal_text(low), _decimal_text(high)]
    return {"value": value, "centred_sum": total, "consumers": count, "interval": interval}
