"""The individual privacy ledger: charge only those whose data a release could use, leave
out anyone whose rolling-365-day total would pass the cap, and show each person their own
statement."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearinghouse.core.actors import Actor
from clearinghouse.releases import accounting, services
from clearinghouse.releases.budgets import budget_allocate, period_of
from clearinghouse.releases.ledger import CHUNK_BITS, _filters_over, chunk_decode, chunks_encode, consumer_charges, consumers_over
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.reach import rho_split
from clearinghouse.releases.selectors import privacy_loss_statement
from tests.releases.conftest import FORECAST, PRODUCT


def charged_ids(release_id, *, reach_only: bool = False) -> set[int]:
    ids: set[int] = set()
    for chunk in ChargeChunk.objects.filter(release_id=release_id, reach_only=reach_only):
        ids |= set(chunk_decode(chunk.chunk, chunk.bits).tolist())
    return ids


def run(world, body, capture, client=None):
    with capture(execute=True):
        response = (client or world.manufacturer.client()).post("/api/v1/releases", {"purpose": PRODUCT} | body, format="json")
    assert response.status_code in (200, 202), response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE, (release.error_code, release.error_message)
    return release


def sofa(consumer, **extra):
    return {
        "consumer": consumer,
        "category": "furniture/sofa",
        "attribute": "modular",
        "age_band": "25-34",
        "region": "CN-BJ",
        "value": 3,
    } | extra


def test_bitmaps_round_trip():
    ids = [1, 2, 65535, 65536, 65537, 3 * CHUNK_BITS + 17]
    chunks = chunks_encode(ids)
    assert [c for c, _ in chunks] == [0, 1, 3]
    assert sorted(x for c, bits in chunks for x in chunk_decode(c, bits).tolist()) == ids
    assert chunks_encode([]) == []
    # Unsorted and repeated ids encode like their sorted unique set.
    assert chunks_encode([3 * CHUNK_BITS + 17, 2, 1, 65536, 2, 65535, 65537, 1]) == chunks


def test_the_filter_read_per_distinct_total_decides_as_it_does_per_person():
    """The ledger filter runs once per distinct (pure, ρ) total of a chunk and is read back
    per person; every person must get the decision the filter gives them on their own,
    with few distinct totals, thousands, and totals too large to pack (the fallback)."""
    rng = np.random.default_rng(20261207)
    # Pure totals up to ~2 million units reach the top bits of the packed key (and past it).
    rho_costs, pure_costs = rng.integers(1, 3_000_000, size=30), rng.integers(0, 70_000, size=30)
    for trial in range(40):
        releases = int(rng.integers(1, 30))
        charged = rng.random((releases, 4096)) < rng.random()
        rho = (charged * rho_costs[:releases, None]).sum(axis=0).astype(np.int64)
        pure = (charged * pure_costs[:releases, None]).sum(axis=0).astype(np.int64)
        if trial % 4 == 0:
            pure[:3] = 1 << 40  # past what packs into one key
        tests = [(int(rng.integers(0, 9_000)), int(rng.integers(0, 10**6)), int(rng.integers(1_000, 80_000))) for _ in range(2)]
        for (add_pure, add_rho, limit), decided in zip(tests, _filters_over(pure, rho, tests), strict=True):
            assert np.array_equal(decided, accounting.filter_over(pure + add_pure, rho + add_rho, limit)), trial
    # Totals at the top of the packed key's pure part: far over any cap, never read as small.
    edge = np.array([(1 << 20) + 10, (1 << 21) - 1, 5, 59_990], dtype=np.int64)
    assert _filters_over(edge, np.zeros(4, dtype=np.int64), [(0, 0, 60_000)])[0].tolist() == [True, True, False, False]
    assert _filters_over(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [(0, 0, 1)])[0].size == 0


def test_only_consumers_with_matching_signals_are_charged(world, django_capture_on_commit_callbacks):
    with_data, other_category, no_consent, nothing = world.consumers(4)
    world.consent([with_data, other_category, nothing])
    world.signals(
        [sofa(with_data), {"consumer": other_category, "category": "food/bird-nest", "attribute": "dried", "value": 1}, sofa(no_consent)]
    )
    release = run(
        world, {"measure": "consumers", "filters": {"category": "furniture"}, "epsilon": "0.5"}, django_capture_on_commit_callbacks
    )
    assert charged_ids(release.id) == {with_data.id}
    assert privacy_loss_statement(consumer=with_data)["total_epsilon"] == "0.5000"
    for person in (other_category, no_consent, nothing):
        assert privacy_loss_statement(consumer=person) | {"purposes": None} == {
            "window_days": 365,
            "guarantee": {"epsilon": "0.0000", "delta": "0", "cap": "6.0000", "remaining": "6.0000"},
            "purposes": None,
            "charges": [],
            "total_epsilon": "0.0000",
        }


def test_a_consumer_at_the_cap_is_left_out_of_answers_and_charged_only_to_be_counted(world, django_capture_on_commit_callbacks):
    regular, heavy = world.consumers(2)
    world.consent([regular, heavy])
    world.signals([sofa(regular), sofa(heavy)])
    # Answers may use the cap of 6 less its 10% reach reserve: pure releases (top_k, whose
    # exponential mechanism has no Gaussian form) of ε 1, 1, 1, 1, 1 and 0.4 bring both to 5.4.
    for kind, epsilon in zip(("view", "wishlist", "cart", "purchase", "rating", "survey"), ("1", "1", "1", "1", "1", "0.4")):
        release = run(
            world,
            {"measure": "top_k", "k": 1, "filters": {"category": "furniture/sofa", "signals": [kind, "view"]}, "epsilon": epsilon},
            django_capture_on_commit_callbacks,
        )
        assert charged_ids(release.id) == {regular.id, heavy.id} and not charged_ids(release.id, reach_only=True)
    statement = privacy_loss_statement(consumer=heavy)
    product = next(p for p in statement["purposes"] if p["purpose"] == PRODUCT)
    assert product == {
        "purpose": PRODUCT,
        "title": world.purposes[PRODUCT].title,
        "cap": "6.0000",
        "spent_in_window": "5.4000",
        "delta": "0",
        "remaining": "0.6000",
    }
    assert statement["guarantee"] == {"epsilon": "5.4000", "delta": "0", "cap": "6.0000", "remaining": "0.6000"}
    # A newcomer is still used; the two at the cap are left out of the answer before
    # aggregation, and counted in its reach for its reach share only: this count is a
    # Gaussian answer (ρ 0.00025355 at ε 0.1), so the share is 5% of its ρ, which states
    # ε 0.0207 at δ on top of their pure 5.4.
    (newcomer,) = world.consumers(1)
    world.consent([newcomer])
    world.signals([sofa(newcomer)])
    release = run(world, {"measure": "signals", "epsilon": "0.1"}, django_capture_on_commit_callbacks)
    assert release.rho == Decimal("0.00025355")
    assert charged_ids(release.id) == {newcomer.id}
    assert charged_ids(release.id, reach_only=True) == {regular.id, heavy.id}
    share = rho_split(release.rho)[1]
    assert privacy_loss_statement(consumer=heavy)["total_epsilon"] == str(Decimal("5.4") + accounting.stated_epsilon(share)) == "5.4207"
    assert set(
        consumers_over(purpose_code=PRODUCT, moment=release.completed_at, purpose_cap=Decimal(6), epsilon=Decimal("0.1")).tolist()
    ) == {
        regular.id,
        heavy.id,
    }
    # The person cap spans every purpose: the person is left out of another purpose's
    # release too, while someone with room there is used.
    world.consent([heavy, newcomer], purpose_code=FORECAST)
    world.signals(
        [{"consumer": person, "category": "furniture/sofa", "signal": "view", "region": "CN-BJ"} for person in (heavy, newcomer)],
        purpose_code=FORECAST,
    )
    other = run(world, {"purpose": FORECAST, "measure": "consumers", "epsilon": "1"}, django_capture_on_commit_callbacks)
    assert charged_ids(other.id) == {newcomer.id} and charged_ids(other.id, reach_only=True) == {heavy.id}
    shares = share + rho_split(other.rho)[1]
    assert privacy_loss_statement(consumer=heavy)["guarantee"]["epsilon"] == str(Decimal("5.4") + accounting.stated_epsilon(shares))


def test_charges_leave_the_window_after_365_days(world, django_capture_on_commit_callbacks):
    (person,) = world.consumers(1)
    world.consent([person])
    world.signals([sofa(person)])
    old = run(world, {"measure": "consumers", "epsilon": "1"}, django_capture_on_commit_callbacks)
    Release.objects.filter(pk=old.pk).update(completed_at=old.completed_at - timedelta(days=366))
    recent = run(world, {"measure": "signals", "epsilon": "0.5"}, django_capture_on_commit_callbacks)
    statement = privacy_loss_statement(consumer=person)
    assert [c["release_id"] for c in statement["charges"]] == [str(recent.id)]
    assert statement["total_epsilon"] == "0.5000"
    assert [r.id for r in consumer_charges(consumer_id=person.id)] == [recent.id, old.id]


def test_privacy_loss_endpoint_shows_the_consumers_own_ledger(world, consumer_a, consumer_b, django_capture_on_commit_callbacks):
    world.consent([consumer_a.consumer])
    world.signals([sofa(consumer_a.consumer)])
    release = run(world, {"measure": "mean_value", "group_by": ["age_band"], "epsilon": "0.75"}, django_capture_on_commit_callbacks)
    response = consumer_a.client().get("/api/v1/me/privacy-loss")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"window_days", "guarantee", "purposes", "charges", "total_epsilon"}
    assert body["guarantee"] == {"epsilon": "0.7500", "delta": "0", "cap": "6.0000", "remaining": "5.2500"}
    assert body["window_days"] == 365 and body["total_epsilon"] == "0.7500"
    assert body["charges"] == [
        {
            "release_id": str(release.id),
            "purpose": PRODUCT,
            "manufacturer": world.manufacturer.obj.name,
            "measure": "mean_value",
            "epsilon": "0.7500",
            "reach_only": False,
            "rho": None,
            "charged_at": release.completed_at.isoformat(),
        }
    ]
    purposes = {p["purpose"]: p for p in body["purposes"]}
    assert purposes[PRODUCT]["spent_in_window"] == "0.7500" and purposes[PRODUCT]["remaining"] == "5.2500"
    assert purposes[FORECAST]["spent_in_window"] == "0.0000" and set(purposes[FORECAST]["title"]) == {"zh-hans", "en"}
    assert consumer_b.client().get("/api/v1/me/privacy-loss").json()["charges"] == []
    export = consumer_a.client().get("/api/v1/me/export").json()
    assert export["privacy_loss"]["total_epsilon"] == "0.7500"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["chairco", "deskco"]),
            st.sampled_from([PRODUCT, PRODUCT, FORECAST]),
            st.sampled_from(["1", "0.75", "0.5"]),
            st.sampled_from(["2999-01", "2999-02", "2999-03"]),
            st.sampled_from([None, "furniture/sofa", "furniture/office-chair"]),
        ),
        min_size=10,
        max_size=16,
    )
)
def test_no_consumer_ever_passes_the_cap(world, make_manufacturer, monkeypatch, steps, django_capture_on_commit_callbacks):
    from django.db import transaction

    with transaction.atomic():
        makers = {"chairco": world.manufacturer.obj}
        makers["deskco"] = make_manufacturer(f"deskco-{len(steps)}-{id(steps)}", ["furniture"]).obj
        people = world.consumers(4)
        world.consent(people)
        world.consent(people[:3], purpose_code=FORECAST)
        world.signals(
            [sofa(people[0]), sofa(people[1]), {"consumer": people[2], "category": "furniture/office-chair", "attribute": "footrest"}]
        )
        world.signals([{"consumer": p, "category": "furniture/sofa", "region": "CN-BJ"} for p in people[:3]], purpose_code=FORECAST)
        for maker in makers.values():
            for period in ("2999-01", "2999-02", "2999-03"):
                for code in (PRODUCT, FORECAST):
                    budget_allocate(
                        manufacturer_slug=maker.slug, purpose_code=code, epsilon="20", period=period, actor=Actor.operator(), force=True
                    )
        for number, (maker, code, epsilon, period, category) in enumerate(steps):
            monkeypatch.setattr(services, "period_of", lambda moment=None, p=period: p)
            body = {"purpose": code, "measure": "signals", "epsilon": epsilon, "group_by": ["category"] if number % 2 else []}
            if category:
                body["filters"] = {"category": category}
            with django_capture_on_commit_callbacks(execute=True):
                release, _ = services.release_request(manufacturer=makers[maker], body=body, actor=Actor(kind="manufacturer", id=maker))
            release.refresh_from_db()
            assert release.status == Release.DONE
        for person in people:
            statement = privacy_loss_statement(consumer=person)
            for row in statement["purposes"]:
                assert Decimal(row["spent_in_window"]) <= Decimal(row["cap"]), (person.id, row)
            # One cap across every purpose, manufacturer and period.
            assert Decimal(statement["guarantee"]["epsilon"]) <= Decimal(statement["guarantee"]["cap"]), (person.id, statement)
        untouched = privacy_loss_statement(consumer=people[3])
        assert untouched["total_epsilon"] == "0.0000"  # no signals, never charged
        transaction.set_rollback(True)
    assert period_of()
