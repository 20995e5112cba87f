"""Differentially private reports made of many marginals answered together.

``strategy`` plans and measures a workload of marginals with ResidualPlanner (Xiao, He, Zhang,
Kifer, NeurIPS 2023) under zero-concentrated DP, every draw through OpenDP's discrete
Gaussian; ``consistency`` post-processes the estimates into one consistent, non-negative set.
Pure Python/numpy/scipy: no Django, no database.
"""

from clearinghouse.reports.consistency import make_consistent
from clearinghouse.reports.strategy import (
    MarginalAccuracy,
    MarginalsPlan,
    NoisyResiduals,
    ResidualNoise,
    marginal_of,
    measure,
    plan_marginals,
    reconstruct,
    rho_for_half_width,
)

__all__ = [
    "MarginalAccuracy",
    "MarginalsPlan",
    "NoisyResiduals",
    "ResidualNoise",
    "make_consistent",
    "marginal_of",
    "measure",
    "plan_marginals",
    "reconstruct",
    "rho_for_half_width",
]
