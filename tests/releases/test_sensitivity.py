"""Neighbouring datasets differ by one consumer with any number of signals: the exact
aggregate moves by at most the sensitivity the release states, for every measure."""

from __future__ import annotations

import numpy as np
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearinghouse.releases import mechanisms
from clearinghouse.releases.compute import aggregate_compute
from clearinghouse.releases.plans import mean_scale, release_plan_build
from tests.releases.conftest import PRODUCT

CELLS = [
    ("furniture/office-chair", "lumbar-support"),
    ("furniture/office-chair", "footrest"),
    ("furniture/office-chair", "headrest"),
    ("furniture/sofa", "modular"),
    ("furniture/sofa", "leather"),
    ("food/bird-nest", "dried"),
]
signal_rows = st.tuples(
    st.sampled_from(CELLS),
    st.sampled_from(["view", "cart", "purchase", "rating"]),
    st.sampled_from(["18-24", "25-34", "65+"]),
    st.sampled_from(["CN-SH", "CN-BJ"]),
    st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
)
GROUPINGS = [
    [],
    ["category"],
    ["category", "attribute"],
    ["attribute", "signal"],
    ["age_band", "region"],
    ["age_band"],
    ["region"],
    ["category", "attribute", "signal", "age_band"],
]


# Domain sizes of the facts about a person: counted once per person per release.
PERSON_DOMAINS = {"age_band": 6, "region": 34}


def stated_sensitivity(plan) -> int:
    purpose = plan.purpose
    person_cells = 1
    for dimension in plan.group_by:
        person_cells *= PERSON_DOMAINS.get(dimension, 1)
    cells = min(purpose.max_cells_per_consumer, plan.cell_count // person_cells)
    if plan.measure == "consumers":
        return mechanisms.count_sensitivity(rows_per_consumer=cells)
    if plan.measure == "mean_value":
        # One centred mean per consumer and cell, in units of 1/(2·lcm(1..S)) of a value.
        span = mean_scale(purpose.max_signals_per_cell) * (purpose.value_max - purpose.value_min)
        return mechanisms.sum_sensitivity(rows_per_consumer=cells, lower=-span, upper=span)
    rows = cells * purpose.max_signals_per_cell
    if plan.measure == "signals":
        return mechanisms.count_sensitivity(rows_per_consumer=rows)
    return mechanisms.sum_sensitivity(rows_per_consumer=rows, lower=purpose.value_min, upper=purpose.value_max)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    others=st.lists(st.lists(signal_rows, min_size=1, max_size=6), min_size=0, max_size=4),
    # Light and heavy contributors alike; a heavy one touches far more cells than C.
    target=st.one_of(st.lists(signal_rows, max_size=8), st.lists(signal_rows, min_size=30, max_size=80)),
    measure=st.sampled_from(["consumers", "signals", "sum_value", "mean_value", "top_k"]),
    grouping=st.sampled_from(range(len(GROUPINGS))),
    seed=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_one_consumer_moves_the_aggregate_by_at_most_the_stated_bound(world, others, target, measure, grouping, seed):
    with transaction.atomic():
        people = world.consumers(len(others) + 1)
        world.consent(people)
        rows = []
        for person, signals in zip(people, [target, *others]):
            for (category, attribute), kind, band, region, value in signals:
                rows.append(
                    {
                        "consumer": person,
                        "category": category,
                        "attribute": attribute,
                        "signal": kind,
                        "age_band": band,
                        "region": region,
                        "value": value,
                    }
                )
        world.signals(rows)
        body = {"purpose": PRODUCT, "measure": measure, "epsilon": "1"}
        if measure == "top_k":
            body |= {"k": 2, "filters": {"category": "furniture/office-chair"}}
        else:
            body["group_by"] = GROUPINGS[grouping]
        plan = release_plan_build(manufacturer=world.manufacturer.obj, purpose=world.purposes[PRODUCT], body=body)
        with_target = aggregate_compute(plan, seed=seed, excluded=np.zeros(0, dtype=np.int64))
        without_target = aggregate_compute(plan, seed=seed, excluded=np.asarray([people[0].id]))
        difference = with_target.vector() - without_target.vector()
        if measure == "top_k":
            # L∞ 1 and monotonic: adding a consumer raises each score by at most one, lowers none.
            assert difference.min() >= 0 and difference.max() <= 1
        else:
            assert np.abs(difference).sum() <= stated_sensitivity(plan)
            if measure == "consumers" and set(plan.group_by) <= set(PERSON_DOMAINS):
                # Facts about a person: one consumer moves such a count by at most 1.
                assert np.abs(difference).sum() <= 1
            if measure == "sum_value":
                assert np.abs(with_target.counts - without_target.counts).sum() <= stated_sensitivity(plan) // 5
            if measure == "mean_value":
                # The count of consumers: one per cell, at most C cells.
                assert np.abs(with_target.counts - without_target.counts).sum() <= stated_sensitivity(plan) // 24
        # The target is charged exactly when they have a signal the release can use.
        usable = [
            row
            for row in target
            if (measure != "top_k" or row[0][0] == "furniture/office-chair")
            and (measure not in ("sum_value", "mean_value") or row[4] is not None)
        ]
        assert (people[0].id in set(with_target.contributors.tolist())) == bool(usable)
        assert people[0].id not in set(without_target.contributors.tolist())
        transaction.set_rollback(True)
