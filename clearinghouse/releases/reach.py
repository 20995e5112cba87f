"""Reach: how many eligible people an answer covers, and how many were left out at their cap.

Every release, report and trend pays for its reach out of its own cost: ``SHARE`` (5%) of
its ε (pure releases) or of its ρ (Gaussian reports and trends) goes to one noisy
two-cell vector, ``[covered, left_out]``, and the answer itself is noised with the rest.
The ledger charges exactly the job's stated cost, nothing on top:

* ``covered`` counts the contributors (the consumers the job charges, releases/compute.py
  returns them), who pay the whole cost, reach share included;
* ``left_out`` counts the consumers with at least one signal the request could use whom the
  individual filter left out because the whole cost would pass their cap less its reach
  reserve (``RESERVE``, 10%: answers never use it), but who can still afford the reach
  share within the cap: they are charged that share only (a reach-only charge in
  the ledger, ChargeChunk.reach_only), and nothing of their data enters the answer.
  Someone who cannot afford even the share is counted nowhere, so ``left_out`` is a lower
  bound once people's allowances are fully spent; the document says so.

A person is in at most one of the two counts, so one person moves the vector by at most 1
in L1 and L2: discrete Laplace at the share's ε (pure) or discrete Gaussian at the share's
ρ (zCDP), from OpenDP like every other draw (mechanisms.py).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from importlib.metadata import version as package_version
from typing import Any

from clearinghouse.releases import accounting, mechanisms
from clearinghouse.releases.plans import EPSILON_QUANTUM, epsilon_text

SHARE = Fraction(1, 20)
# The part of each cap (the person cap, a purpose's sub-cap) that answers may not use:
# only reach counts draw on it, so that a person left out of answers stays countable in
# reach for many answers (at ε 0.5 a share is 0.025: 24 of them) instead of vanishing from
# both counts the moment their cap is spent.
RESERVE = Fraction(1, 10)
SHARE_TEXT = "0.05"
RHO_UNIT = accounting.RHO_UNIT
MEANING = (
    "covered: consumers with at least one signal this answer could use whose data it used (each charged its whole cost); "
    "left_out: such consumers the individual filter left out because the whole cost would pass their cap less its 10% "
    "reach reserve, each charged only the reach share; a consumer who could not afford even the share is in neither "
    "count, so left_out is a lower bound; each count is within half_width of its true value with probability 0.95"
)


def reserve_units(limit_units: int) -> int:
    """The reach reserve of a cap given in units of 0.0001 ε (rounded up: answers get less)."""
    return -(-limit_units * RESERVE.numerator // RESERVE.denominator)


def answerable_cap() -> Decimal:
    """The part of the person cap answers may use: the cap less its reach reserve (ε 5.4 of
    the default 6)."""
    units = int(accounting.person_cap() / EPSILON_QUANTUM)
    return (Decimal(units - reserve_units(units)) * EPSILON_QUANTUM).quantize(EPSILON_QUANTUM)


def epsilon_split(total: Decimal) -> tuple[Decimal, Decimal]:
    """(ε of the answer, ε of its reach) for a pure job of ``total``: the reach share is 5%
    rounded down to 0.0001, at least 0.0001."""
    reach = max(EPSILON_QUANTUM, (total * Decimal(SHARE_TEXT)).quantize(EPSILON_QUANTUM, rounding=ROUND_FLOOR))
    return total - reach, reach


def rho_split(total: Decimal) -> tuple[Decimal, Decimal]:
    """(ρ of the answer, ρ of its reach) for a Gaussian job of ``total``: 5% rounded down
    to 1e-8, at least 1e-8."""
    reach = max(RHO_UNIT, (total * Decimal(SHARE_TEXT)).quantize(RHO_UNIT, rounding=ROUND_FLOOR))
    return total - reach, reach


def epsilon_total_for(main: Decimal) -> Decimal:
    """The least total ε (0.0001 quantum) whose answer share is at least ``main``."""
    total = (main / (1 - Decimal(SHARE_TEXT))).quantize(EPSILON_QUANTUM, rounding=ROUND_FLOOR)
    while epsilon_split(total)[0] < main:
        total += EPSILON_QUANTUM
    while total > EPSILON_QUANTUM and epsilon_split(total - EPSILON_QUANTUM)[0] >= main:
        total -= EPSILON_QUANTUM
    return total


def rho_total_for(main: Decimal) -> Decimal:
    """The least total ρ (1e-8 quantum) whose answer share is at least ``main``."""
    total = (main / (1 - Decimal(SHARE_TEXT))).quantize(RHO_UNIT, rounding=ROUND_CEILING)
    while rho_split(total)[0] < main:
        total += RHO_UNIT
    while total > RHO_UNIT and rho_split(total - RHO_UNIT)[0] >= main:
        total -= RHO_UNIT
    return total


def reach_mechanism(*, epsilon: Decimal, rho: Decimal) -> mechanisms.LaplaceMechanism | mechanisms.GaussianMechanism:
    """The reach vector's mechanism for a job costing ``epsilon`` (pure, ``rho`` = 0) or
    ``rho`` (zCDP)."""
    if rho:
        return mechanisms.gaussian_mechanism(sensitivity=1, rho=rho_split(rho)[1])
    return mechanisms.laplace_mechanism(sensitivity=1, epsilon=epsilon_split(epsilon)[1])


def _mechanism_doc(mechanism) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": mechanism.name,
        "library": f"OpenDP {package_version('opendp')}",
        "scale": mechanisms.float_text(mechanism.scale),
    }
    if isinstance(mechanism, mechanisms.GaussianMechanism):
        return doc | {
            "sensitivity": {"metric": "l2", "value": 1},
            "rho": str(Decimal(mechanism.rho.numerator) / Decimal(mechanism.rho.denominator)),
            "rho_privacy_map": mechanisms.float_text(mechanism.rho_used),
        }
    return doc | {
        "sensitivity": {"metric": "l1", "value": 1},
        "epsilon": epsilon_text(mechanism.epsilon),
        "epsilon_privacy_map": mechanisms.float_text(mechanism.epsilon_used),
    }


def reach_cost(*, epsilon: Decimal, rho: Decimal) -> dict[str, Any]:
    """What a plan and a document say about the reach share of a job's cost (no draw)."""
    mechanism = reach_mechanism(epsilon=epsilon, rho=rho)
    share: dict[str, Any] = {"share": SHARE_TEXT}
    if rho:
        main, reach = rho_split(rho)
        share |= {"rho": str(reach), "answer_rho": str(main)}
    else:
        main_epsilon, reach_epsilon = epsilon_split(epsilon)
        share |= {"epsilon": epsilon_text(reach_epsilon), "answer_epsilon": epsilon_text(main_epsilon)}
    return share | {"mechanism": _mechanism_doc(mechanism), "half_width": mechanism.half_width}


def reach_section(*, epsilon: Decimal, rho: Decimal, covered: int, left_out: int) -> dict[str, Any]:
    """Noise the exact ``[covered, left_out]`` (the reach share's only draw, OpenDP) and
    write the document's ``reach`` section."""
    mechanism = reach_mechanism(epsilon=epsilon, rho=rho)
    noisy_covered, noisy_left_out = (int(v) for v in mechanism.release([int(covered), int(left_out)]))
    half_width = mechanism.half_width
    seen_covered, seen_left_out = max(noisy_covered, 0), max(noisy_left_out, 0)
    eligible = seen_covered + seen_left_out
    return reach_cost(epsilon=epsilon, rho=rho) | {
        "covered": {"value": noisy_covered, "half_width": half_width},
        "left_out": {"value": noisy_left_out, "half_width": half_width},
        # Post-processing of the two noisy counts (negatives read as 0); null when both are.
        "covered_fraction": str((Decimal(seen_covered) / Decimal(eligible)).quantize(Decimal("0.0001"))) if eligible else None,
        "confidence": "0.95",
        "meaning": MEANING,
    }


def charge_cost(*, epsilon: Decimal, rho: Decimal, reach_only: bool) -> tuple[Decimal, Decimal]:
    """(ε, ρ) one ledger bit costs: the job's whole cost, or for a reach-only charge its
    reach share (ε is then ρ→ε of that share at δ, rounded up, for a Gaussian job)."""
    if not reach_only:
        return epsilon, rho
    if rho:
        share = rho_split(rho)[1]
        return accounting.stated_epsilon(share), share
    return epsilon_split(epsilon)[1], Decimal(0)
