"""The signed report document: the exact full-domain counts measured once with
ResidualPlanner (every draw OpenDP's discrete Gaussian), reconstructed, made consistent and
written out with everything a reader needs to check it: mechanism, ρ and (ε, δ), the
sensitivity and contribution bounds, snapshot time, and per marginal its cells with their
95% half-widths. Signed by releases.services.release_finish like every release document."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from clearinghouse.releases import accounting
from clearinghouse.releases.mechanisms import float_text
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.reach import reach_cost
from clearinghouse.reports.consistency import make_consistent
from clearinghouse.reports.spec import MECHANISM, REFERENCE, ReportSpec, half_width_text
from clearinghouse.reports.strategy import marginal_of, measure_joint, reconstruct_joint

DOCUMENT_SCHEMA = "clearinghouse-report/1"
VALUE_QUANTUM = Decimal("0.01")


def value_text(value: float) -> str:
    """A consistent (non-negative) estimate as a decimal string with two places."""
    return str(Decimal(repr(float(value) + 0.0)).quantize(VALUE_QUANTUM))


def mechanism_section(spec: ReportSpec) -> dict[str, Any]:
    """What the plan says about the noise: the same in a plan and in the signed document."""
    plan = spec.plan
    return {
        "name": MECHANISM,
        "strategy": "ResidualPlanner: every residual of the marginals' downward closure measured once, each at its own exact "
        "sensitivity, RMSE-optimal noise split (across the tables too)",
        "reference": REFERENCE,
        "noise": "discrete_gaussian",
        "library": f"OpenDP {package_version('opendp')}",
        "privacy": "zCDP",
        "rho": str(spec.rho),
        "rho_privacy_map": float_text(float(plan.rho_used)),
        "sensitivity": {"metric": "l1 over the full-domain cells", "value": spec.l1_sensitivity},
        "residuals": [
            {
                "table": "people" if index > 0 else "full_domain",
                "dimensions": list(r.attributes),
                "scale": float_text(r.scale),
                "rho_privacy_map": float_text(r.rho_used),
                "l2_sensitivity": float_text(r.l2_sensitivity),
            }
            for index, part in enumerate(plan.parts)
            for r in part.residuals
        ],
        "tables": [
            {
                "table": "people" if index > 0 else "full_domain",
                "dimensions": list(part.domain_sizes),
                "marginals": [list(m.attributes) for m in part.marginals],
                "rho": float_text(float(part.rho)),
            }
            for index, part in enumerate(plan.parts)
        ],
        "post_processing": "least-squares reconstruction of each marginal, then per table the non-negative table closest to "
        "them (weights 1/variance) whose marginals are released: no cell is negative and every marginal agrees with every "
        "other of its table on their shared totals; post-processing costs no privacy",
    }


def counts_meaning(spec: ReportSpec) -> str:
    """What a cell counts, in words (the same in the plan and the document)."""
    if spec.measure == "signals":
        return (
            "signals (at most max_signals_per_cell per consumer and cell) in each cell of the full domain "
            f"({' × '.join(spec.domain_sizes)}); every table sums that one table; age band and region take one value per consumer"
        )
    if spec.people_table is not None:
        return (
            "consumers: a table with a feature dimension counts each consumer once in each cell they belong to (a consumer who "
            "wants two features counts once under each); a table of " + " × ".join(spec.people_table) + " alone counts each "
            "consumer once; age band and region take one value per consumer"
        )
    return (
        f"consumers in each cell of the full domain ({' × '.join(spec.domain_sizes)}); every table sums that one table, so a "
        "consumer in several cells of the full domain counts once per cell in a table that leaves their differences out; "
        "age band and region take one value per consumer"
    )


def cost_section(spec: ReportSpec) -> dict[str, Any]:
    return {
        "rho": str(spec.rho),
        "epsilon": epsilon_text(spec.epsilon),
        "delta": f"{accounting.delta():g}",
        "reach": reach_cost(epsilon=spec.epsilon, rho=spec.rho),
    }


def report_data_vectors(*, spec: ReportSpec, counts: np.ndarray, firsts: np.ndarray | None) -> list[np.ndarray]:
    """The exact data vector of each part of the plan: the full-domain counts, then (when the
    report has one) the table of people, read from the cell of each contributor's first row."""
    vectors = [np.asarray(counts, dtype=np.int64)]
    if spec.people_table is not None:
        if firsts is None:
            raise ValueError("a report with a table of people needs the contributors per cell")
        vectors.append(
            np.asarray(marginal_of(domain_sizes=spec.domain_sizes, attributes=spec.people_table, vector=firsts), dtype=np.int64).ravel()
        )
    return vectors


def report_estimates(*, spec: ReportSpec, data_vectors: list[np.ndarray]) -> dict[tuple[str, ...], np.ndarray]:
    """Measure (the only random draws of a report, all OpenDP), reconstruct, and make each
    part consistent and non-negative. Marginals of one part agree on their shared totals;
    the table of people and the feature tables count different things (a person once, or
    once per feature), so they are projected apart."""
    noisy = measure_joint(plan=spec.plan, data_vectors=data_vectors)
    estimates = reconstruct_joint(plan=spec.plan, noisy=noisy)
    consistent: dict[tuple[str, ...], np.ndarray] = {}
    for part in spec.plan.parts:
        names = tuple(m.attributes for m in part.marginals)
        consistent |= make_consistent(
            domain_sizes=part.domain_sizes,
            marginals=names,
            estimates={m: estimates[m] for m in names},
            variances=part.variances,
        )
    return consistent


def report_document(*, release: Release, spec: ReportSpec, counts: np.ndarray, firsts: np.ndarray | None, snapshot_at) -> dict[str, Any]:
    """Measure the exact counts, post-process them and build the document that is signed.
    Fractional numbers are decimal strings."""
    consistent = report_estimates(spec=spec, data_vectors=report_data_vectors(spec=spec, counts=counts, firsts=firsts))
    purpose = spec.purpose
    marginals = []
    for accuracy in spec.accuracies:
        half_width = half_width_text(accuracy.half_width)
        values = np.asarray(consistent[accuracy.attributes]).ravel()
        labels = spec.marginal_labels(accuracy.attributes)
        marginals.append(
            {
                "dimensions": list(accuracy.attributes),
                "half_width": half_width,
                "cells": [label | {"value": value_text(v), "half_width": half_width} for label, v in zip(labels, values, strict=True)],
            }
        )
    return {
        "schema": DOCUMENT_SCHEMA,
        "kind": "report",
        "release_id": str(release.id),
        "manufacturer": release.manufacturer.slug,
        "purpose": purpose.code,
        "purpose_version": purpose.version,
        "period": release.period,
        "measure": spec.measure,
        "counts": counts_meaning(spec),
        "filters": spec.filters,
        "epsilon": epsilon_text(spec.epsilon),
        "delta": f"{accounting.delta():g}",
        "rho": str(spec.rho),
        "privacy_unit": "one consumer, across all platforms",
        "contribution_bounds": {
            "max_cells": purpose.max_cells_per_consumer,
            "max_signals_per_cell": purpose.max_signals_per_cell,
            "cells_per_consumer": spec.cells_per_consumer,
            "over": "the full product of the marginals' dimensions: " + " × ".join(f"{d} ({n})" for d, n in spec.domain_sizes.items()),
        },
        "mechanism": mechanism_section(spec),
        "snapshot_at": snapshot_at.isoformat(),
        "taxonomy_version": spec.release_plan.taxonomy_version,
        "confidence": "0.95",
        "accuracy": {
            "meaning": "each cell's value is within its half_width of the bounded true count with probability about 0.95 "
            "(the stated half-width is that of the unbiased estimate; the consistent values are its projection)",
        },
        "marginals": marginals,
    }
