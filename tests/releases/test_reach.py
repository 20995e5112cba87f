"""Reach in every answer: each release, report and trend states a DP estimate of how many
eligible people it covers and how many were left out at their cap, paid from 5% of its
own cost; the ledger shows the job's stated cost and nothing more."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from clearinghouse.releases import reach
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.ledger import chunk_decode, chunks_encode
from clearinghouse.releases.models import ChargeChunk, Release
from clearinghouse.releases.selectors import privacy_loss_statement
from tests.releases.conftest import PRODUCT


def sofa(consumer, **extra):
    return {"consumer": consumer, "category": "furniture/sofa", "attribute": "modular", "age_band": "25-34", "region": "CN-BJ"} | extra


def charged(release, *, reach_only: bool) -> set[int]:
    ids: set[int] = set()
    for chunk in ChargeChunk.objects.filter(release=release, reach_only=reach_only):
        ids |= set(chunk_decode(chunk.chunk, chunk.bits).tolist())
    return ids


def earlier_charge(world, people, epsilon: str) -> Release:
    """A done release of the past week that charged ``people`` ``epsilon`` each."""
    earlier = Release.objects.create(
        manufacturer=world.manufacturer.obj,
        purpose=world.purposes[PRODUCT],
        purpose_code=PRODUCT,
        period=period_of(),
        measure="consumers",
        epsilon=Decimal(epsilon),
        request_digest=f"earlier-{epsilon}",
        status=Release.DONE,
        completed_at=timezone.now() - timezone.timedelta(days=7),
    )
    ChargeChunk.objects.bulk_create([ChargeChunk(release=earlier, chunk=c, bits=b) for c, b in chunks_encode(sorted(p.id for p in people))])
    return earlier


def post(world, path, body, capture):
    with capture(execute=True):
        response = world.manufacturer.client().post(path, body, format="json")
    assert response.status_code in (200, 202), response.content
    release = Release.objects.get(pk=response.json()["id"])
    assert release.status == Release.DONE, (release.error_code, release.error_message)
    return release


def covers(section: dict, truth: int) -> bool:
    return abs(section["value"] - truth) <= section["half_width"]


def test_the_reach_counts_lie_within_their_stated_half_width_at_the_stated_rate():
    # 4,000 draws of each mechanism (pure ε 1, zCDP ρ 0.02): the 95% half-width must hold
    # in 93%–99% of the cells (six standard errors either side of 95%).
    for epsilon, rho in ((Decimal("1"), Decimal(0)), (Decimal("1"), Decimal("0.02"))):
        mechanism = reach.reach_mechanism(epsilon=epsilon, rho=rho)
        truth = [1200, 37]
        inside = 0
        for _ in range(2000):
            released = mechanism.release(truth)
            inside += sum(abs(r - t) <= mechanism.half_width for r, t in zip(released, truth))
        assert 0.93 <= inside / 4000 <= 0.99, (epsilon, rho, inside)
        section = reach.reach_section(epsilon=epsilon, rho=rho, covered=1200, left_out=37)
        assert section["covered"]["half_width"] == mechanism.half_width


def test_the_reach_share_is_five_percent_and_the_answer_gets_the_rest():
    assert reach.epsilon_split(Decimal("1.0000")) == (Decimal("0.9500"), Decimal("0.0500"))
    assert reach.epsilon_split(Decimal("0.0002")) == (Decimal("0.0001"), Decimal("0.0001"))
    assert reach.rho_split(Decimal("0.01504724")) == (Decimal("0.01429488"), Decimal("0.00075236"))
    for main in (Decimal("0.0001"), Decimal("0.4321"), Decimal("0.95")):
        total = reach.epsilon_total_for(main)
        assert reach.epsilon_split(total)[0] >= main > reach.epsilon_split(total - Decimal("0.0001"))[0]
    main = Decimal("0.00123457")
    total = reach.rho_total_for(main)
    assert reach.rho_split(total)[0] >= main > reach.rho_split(total - reach.RHO_UNIT)[0]


def test_a_release_states_its_reach_and_charges_only_its_stated_cost(world, django_capture_on_commit_callbacks):
    covered = world.consumers(12)
    near_cap = world.consumers(4)  # can pay the reach share (ε 0.0207) but not the release (0.1)
    spent = world.consumers(2)  # cannot pay even the share: counted nowhere
    elsewhere = world.consumers(3)  # consented, but no signal this request can use
    everyone = covered + near_cap + spent + elsewhere
    world.consent(everyone)
    world.signals(
        [sofa(p) for p in covered + near_cap + spent] + [sofa(p, category="food/bird-nest", attribute="dried") for p in elsewhere]
    )
    earlier_charge(world, near_cap, "5.95")
    earlier_charge(world, spent, "5.9999")

    body = {"purpose": PRODUCT, "measure": "consumers", "group_by": ["age_band"], "filters": {"category": "furniture"}, "epsilon": "0.1"}
    # A count a person is in once: the Gaussian at ρ 0.00025355 (ε 0.1 at δ) is chosen, and
    # its reach share is 5% of that ρ, which states ε 0.0207.
    planned = world.manufacturer.client().post("/api/v1/releases/plan", body, format="json").json()
    assert planned["cost"]["reach"]["share"] == "0.05" and planned["cost"]["reach"]["rho"] == "0.00001267"
    release = post(world, "/api/v1/releases", body, django_capture_on_commit_callbacks)
    section = release.result["payload"]["reach"]
    assert release.rho == Decimal("0.00025355")
    assert section["rho"] == "0.00001267" and section["answer_rho"] == "0.00024088"
    assert section["mechanism"]["name"] == "discrete_gaussian" and section["mechanism"]["library"].startswith("OpenDP")
    assert section["covered"]["half_width"] == planned["cost"]["reach"]["half_width"]
    assert set(section) >= {"covered", "left_out", "covered_fraction", "meaning", "confidence"}
    # The exact counts behind it: 12 used, 4 left out at their cap (2 fully spent: neither).
    assert charged(release, reach_only=False) == {p.id for p in covered}
    assert charged(release, reach_only=True) == {p.id for p in near_cap}
    # The ledger shows exactly the stated cost: ρ 0.00025355 (ε 0.1) for the covered, the
    # share ρ 0.00001267 (ε 0.0207) for the left out (never above the cap), nothing for the rest.
    for person in covered:
        assert privacy_loss_statement(consumer=person)["total_epsilon"] == "0.1000"
    for person in near_cap:
        statement = privacy_loss_statement(consumer=person)
        assert statement["total_epsilon"] == "5.9707"
        assert [(c["epsilon"], c["rho"], c["reach_only"]) for c in statement["charges"] if c["release_id"] == str(release.id)] == [
            ("0.0207", "0.00001267", True)
        ]
    for person in spent:
        assert privacy_loss_statement(consumer=person)["total_epsilon"] == "5.9999"
    for person in elsewhere:
        assert privacy_loss_statement(consumer=person)["total_epsilon"] == "0.0000"
    # The signed answer used the ρ after the share: together exactly what was charged.
    mechanisms = release.result["payload"]["mechanisms"]
    assert sum(Decimal(m["rho"]) for m in mechanisms) + Decimal(section["rho"]) == release.rho


def test_release_reach_covers_the_truth_at_the_stated_rate(world, django_capture_on_commit_callbacks):
    people = world.consumers(25)
    world.consent(people)
    world.signals([sofa(p) for p in people])
    inside = 0
    runs = 30
    for run in range(runs):
        epsilon = str(Decimal("0.1") + Decimal(run) / 10000)  # a new request each time, not a repeat
        release = post(
            world, "/api/v1/releases", {"purpose": PRODUCT, "measure": "consumers", "epsilon": epsilon}, django_capture_on_commit_callbacks
        )
        section = release.result["payload"]["reach"]
        inside += covers(section["covered"], 25) + covers(section["left_out"], 0)
    # 60 checks at a stated 95%: at least 51 (P(fewer) < 1e-3 if the statement is right).
    assert inside >= 51, inside


def test_a_report_states_its_reach_paid_from_its_rho(world, django_capture_on_commit_callbacks):
    people = world.consumers(15)
    world.consent(people)
    world.signals([{"consumer": p, "category": "furniture/office-chair", "attribute": "footrest", "age_band": "25-34"} for p in people])
    body = {
        "purpose": PRODUCT,
        "measure": "consumers",
        "filters": {"category": "furniture/office-chair"},
        "marginals": [["attribute"], ["age_band"]],
        "epsilon": "0.5",
    }
    planned = world.manufacturer.client().post("/api/v1/reports/plan", body, format="json").json()
    report = post(world, "/api/v1/reports", body, django_capture_on_commit_callbacks)
    section = report.result["payload"]["reach"]
    assert section["mechanism"]["name"] == "discrete_gaussian" and section["share"] == "0.05"
    assert Decimal(section["rho"]) + Decimal(section["answer_rho"]) == report.rho
    assert planned["cost"]["reach"]["rho"] == section["rho"]
    assert abs(section["covered"]["value"] - 15) <= 4 * section["covered"]["half_width"]
    assert charged(report, reach_only=False) == {p.id for p in people} and not charged(report, reach_only=True)
    for person in people:
        charges = privacy_loss_statement(consumer=person)["charges"]
        assert [(c["rho"], c["reach_only"]) for c in charges] == [(str(report.rho), False)]
