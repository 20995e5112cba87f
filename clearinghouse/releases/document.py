"""The signed release document: the exact aggregate noised (the only random draws of a
release, all through OpenDP) and written out with everything a reader needs to check it:
mechanism, scale, sensitivity, ε, contribution bounds, snapshot time and 95% half-widths.
tools/verify_release.py reads what this module writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from importlib.metadata import version as package_version
from typing import Any

from clearinghouse.releases import accounting, mechanisms
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import EPSILON_QUANTUM, ReleasePlan, epsilon_text, mean_scale
from clearinghouse.releases.reach import answerable_cap, epsilon_split, rho_split

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


@dataclass(frozen=True)
class MechanismChoice:
    """What a count or sum is answered with: ``rho`` > 0 for a discrete Gaussian charged ρ,
    else discrete Laplace charged ``person_epsilon`` to each person (None: the plan's ε)."""

    rho: Decimal
    person_epsilon: Decimal | None


def laplace_share_epsilon(*, epsilon: Decimal, rho: Decimal) -> Decimal:
    """The ε of a pure answer that takes the same share of the answerable person cap as a
    Gaussian charge of ``rho``: E·ρ/ρ(E), E the answerable cap (5.4 of 6) and ρ(E) the
    largest ρ whose OpenDP conversion at δ is within E; rounded down to 0.0001 and never
    more than ``epsilon``, the ε the request pays from its budget.

    Pure charges add linearly against the cap and ρ adds linearly against ρ(E), so a
    person can be charged E/ε_L such answers either way: the two candidates use a
    person's allowance equally fast, which is what decides how long they stay in answers."""
    answerable = answerable_cap()
    cap_rho = accounting.rho_within(answerable)
    if rho <= 0 or cap_rho <= 0:
        return Decimal(0)
    share = (answerable * rho / cap_rho).quantize(EPSILON_QUANTUM, rounding=ROUND_DOWN)
    return min(share, epsilon)


def _count_sensitivities(plan: ReleasePlan) -> tuple[int, float]:
    """(L1, L2) sensitivity of a count or sum vector: one consumer changes at most C cells,
    each by at most k, so C·k in L1 and √C·k in L2."""
    purpose = plan.purpose
    cells_per_consumer = plan.cells_per_consumer
    rows = cells_per_consumer * (1 if plan.measure == "consumers" else purpose.max_signals_per_cell)
    per_cell = 1 if plan.measure == "consumers" else purpose.max_signals_per_cell
    if plan.measure == "sum_value":
        low, high = plan.value_bounds
        sensitivity = mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=low, upper=high)
        per_cell *= max(abs(int(purpose.value_min or 0)), abs(int(purpose.value_max or 0)))
    else:
        sensitivity = mechanisms.count_sensitivity(rows_per_consumer=rows)
    return sensitivity, mechanisms.l2_sensitivity(cells_per_consumer=cells_per_consumer, per_cell=per_cell)


def _candidates(plan: ReleasePlan) -> tuple[mechanisms.LaplaceMechanism | None, mechanisms.GaussianMechanism | None, Decimal, Decimal]:
    """Both mechanisms the rule weighs for a count or sum at the plan's ε, each less its
    reach share: the discrete Gaussian at ρ_G, the largest ρ whose stated ε at δ is within
    the plan's ε, and discrete Laplace at the ε taking the same share of the person cap as
    ρ_G (laplace_share_epsilon). Returns (laplace, gaussian, ρ_G, ε_L); a candidate is None
    when its cost buys no answer. Without a Gaussian (an ε too small to buy any ρ), Laplace
    gets the plan's ε."""
    l1, l2 = _count_sensitivities(plan)
    rho = accounting.rho_within(plan.epsilon)
    answer_rho = rho_split(rho)[0] if rho > 0 else Decimal(0)
    gaussian = mechanisms.gaussian_mechanism(sensitivity=l2, rho=answer_rho) if answer_rho > 0 else None
    person_epsilon = plan.epsilon if gaussian is None else laplace_share_epsilon(epsilon=plan.epsilon, rho=rho)
    # The reach share takes at least 0.0001, so a pure answer needs 0.0002.
    laplace = None
    if person_epsilon >= 2 * EPSILON_QUANTUM:
        laplace = mechanisms.laplace_mechanism(sensitivity=l1, epsilon=epsilon_split(person_epsilon)[0])
    return laplace, gaussian, rho, person_epsilon


def _choice_doc(laplace, gaussian, *, chosen, rho: Decimal, person_epsilon: Decimal) -> dict[str, Any]:
    return {
        "rule": "the mechanism with the smaller stated 95% half-width at the same share of the person cap (the answerable "
        "cap less the reach reserve): the discrete Gaussian at the largest ρ whose ε at δ is the ε asked, discrete Laplace "
        "at the ε that is the same fraction of that cap as ρ is of its ρ; Laplace on a tie",
        "chosen": chosen.name,
        "discrete_laplace_half_width": laplace.half_width if laplace is not None else None,
        "discrete_gaussian_half_width": gaussian.half_width if gaussian is not None else None,
        "discrete_laplace_epsilon": epsilon_text(person_epsilon) if laplace is not None else None,
        "discrete_gaussian_rho": str(rho) if gaussian is not None else None,
        "answerable_cap": epsilon_text(answerable_cap()),
    }


def mechanism_choose(plan: ReleasePlan) -> MechanismChoice:
    """Per request, for counts and sums: discrete Laplace (pure ε) or discrete Gaussian (ρ),
    whichever states the smaller 95% half-width at the same share of the person cap
    (_candidates). The request's ε is what budgets are charged either way; a Laplace answer
    charges each person ε_L ≤ that ε. mean_value and top_k stay pure at the plan's ε: their
    mechanisms (a sum and count pair, noisy top-k) have no Gaussian form here. A function of
    the request and the settings alone, so the plan and the job choose the same."""
    if plan.measure not in ("consumers", "signals", "sum_value"):
        return MechanismChoice(rho=Decimal(0), person_epsilon=None)
    laplace, gaussian, rho, person_epsilon = _candidates(plan)
    if gaussian is not None and (laplace is None or gaussian.half_width < laplace.half_width):
        return MechanismChoice(rho=rho, person_epsilon=None)
    return MechanismChoice(rho=Decimal(0), person_epsilon=None if person_epsilon == plan.epsilon else person_epsilon)


def chosen_half_width(plan: ReleasePlan) -> int:
    """The 95% half-width of the mechanism a count or sum request would be answered with."""
    choice = mechanism_choose(plan)
    built = plan_mechanisms(replace(plan, rho=choice.rho, person_epsilon=choice.person_epsilon))
    return int(built["accuracy"]["half_width"])


def guarantee_text(plan: ReleasePlan) -> dict[str, str]:
    """The (ε, δ) each person covered by the answer is charged, reach share included: what
    ρ states at δ for a Gaussian answer, the pure ε (δ 0) otherwise."""
    if plan.rho:
        return {"epsilon": epsilon_text(accounting.stated_epsilon(plan.rho)), "delta": f"{accounting.delta():g}"}
    return {"epsilon": epsilon_text(plan.charge_epsilon), "delta": "0"}


def plan_mechanisms(plan: ReleasePlan) -> dict[str, Any]:
    """The noise mechanisms of a plan, built from the contribution bounds through OpenDP
    (no draw happens here), with what the document says about them. Shared by the job and
    by the free plan (preview.py), so a plan states exactly the half-widths the result will.
    The answer gets the job's ε less its reach share (reach.py)."""
    purpose = plan.purpose
    answer_epsilon = epsilon_split(plan.epsilon)[0]
    cells_per_consumer = plan.cells_per_consumer
    if plan.measure in ("consumers", "signals", "sum_value"):
        laplace, gaussian, rho, person_epsilon = _candidates(plan)
        # The plan's own choice (stored with a release) is one of the two unless the settings
        # changed since; either way the answer is noised at what the release is charged.
        l1, l2 = _count_sensitivities(plan)
        mechanism: mechanisms.LaplaceMechanism | mechanisms.GaussianMechanism
        if plan.rho:
            if gaussian is not None and plan.rho == rho:
                mechanism = gaussian
            else:
                mechanism = mechanisms.gaussian_mechanism(sensitivity=l2, rho=rho_split(plan.rho)[0])
        elif laplace is not None and plan.charge_epsilon == person_epsilon:
            mechanism = laplace
        else:
            mechanism = mechanisms.laplace_mechanism(sensitivity=l1, epsilon=epsilon_split(plan.charge_epsilon)[0])
        return {
            "objects": [mechanism],
            "mechanisms": [_mechanism_doc(mechanism, measure=plan.measure)],
            "accuracy": {
                "half_width": mechanism.half_width,
                "meaning": "each cell's released value is within half_width of its bounded true value with probability 0.95",
            },
            "choice": _choice_doc(laplace, gaussian, chosen=mechanism, rho=rho, person_epsilon=person_epsilon),
        }
    if plan.measure == "mean_value":
        # One value per consumer and cell (their mean, compute.py): the count of consumers
        # moves by at most C, the centred sum by C times the half-range, in whole units of
        # 1/(2·lcm(1..S)) of a value, whatever the number of signals behind each mean.
        low, high = plan.value_bounds
        span = mean_scale(purpose.max_signals_per_cell) * (high - low)
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
    assert plan.k is not None  # plan_build gives every top_k plan its k
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
    # What each person whose data the answer used is charged (the ε above is what the
    # manufacturer's budget paid).
    document["guarantee"] = guarantee_text(plan)
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
        low, high = (Fraction(bound) for bound in plan.value_bounds)
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
