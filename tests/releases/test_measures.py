"""The exact (pre-noise) aggregate of every measure, bounding, consent and filters, and the
shape of each measure's signed document."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from clearinghouse.consent.taxonomy import taxonomy_index
from clearinghouse.releases import accounting
from clearinghouse.releases.compute import aggregate_compute, bounding_seed
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import release_plan_build
from tests.releases.conftest import FORECAST, PRODUCT

NONE = np.zeros(0, dtype=np.int64)
SHANGHAI = ZoneInfo("Asia/Shanghai")
# The snapshot these tests compute at: signals dated early in 2026 are inside every
# shipped purpose's retention then (a release never reads a signal past retention).
SNAPSHOT = datetime(2026, 4, 1, 9, tzinfo=SHANGHAI)


def plan_for(world, purpose_code=PRODUCT, **body):
    body = {"purpose": purpose_code, "epsilon": "1"} | body
    return release_plan_build(manufacturer=world.manufacturer.obj, purpose=world.purposes[purpose_code], body=body)


def values(plan, aggregate, vector=None):
    """{cell label tuple: value} for the non-zero cells."""
    vector = aggregate.vector() if vector is None else vector
    return {tuple(label.values()): int(v) for label, v in zip(plan.cell_labels(), vector) if v}


def chair(consumer, attribute="lumbar-support", **extra):
    return {
        "consumer": consumer,
        "category": "furniture/office-chair",
        "attribute": attribute,
        "age_band": "25-34",
        "region": "CN-SH",
        "value": 4,
    } | extra


def test_consumers_counts_each_person_once_per_cell(world):
    a, b = world.consumers(2)
    world.consent([a, b])
    world.signals([chair(a), chair(a), chair(a, signal="purchase"), chair(a, "footrest"), chair(b)])
    plan = plan_for(world, measure="consumers", group_by=["category", "attribute"])
    result = aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)
    assert values(plan, result) == {
        ("furniture/office-chair", "lumbar-support"): 2,
        ("furniture/office-chair", "footrest"): 1,
    }
    assert result.contributors.tolist() == sorted([a.id, b.id])


def test_signals_keep_at_most_s_per_cell_and_c_cells_per_consumer(world):
    (a,) = world.consumers(1)
    world.consent([a])
    attributes = list(taxonomy_index().attributes_of(taxonomy_index().categories["furniture/office-chair"]))
    index = taxonomy_index()
    codes = [index.codes[t] for t in attributes]  # 7 attributes
    rows = [chair(a, "lumbar-support") for _ in range(5)]  # 5 signals in one cell, S = 3
    # 14 more cells through signal kinds (age band is a fact about the person, counted once).
    rows += [chair(a, code, signal=kind) for code in codes for kind in ("cart", "purchase")]
    world.signals(rows)
    plan = plan_for(world, measure="signals", group_by=["category", "attribute", "signal"])
    result = aggregate_compute(plan, seed=7, excluded=NONE, now=SNAPSHOT)
    kept = values(plan, result)
    assert len(kept) == 10  # C = 10 cells of the 15 this consumer touched
    assert max(kept.values()) <= 3 and sum(kept.values()) <= 10 * 3
    # Deterministic per release: the same seed keeps the same cells, another seed others.
    assert values(plan, aggregate_compute(plan, seed=7, excluded=NONE, now=SNAPSHOT)) == kept
    others = {frozenset(values(plan, aggregate_compute(plan, seed=s, excluded=NONE, now=SNAPSHOT))) for s in range(8, 20)}
    assert len(others) > 1
    assert bounding_seed("a") != bounding_seed("b") and bounding_seed("a") == bounding_seed("a")


def test_bounding_does_not_follow_arrival_order(world):
    (a,) = world.consumers(1)
    world.consent([a])
    world.signals([chair(a, value=v) for v in (1, 2, 3, 4, 5, 5)])  # six signals in one cell, S = 3
    plan = plan_for(world, measure="sum_value")
    results = [aggregate_compute(plan, seed=s, excluded=NONE, now=SNAPSHOT) for s in range(30)]
    assert all(r.counts.tolist() == [3] for r in results)
    # Which three survive changes with the release (the seed), not with arrival order or id.
    assert len({int(r.sums[0]) for r in results}) > 2


def test_sum_and_mean_use_clamped_values_of_bounded_signals(world):
    a, b = world.consumers(2)
    world.consent([a, b])
    world.signals([chair(a, value=5), chair(a, value=1), chair(b, value=99), chair(b, value=None)])
    plan = plan_for(world, measure="sum_value", group_by=["attribute"])
    result = aggregate_compute(plan, seed=3, excluded=NONE, now=SNAPSHOT)
    assert values(plan, result) == {("furniture/office-chair", "lumbar-support"): 5 + 1 + 5}  # 99 clamped to 5
    assert values(plan, result, result.counts) == {("furniture/office-chair", "lumbar-support"): 3}  # the null value is not a value


def test_only_active_consent_for_the_current_version_counts(world, platform_q):
    a, b, c, d = world.consumers(4)
    world.consent([a])
    world.consent([b], granted=False)
    world.consent([c], purpose_code=FORECAST)  # consent to another purpose
    world.consent([d], platform=platform_q.obj)  # consent on another platform than the signals'
    world.signals([chair(a), chair(b), chair(c), chair(d)])
    plan = plan_for(world, measure="consumers")
    result = aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)
    assert result.counts.tolist() == [1] and result.contributors.tolist() == [a.id]


@pytest.mark.parametrize("measure", ["consumers", "signals"])
def test_a_person_attribute_is_one_value_the_persons_usable_signals_carry(world, platform_q, measure):
    (a,) = world.consumers(1)
    world.consent([a])  # platform P only
    world.signals([chair(a, "lumbar-support", age_band="25-34"), chair(a, "recline-flat", age_band="35-44", signal="cart")])
    # Platform Q says another age band, but the person did not consent there: never used.
    world.signals([chair(a, "recline-flat", age_band="55-64")] * 3, platform=platform_q.obj)
    plan = plan_for(world, measure=measure, group_by=["attribute", "age_band"])
    bands = set()
    for seed in range(24):
        kept = values(plan, aggregate_compute(plan, seed=seed, excluded=NONE, now=SNAPSHOT))
        per_band = {key[-1] for key in kept}
        assert len(per_band) == 1  # every kept row of the person sits in one age band
        assert sum(kept.values()) == 2  # both usable signals (two cells), whatever the band
        assert aggregate_compute(plan, seed=seed, excluded=NONE, now=SNAPSHOT).firsts.sum() == 1
        bands |= per_band
    # A keyed choice per release among the values the usable signals carry.
    assert bands == {"25-34", "35-44"}


def test_excluded_consumers_are_left_out_before_aggregation(world):
    a, b = world.consumers(2)
    world.consent([a, b])
    world.signals([chair(a), chair(b)])
    plan = plan_for(world, measure="consumers")
    result = aggregate_compute(plan, seed=1, excluded=np.asarray([b.id]), now=SNAPSHOT)
    assert result.counts.tolist() == [1] and result.contributors.tolist() == [a.id]


def test_filters_category_prefix_signal_kinds_and_dates(world):
    a, b, c = world.consumers(3)
    world.consent([a, b, c], purpose_code=FORECAST)
    jan = datetime(2026, 1, 6, 9, tzinfo=SHANGHAI)
    mar = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)
    world.signals(
        [
            {"consumer": a, "category": "food/bird-nest", "signal": "purchase", "region": "CN-SH", "occurred_at": jan},
            {"consumer": b, "category": "furniture/sofa", "signal": "view", "region": "CN-SH", "occurred_at": jan},
            {"consumer": c, "category": "food/oat-milk", "signal": "view", "region": "CN-SH", "occurred_at": mar},
        ],
        purpose_code=FORECAST,
    )
    plan = plan_for(world, FORECAST, measure="consumers", group_by=["category"], filters={"category": "food"})
    assert values(plan, aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)) == {("food/bird-nest",): 1, ("food/oat-milk",): 1}
    plan = plan_for(world, FORECAST, measure="consumers", filters={"signals": ["purchase"]})
    assert aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT).contributors.tolist() == [a.id]
    plan = plan_for(world, FORECAST, measure="consumers", filters={"since": "2026-01-01", "until": "2026-01-31"})
    assert aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT).contributors.tolist() == sorted([a.id, b.id])


def test_week_cells_follow_local_iso_weeks(world):
    (a,) = world.consumers(1)
    world.consent([a], purpose_code=FORECAST)
    # Monday 2026-01-05 00:30 in Shanghai is still Sunday in UTC: it belongs to week 2.
    world.signals(
        [
            {
                "consumer": a,
                "category": "furniture/sofa",
                "signal": "view",
                "region": "CN-SH",
                "occurred_at": datetime(2026, 1, 5, 0, 30, tzinfo=SHANGHAI),
            },
            {
                "consumer": a,
                "category": "furniture/sofa",
                "signal": "view",
                "region": "CN-SH",
                "occurred_at": datetime(2026, 1, 4, 23, 30, tzinfo=SHANGHAI),
            },
        ],
        purpose_code=FORECAST,
    )
    plan = plan_for(world, FORECAST, measure="signals", group_by=["week"], filters={"since": "2026-01-01", "until": "2026-01-14"})
    assert [label["week"] for label in plan.cell_labels()] == ["2026-W01", "2026-W02", "2026-W03"]
    assert values(plan, aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)) == {("2026-W01",): 1, ("2026-W02",): 1}


@pytest.mark.parametrize(
    "body",
    [
        {"measure": "consumers", "group_by": ["category", "attribute"]},
        {"measure": "signals", "group_by": ["signal", "age_band"]},
        {"measure": "sum_value", "group_by": ["region"]},
        {"measure": "mean_value", "group_by": ["age_band"]},
        {"measure": "consumers"},
        {"measure": "top_k", "k": 3, "filters": {"category": "furniture/office-chair"}},
    ],
    ids=lambda body: body["measure"] + "-" + "-".join(body.get("group_by", [])),
)
def test_every_measure_produces_a_complete_signed_document(world, body, django_capture_on_commit_callbacks):
    people = world.consumers(5)
    world.consent(people)
    world.signals([chair(p, attribute) for p in people for attribute in ("lumbar-support", "footrest")])
    with django_capture_on_commit_callbacks(execute=True):
        response = world.manufacturer.client().post("/api/v1/releases", {"purpose": PRODUCT, "epsilon": "0.8"} | body, format="json")
    assert response.status_code == 202, response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE, (release.error_code, release.error_message)
    payload = release.result["payload"]
    plan = plan_for(world, **({"epsilon": "0.8"} | body))
    assert payload["epsilon"] == "0.8000" and payload["snapshot_at"] and payload["contribution_bounds"]["max_cells"] == 10
    mechanisms = payload["mechanisms"]
    assert all(m["library"].startswith("OpenDP") for m in mechanisms)
    if release.rho:
        # A Gaussian answer: its map within its ρ, and with the reach share exactly the
        # release's ρ, which states at most the ε asked (and paid from the budget).
        assert all(float(m["rho_privacy_map"]) <= float(m["rho"]) for m in mechanisms)
        assert Decimal(mechanisms[0]["rho"]) + Decimal(payload["reach"]["rho"]) == release.rho
        assert accounting.stated_epsilon(release.rho) <= Decimal("0.8")
        assert payload["guarantee"] == {"epsilon": str(accounting.stated_epsilon(release.rho)), "delta": "1e-07"}
    else:
        assert all(float(m["epsilon_privacy_map"]) <= float(m["epsilon"]) for m in mechanisms)
        # The mechanisms and the reach share together spend exactly what each person is charged.
        charged = float(release.person_charge_epsilon)
        assert sum(float(m["epsilon"]) for m in mechanisms) + float(payload["reach"]["epsilon"]) == pytest.approx(charged)
        assert payload["guarantee"] == {"epsilon": str(release.person_charge_epsilon), "delta": "0"}
    assert payload["reach"]["covered"]["half_width"] > 0 and payload["reach"]["share"] == "0.05"
    if body["measure"] == "top_k":
        assert [r["rank"] for r in payload["ranking"]] == [1, 2, 3]
        assert len({r["attribute"] for r in payload["ranking"]}) == 3
        assert payload["accuracy"]["score_gap"] > 0 and mechanisms[0]["name"] == "noisy_top_k_exponential"
        return
    assert len(payload["cells"]) == plan.cell_count  # every cell, zeros included
    assert [{k: cell[k] for k in label} for cell, label in zip(payload["cells"], plan.cell_labels())] == plan.cell_labels()
    if body["measure"] == "mean_value":
        assert len(mechanisms) == 2 and {m["measure"] for m in mechanisms} == {"centred_sum", "consumers"}
        # A mean over consumers: one consumer moves the count by C and the centred sum by C
        # times the half-range (2, in units of 1/12): never by their number of signals.
        c = plan.cells_per_consumer
        assert {m["measure"]: m["sensitivity"]["value"] for m in mechanisms} == {"centred_sum": c * 24, "consumers": c}
        assert "mean over consumers" in payload["accuracy"]["definition"]
        for cell in payload["cells"]:
            low, high = (float(x) for x in cell["interval"])
            assert low >= 1 and low <= high <= 5
            assert isinstance(cell["centred_sum"], int) and isinstance(cell["consumers"], int)
    else:
        half = payload["accuracy"]["half_width"]
        assert half > 0 and all(cell["half_width"] == half and isinstance(cell["value"], int) for cell in payload["cells"])
        # The rule: the smaller stated half-width at the same share of the person cap.
        choice = payload["mechanism_choice"]
        assert mechanisms[0]["name"] == choice["chosen"]
        smaller = min(
            ("discrete_laplace", "discrete_gaussian"), key=lambda name: (choice[f"{name}_half_width"], name != "discrete_laplace")
        )
        assert choice["chosen"] == smaller and half == choice[f"{smaller}_half_width"]
        # Age band and region are counted once per person: only the other dimensions'
        # cells multiply what one person can reach.
        person_cells = {"age_band": 6, "region": 34}
        reachable = plan.cell_count
        for dimension in plan.group_by:
            reachable //= person_cells.get(dimension, 1)
        expected_sensitivity = {
            "consumers": min(10, reachable),
            "signals": min(10, reachable) * 3,
            "sum_value": min(10, reachable) * 3 * 5,
        }
        # One consumer changes at most C cells by k each: C·k in L1, √C·k in L2.
        if mechanisms[0]["sensitivity"]["metric"] == "l1":
            assert mechanisms[0]["sensitivity"]["value"] == expected_sensitivity[body["measure"]]
        else:
            cells = min(10, reachable)
            assert float(mechanisms[0]["sensitivity"]["value"]) == pytest.approx(expected_sensitivity[body["measure"]] / cells * cells**0.5)


def test_mean_value_is_a_mean_over_consumers_of_each_consumers_clamped_mean(world):
    keen, lukewarm, silent = world.consumers(3)
    world.consent([keen, lukewarm, silent])
    # keen rates 5 three times, lukewarm 1 once: over signals the mean would be 4, over
    # consumers it is 3; silent has no value and is not used.
    world.signals([chair(keen, value=5) for _ in range(3)] + [chair(lukewarm, value=1), chair(silent, value=None)])
    plan = plan_for(world, measure="mean_value", group_by=["attribute"])
    result = aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)
    cell = next(i for i, label in enumerate(plan.cell_labels()) if label["attribute"] == "lumbar-support")
    assert result.counts[cell] == 2 and result.counts.sum() == 2
    # Centred on 3 in units of 1/12 of a value: 12·(5 − 3) + 12·(1 − 3) = 0, mean 3.
    assert result.sums[cell] == 0 and result.sums.sum() == 0
    assert result.contributors.tolist() == sorted([keen.id, lukewarm.id])
    # A consumer's mean of 1 and 2 is 1.5: whole in twelfths.
    world.signals([chair(silent, value=1), chair(silent, value=2)])
    result = aggregate_compute(plan, seed=1, excluded=NONE, now=SNAPSHOT)
    assert result.counts[cell] == 3 and result.sums[cell] == 24 - 24 + 12 * (3 - 6) // 2
