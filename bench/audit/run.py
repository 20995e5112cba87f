#!/usr/bin/env python
"""bench/audit: audit-log speed on PostgreSQL, each figure against a baseline measured in
the same run. Not a test: timings on a shared machine are noisy, so rounds are repeated
and the median is reported.

    DATABASE_URL=postgres://127.0.0.1:5432/ch_audit .venv/bin/python bench/audit/run.py [--events 10000000]
    # tile and witness figures only (tile serving needs the public throttle lifted):
    CH_THROTTLE_AUDIT_PUBLIC=10000000/min DATABASE_URL=… .venv/bin/python bench/audit/run.py --only tiles

1. appends/s with 8 concurrent writer processes through the real service
   (``audit_record``), until every event is sealed, against plain inserts of the same
   rows into an unchained table of the same shape; the chain must verify afterwards;
2. inclusion- and consistency-proof latency on a log of ``--events`` events (built once
   with COPY and precomputed hashes: bench code, not product);
3. full verification speed (``audit_chain_verify``: every leaf, link, stored subtree hash
   and checkpoint) over the whole log;
4. (issue 15) appends with two witness processes configured and a checkpoint signed and
   cosigned every second, against the same rounds without (``--only witnessed-appends``
   for just these); from each event to the publication of a checkpoint covering it
   cosigned by both, at 1,000 appends/s (``--only witness-latency``); tile serving through
   the whole stack, each tile first built (cold) then kept (warm).

The database must hold nothing but this bench's log: it is the bench's to fill.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearinghouse.settings")

WRITERS = 8
ACTIONS = ["consent.granted", "consent.withdrawn", "intake.batch", "release.completed", "auth.token_issued", "budget.reserved"]


def setup_django():
    import django
    import psycopg

    # The bench's database is its own: create it when missing.
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench/audit needs PostgreSQL: set DATABASE_URL")


def sample_details(n: int) -> tuple[str, str, str, dict]:
    """A believable mix of events, derived from the counter (no randomness needed)."""
    action = ACTIONS[n % len(ACTIONS)]
    pseudonym = str(__import__("uuid").UUID(bytes=hashlib.md5(n.to_bytes(8, "big")).digest()))
    if action.startswith("consent."):
        return "consumer", pseudonym, action, {"subject": pseudonym, "purpose_version": 1, "receipt_id": pseudonym, "channel": "portal"}
    if action == "intake.batch":
        return "platform", "shop-p", action, {"accepted": 9000 + n % 1000, "duplicates": n % 7, "rejected": {"consent_required": n % 13}}
    if action == "release.completed":
        return (
            "system",
            "worker",
            action,
            {"release_id": n, "manufacturer": "chairco", "purpose": "c2m-product-design", "measure": "consumers", "epsilon": "0.5"},
        )
    if action == "budget.reserved":
        return "manufacturer", "chairco", action, {"purpose": "c2m-product-design", "epsilon": "0.5", "period": "2026-11"}
    return "consumer", pseudonym, action, {}


# --- 1. Appends ------------------------------------------------------------------------------


def _writer(mode: str, number: int, count: int, barrier, results):
    setup_django()
    from django.conf import settings
    from django.db import connection, transaction

    from clearinghouse.audit.services import audit_record
    from clearinghouse.core.actors import Actor

    # "sealer": production mode, a dedicated sealer process seals what writers leave behind;
    # "witnessed": the same, with checkpoints signed every second and cosigned by two witnesses.
    settings.CH_AUDIT_SEALER = "process" if mode in ("sealer", "witnessed") else "after_commit"
    connection.ensure_connection()
    rows = [sample_details(number * 1_000_000 + n) for n in range(count)]
    barrier.wait()
    started = time.perf_counter()
    if mode in ("chained", "sealer", "witnessed"):
        for kind, actor_id, action, details in rows:
            audit_record(actor=Actor(kind=kind, id=actor_id), action=action, details=details)
    else:
        from django.utils import timezone
        from psycopg.types.json import Jsonb

        from clearinghouse.audit.chain import entry_document, entry_leaf_hash

        for kind, actor_id, action, details in rows:
            # The same per-row work a writer does without a chain: encode and hash the entry.
            moment = timezone.now()
            leaf = entry_leaf_hash(
                entry_document(time=moment, actor_kind=kind, actor_id=actor_id, action=action, target="", outcome="ok", details=details)
            )
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_audit_plain (time, actor_kind, actor_id, action, target, outcome, details, leaf_hash) "
                    "VALUES (%s, %s, %s, %s, '', 'ok', %s, %s)",
                    [moment, kind, actor_id, action, Jsonb(details), leaf],
                )
    results.put(time.perf_counter() - started)
    connection.close()


def _round(mode: str, per_writer: int) -> float:
    from django.db import connection

    from clearinghouse.audit.selectors import audit_pending_count

    if mode == "plain":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_audit_plain")
            # Same columns, defaults and indexes as the audit table; no chain, no triggers.
            cursor.execute("CREATE TABLE bench_audit_plain (LIKE audit_auditevent INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY)")
    connection.close()
    sealer = None
    if mode in ("sealer", "witnessed"):
        import subprocess

        sealer = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "audit_sealer", "--idle-seconds", "0.05"],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, CH_AUDIT_SEALER="process"),
        )
        assert "running" in sealer.stdout.readline()
    checkpointer = _checkpointer_start() if mode == "witnessed" else None
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(WRITERS + 1), context.Queue()
    processes = [context.Process(target=_writer, args=(mode, number, per_writer, barrier, results)) for number in range(WRITERS)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a {mode} writer failed")
    if mode != "plain":
        # Count the time until every event has its place in the chain.
        while audit_pending_count():
            time.sleep(0.001)
    elapsed = time.perf_counter() - started
    if checkpointer is not None:
        _checkpointer_stop(checkpointer)
    if sealer is not None:
        sealer.terminate()
        sealer.wait(30)
    return WRITERS * per_writer / elapsed


def bench_appends(rounds: int, per_writer: int) -> dict:
    from clearinghouse.audit.selectors import audit_pending_count

    chained, sealed, plain, witnessed = [], [], [], []
    for number in range(rounds):
        plain.append(_round("plain", per_writer))
        chained.append(_round("chained", per_writer))
        sealed.append(_round("sealer", per_writer))
        witnessed.append(_round("witnessed", per_writer))
        print(
            f"  round {number + 1}: plain {plain[-1]:,.0f}/s, chained (seal after commit) {chained[-1]:,.0f}/s "
            f"ratio {chained[-1] / plain[-1]:.2f}, chained (dedicated sealer) {sealed[-1]:,.0f}/s ratio {sealed[-1] / plain[-1]:.2f}, "
            f"the same with two witnesses and a checkpoint every {CHECKPOINT_SECONDS:g} s {witnessed[-1]:,.0f}/s "
            f"ratio to without {witnessed[-1] / sealed[-1]:.2f}",
            flush=True,
        )
    return {
        "chained_per_s": statistics.median(chained),
        "sealer_per_s": statistics.median(sealed),
        "witnessed_per_s": statistics.median(witnessed),
        "plain_per_s": statistics.median(plain),
        "ratio": statistics.median([c / p for c, p in zip(chained, plain)]),
        "sealer_ratio": statistics.median([c / p for c, p in zip(sealed, plain)]),
        "witnessed_ratio": statistics.median([w / c for w, c in zip(witnessed, sealed)]),
        "witnessed_rounds": [w / c for w, c in zip(witnessed, sealed)],
        "pending_after": audit_pending_count(),
    }


# --- Witnesses and the checkpointer (issue 15) ----------------------------------------------------

CHECKPOINT_SECONDS = 1.0
_WITNESSES: dict = {}


def witnesses_start() -> list[str]:
    """Two witness processes, as docker/compose.yaml and the demo run them (python -m
    clearinghouse.audit.witness: own key and state, the log pinned from its origin line);
    returns CH_AUDIT_WITNESSES. Started once: their state follows the log across rounds."""
    import subprocess
    import tempfile

    if _WITNESSES:
        return _WITNESSES["configured"]
    from django.core.management import call_command

    directory = Path(tempfile.mkdtemp(prefix="bench-witness-"))
    call_command("audit_origin", "--output", str(directory / "origin"), stdout=io.StringIO())
    processes, configured = [], []
    for number in (1, 2):
        # fmt: off
        process = subprocess.Popen(
            [sys.executable, "-m", "clearinghouse.audit.witness", "serve", "--name", f"bench-witness-{number}/1",
             "--key", str(directory / f"w{number}.pem"), "--state", str(directory / f"w{number}.json"),
             "--log-file", str(directory / "origin"), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        # fmt: on
        ready = process.stdout.readline().split()
        processes.append(process)
        configured.append(f"{ready[1]}@http://{ready[4]}")
    _WITNESSES.update(processes=processes, configured=configured, directory=directory)
    return configured


def witnesses_stop() -> None:
    import shutil

    for process in _WITNESSES.get("processes", []):
        process.terminate()
        process.wait(10)
    if "directory" in _WITNESSES:
        shutil.rmtree(_WITNESSES["directory"], ignore_errors=True)  # their keys and state: this run's only


def _checkpointer(configured: list[str], interval: float, stop) -> None:
    """What beat and a worker do with CH_AUDIT_CHECKPOINT_SECONDS=interval: sign a checkpoint
    when the log grew and, in the task sent on its commit, collect both cosignatures."""
    setup_django()
    from django.conf import settings

    from clearinghouse.audit.services import audit_checkpoint_sign
    from clearinghouse.celery import app

    settings.CH_AUDIT_WITNESSES = configured
    app.conf.task_always_eager = True  # the cosigning task runs here, as a worker would run it
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)
    while not stop.is_set():
        started = time.perf_counter()
        audit_checkpoint_sign()
        stop.wait(max(0.0, interval - (time.perf_counter() - started)))


def _checkpointer_start(interval: float | None = None):
    from django.db import connections

    configured = witnesses_start()  # may use the database: before closing it
    connections.close_all()  # a forked child must not share the parent's connection
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    process = context.Process(target=_checkpointer, args=(configured, interval or CHECKPOINT_SECONDS, stop))
    process.start()
    return process, stop


def _checkpointer_stop(handle) -> None:
    process, stop = handle
    stop.set()
    process.join(30)


# --- 2. A big log, built with COPY --------------------------------------------------------------


def build_log(events: int) -> None:
    import orjson
    from django.db import connection

    from clearinghouse.audit.chain import format_time
    from clearinghouse.audit.merkle import CompactRange
    from clearinghouse.audit.tree import tree_size

    existing = tree_size()
    if existing >= events:
        print(f"  reusing the log of {existing:,} events", flush=True)
        return
    if existing:
        raise SystemExit(f"the log holds {existing:,} events, fewer than --events; bench on an empty database")
    nodes = []

    def keep(level, index, value):
        if level % 8 == 0:
            nodes.append(f"{level}\t{index}\t{value.hex()}\n")

    tree = CompactRange(on_complete=keep)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    prev = bytes(32)
    sha256, dumps = hashlib.sha256, orjson.dumps
    started = time.perf_counter()
    with connection.cursor() as cursor:
        secondary = ["audit_action_seq", "audit_actor_seq", "audit_outcome_seq", "audit_time"]
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' AND indexname = ANY(%s)", [secondary]
        )
        definitions = cursor.fetchall()
        for name, _ in definitions:
            cursor.execute(f"DROP INDEX {name}")
        chunk = 200_000
        for first in range(0, events, chunk):
            buffer = io.StringIO()
            for n in range(first, min(first + chunk, events)):
                kind, actor_id, action, details = sample_details(n)
                moment = format_time(start + timedelta(seconds=3 * n, microseconds=n % 1_000_000))
                entry = {
                    "action": action,
                    "actor_id": actor_id,
                    "actor_kind": kind,
                    "details": details,
                    "outcome": "ok",
                    "target": "",
                    "time": moment,
                }
                details_json = dumps(details, option=orjson.OPT_SORT_KEYS).decode()
                leaf = sha256(b"\x00" + dumps(entry, option=orjson.OPT_SORT_KEYS)).digest()
                current = sha256(prev + leaf).digest()
                tree.append(leaf)
                buffer.write(
                    f"{n + 1}\t{moment}\t{kind}\t{actor_id}\t{action}\t\tok\t{details_json}\t{leaf.hex()}\t{prev.hex()}\t{current.hex()}\n"
                )
                prev = current
            buffer.seek(0)
            with cursor.cursor.copy(
                "COPY audit_auditevent (seq, time, actor_kind, actor_id, action, target, outcome, details, leaf_hash, prev_hash, hash) FROM STDIN"
            ) as copy:
                copy.write(buffer.getvalue())
            done = min(first + chunk, events)
            print(f"  {done:,} events copied ({time.perf_counter() - started:.0f} s)", flush=True)
        with cursor.cursor.copy('COPY audit_audittreenode (level, "index", hash) FROM STDIN') as copy:
            copy.write("".join(nodes))
        for _name, definition in definitions:
            cursor.execute(definition)
        cursor.execute("ANALYZE audit_auditevent")
        cursor.execute("ANALYZE audit_audittreenode")
    print(f"  built {events:,} events and {len(nodes):,} stored subtree hashes in {time.perf_counter() - started:.0f} s", flush=True)


# --- 3. Proofs ---------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_proofs(samples: int) -> dict:
    from clearinghouse.audit.merkle import verify_consistency, verify_inclusion
    from clearinghouse.audit.selectors import audit_consistency_proof, audit_inclusion_proof, audit_root
    from clearinghouse.audit.tree import tree_size

    size = tree_size()
    root = bytes.fromhex(audit_root(tree_size=size))
    step = 2_654_435_761  # a fixed stride that visits the log evenly
    inclusion, consistency = [], []
    for n in range(samples):
        seq = (n * step) % size + 1
        started = time.perf_counter()
        proof = audit_inclusion_proof(seq=seq, tree_size=size)
        inclusion.append(time.perf_counter() - started)
        verify_inclusion(seq - 1, size, bytes.fromhex(proof["leaf_hash"]), [bytes.fromhex(x) for x in proof["audit_path"]], root)
    for n in range(samples // 4):
        first = (n * step) % (size - 1) + 1
        started = time.perf_counter()
        proof = audit_consistency_proof(first=first, second=size)
        consistency.append(time.perf_counter() - started)
        if n < 20:  # spot-check the answers (each needs the old root, which costs a proof itself)
            verify_consistency(first, size, bytes.fromhex(audit_root(tree_size=first)), root, [bytes.fromhex(x) for x in proof["proof"]])
    return {
        "tree_size": size,
        "inclusion_p50_ms": percentile(inclusion, 0.50) * 1000,
        "inclusion_p99_ms": percentile(inclusion, 0.99) * 1000,
        "consistency_p50_ms": percentile(consistency, 0.50) * 1000,
        "consistency_p99_ms": percentile(consistency, 0.99) * 1000,
    }


# --- 4. Verification ---------------------------------------------------------------------------


def bench_verification() -> dict:
    import resource

    from django.conf import settings

    from clearinghouse.audit.selectors import audit_chain_verify

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    before = cpu()
    result = audit_chain_verify()
    python_cpu = cpu() - before
    if not result.ok:
        raise SystemExit(f"verification FAILED at {result.first_bad_seq}: {result.reason}")
    return {
        "verified": result.checked,
        "seconds": result.seconds,
        "per_s": result.checked / result.seconds,
        # Independent of what else runs on the machine: events per second of our own CPU.
        "per_cpu_s": result.checked / python_cpu,
        "workers": settings.CH_AUDIT_VERIFY_WORKERS,
        "checkpoints": result.checkpoints_checked,
    }


# --- 5. Tiles and witnesses (issue 15) --------------------------------------------------------------


def bench_tiles(samples: int) -> dict:
    """Tile serving through the whole Django stack (URL, throttle, permission table, view):
    full level-0 and level-1 hash tiles and entry bundles at evenly spread indices, each
    asked twice: first built from the log and kept (cold), then read back (warm)."""
    from django.test import Client

    from clearinghouse.audit.models import AuditTile
    from clearinghouse.audit.tiles import tile_path
    from clearinghouse.audit.tree import tree_size

    size = tree_size()
    client = Client()
    officer = _bench_officer_client()
    AuditTile.objects.all().delete()  # so that "cold" is cold on a log benched before
    out = {}
    for kind, level, count in (("level0", 0, size // 256), ("level1", 1, size // 65536), ("entries", "entries", size // 256)):
        if count == 0:
            continue
        paths = sorted(
            {"/api/v1/audit/" + tile_path(level, (n * 2_654_435_761) % count).replace("tile/", "tlog/tile/", 1) for n in range(samples)}
        )
        for phase in ("cold", "warm"):
            timings = []
            for path in paths:
                started = time.perf_counter()
                response = (officer if level == "entries" else client).get(path)
                timings.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code}")
            out[f"{kind}_{phase}"] = (percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000, len(paths))
    return {"tree_size": size, **out}


def _bench_officer_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from clearinghouse.accounts.services import compliance_officer_create, consumer_token_obtain
    from clearinghouse.core.actors import Actor

    if not get_user_model().objects.filter(username="bench-officer").exists():
        compliance_officer_create(username="bench-officer", password="bench-officer-passphrase-1", actor=Actor.operator())
    token = consumer_token_obtain(username="bench-officer", password="bench-officer-passphrase-1")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def bench_witnesses(seconds: float, rate: int = 1000) -> dict:
    """From each event to the publication of a checkpoint covering it cosigned by both
    witnesses, at ``rate`` appends/s for ``seconds``: one writer (audit_record), the
    dedicated sealer, and the checkpointer signing every second and collecting both
    cosignatures (as beat and a worker do). Published = the second cosignature stored."""
    import subprocess

    from clearinghouse.audit.models import AuditCosignature, AuditEvent
    from clearinghouse.audit.selectors import audit_pending_count

    witnesses_start()
    sealer = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "audit_sealer", "--idle-seconds", "0.02"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, CH_AUDIT_SEALER="process"),
    )
    assert "running" in sealer.stdout.readline()
    from django.conf import settings

    settings.CH_AUDIT_SEALER = "process"
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    checkpointer = _checkpointer_start()  # closes this process's connection before forking
    context = multiprocessing.get_context("fork")
    # Several paced writers: one process alone does not reach 1,000/s on a loaded machine.
    writers = [context.Process(target=_paced_writer, args=(number, rate / PACED_WRITERS, seconds)) for number in range(PACED_WRITERS)]
    started = time.perf_counter()
    for process in writers:
        process.start()
    for process in writers:
        process.join()
    elapsed = time.perf_counter() - started
    while audit_pending_count():
        time.sleep(0.01)
    events = list(AuditEvent.objects.filter(id__gt=before, action="bench.witness").order_by("seq").values_list("seq", "time"))
    achieved = len(events) / elapsed
    deadline = time.perf_counter() + 15
    published: list[tuple[int, object]] = []
    while time.perf_counter() < deadline:
        published = [(size, moment) for size, moment, count in _cosigned_checkpoints(AuditCosignature, events[0][0]) if count == 2]
        if published and published[-1][0] >= events[-1][0]:
            break
        time.sleep(0.2)
    _checkpointer_stop(checkpointer)
    sealer.terminate()
    sealer.wait(30)
    settings.CH_AUDIT_SEALER = "after_commit"
    latencies, position, earliest = [], len(published), None
    # Walk back: the earliest publication of any checkpoint at least as large as each event.
    for seq, moment in reversed(events):
        while position > 0 and published[position - 1][0] >= seq:
            position -= 1
            earliest = published[position][1] if earliest is None else min(earliest, published[position][1])
        if earliest is None:
            raise SystemExit(f"no checkpoint cosigned by both witnesses covers event {seq}")
        latencies.append((earliest - moment).total_seconds())
    return {
        "events": len(events),
        "rate": achieved,
        "checkpoints": len(published),
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies),
    }


PACED_WRITERS = 8


def _paced_writer(number: int, rate: float, seconds: float) -> None:
    setup_django()
    from django.conf import settings

    from clearinghouse.audit.services import audit_record
    from clearinghouse.core.actors import Actor

    settings.CH_AUDIT_SEALER = "process"
    actor = Actor.system(f"bench-{number}")
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        audit_record(actor=actor, action="bench.witness", details={"n": n})
        pause = started + (n + 1) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)


def _cosigned_checkpoints(model, from_seq: int):
    """(tree size, when its last cosignature was stored, how many) for checkpoints from
    ``from_seq`` on, oldest first."""
    from django.db.models import Count, Max

    rows = (
        model.objects.filter(checkpoint__tree_size__gte=from_seq)
        .values("checkpoint__tree_size", "checkpoint_id")
        .annotate(last=Max("created_at"), n=Count("id"))
        .order_by("checkpoint_id")
    )
    return [(row["checkpoint__tree_size"], row["last"], row["n"]) for row in rows]


def witnessed_appends_only(rounds: int, per_writer: int) -> int:
    """Appends with the dedicated sealer, without and with two witnesses and a checkpoint
    signed and cosigned every second, alternating, ``rounds`` times."""
    load, without, with_ = [os.getloadavg()[0]], [], []
    try:
        for number in range(rounds):
            without.append(_round("sealer", per_writer))
            with_.append(_round("witnessed", per_writer))
            load.append(os.getloadavg()[0])
            print(
                f"  round {number + 1}: without {without[-1]:,.0f}/s, with {with_[-1]:,.0f}/s, ratio {with_[-1] / without[-1]:.2f}",
                flush=True,
            )
    finally:
        witnesses_stop()
    ratios = [w / o for w, o in zip(with_, without)]
    print(
        f"| appends with two witnesses, checkpoint every {CHECKPOINT_SECONDS:g} s / without, {rounds} alternating rounds "
        f"(median {statistics.median(with_):,.0f}/s vs {statistics.median(without):,.0f}/s) | median ratio {statistics.median(ratios):.2f} "
        f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}) | >= 0.90 |"
    )
    print(f"| load average (1 min) per round | {', '.join(f'{x:.1f}' for x in load)} | |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000, help="size of the log for proofs and verification")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--appends-per-writer", type=int, default=1500)
    parser.add_argument("--proof-samples", type=int, default=2000)
    parser.add_argument("--witness-seconds", type=float, default=20, help="how long to append at 1,000/s for the witness latency")
    parser.add_argument(
        "--only",
        choices=["tiles", "witnessed-appends", "witness-latency"],
        help="tiles: only the tile and witness figures; witnessed-appends: only appends with and without witnesses; "
        "witness-latency: only event to cosigned checkpoint (issue 15)",
    )
    args = parser.parse_args()
    setup_django()
    if args.only == "witnessed-appends":
        return witnessed_appends_only(args.rounds, args.appends_per_writer)
    if args.only == "witness-latency":
        load = os.getloadavg()[0]
        try:
            result = bench_witnesses(args.witness_seconds)
        finally:
            witnesses_stop()
        print(
            f"| event to a checkpoint cosigned by 2 witnesses, {result['events']:,} events at {result['rate']:,.0f}/s, "
            f"checkpoint every {CHECKPOINT_SECONDS:g} s ({result['checkpoints']} checkpoints) | p50 {result['p50_s']:.2f} s, "
            f"p99 {result['p99_s']:.2f} s, max {result['max_s']:.2f} s | < 2 s |"
        )
        print(f"| load average (1 min) before, after | {load:.1f}, {os.getloadavg()[0]:.1f} | |")
        return 0
    from clearinghouse.audit.services import audit_checkpoint_sign

    load = [os.getloadavg()[0]]
    print(f"building a log of {args.events:,} events", flush=True)
    build_log(args.events)
    audit_checkpoint_sign()
    try:
        print("tiles", flush=True)
        tiles = bench_tiles(args.proof_samples)
        load.append(os.getloadavg()[0])
        print("witnesses: last event to a checkpoint cosigned by both, at 1,000 appends/s", flush=True)
        witnessed = bench_witnesses(args.witness_seconds)
        load.append(os.getloadavg()[0])
        appends = None
        if args.only != "tiles":
            print(f"appends: {WRITERS} writers x {args.appends_per_writer} events, {args.rounds} rounds", flush=True)
            appends = bench_appends(args.rounds, args.appends_per_writer)
            load.append(os.getloadavg()[0])
    finally:
        witnesses_stop()
    tile_rows = "\n".join(
        f"| tile serving, {kind} ({phase}: {tiles[f'{kind}_{phase}'][2]:,} tiles), log of {tiles['tree_size']:,} | "
        f"p50 {tiles[f'{kind}_{phase}'][0]:.2f} ms, p99 {tiles[f'{kind}_{phase}'][1]:.2f} ms | p99 < 20 ms |"
        for kind in ("level0", "level1", "entries")
        for phase in ("cold", "warm")
        if f"{kind}_{phase}" in tiles
    )
    witness_row = (
        f"| event to a checkpoint cosigned by 2 witnesses, {witnessed['events']:,} events at {witnessed['rate']:,.0f}/s, "
        f"checkpoint every {CHECKPOINT_SECONDS:g} s ({witnessed['checkpoints']} checkpoints) | "
        f"p50 {witnessed['p50_s']:.2f} s, p99 {witnessed['p99_s']:.2f} s, max {witnessed['max_s']:.2f} s | < 2 s |"
    )
    load_row = (
        f"| load average (1 min) at start, after tiles, witnesses, appends (machine shared) | {', '.join(f'{x:.1f}' for x in load)} | |"
    )
    print()
    print("| measure | result | goal |")
    print("|---|---|---|")
    if appends is None:
        print(tile_rows)
        print(witness_row)
        print(load_row)
        return 0
    print(
        f"| appends, 8 writers, dedicated sealer (CH_AUDIT_SEALER=process), until sealed | {appends['sealer_per_s']:,.0f}/s | >= 5,000/s |"
    )
    print(
        f"| the same with two witnesses and a checkpoint signed and cosigned every {CHECKPOINT_SECONDS:g} s | "
        f"{appends['witnessed_per_s']:,.0f}/s | |"
    )
    print(
        f"| ratio, with witnesses / without (rounds: {', '.join(f'{x:.2f}' for x in appends['witnessed_rounds'])}) | "
        f"{appends['witnessed_ratio']:.2f} | >= 0.90 |"
    )
    print(f"| appends, 8 writers, sealed after commit by the writers (default), until sealed | {appends['chained_per_s']:,.0f}/s | |")
    print(f"| plain inserts, same rows, unchained table | {appends['plain_per_s']:,.0f}/s | baseline |")
    print(f"| ratio, dedicated sealer / plain | {appends['sealer_ratio']:.2f} | >= 0.5 |")
    print(f"| ratio, seal after commit / plain | {appends['ratio']:.2f} | |")
    print(f"| events left unsealed afterwards | {appends['pending_after']} | 0 |")
    audit_checkpoint_sign()
    print("proofs", flush=True)
    proofs = bench_proofs(args.proof_samples)
    print("full verification", flush=True)
    verification = bench_verification()
    load.append(os.getloadavg()[0])
    print(
        f"| inclusion proof, log of {proofs['tree_size']:,} | p50 {proofs['inclusion_p50_ms']:.2f} ms, p99 {proofs['inclusion_p99_ms']:.2f} ms | p99 < 50 ms |"
    )
    print(f"| consistency proof, same log | p50 {proofs['consistency_p50_ms']:.2f} ms, p99 {proofs['consistency_p99_ms']:.2f} ms | |")
    print(
        f"| full verification ({verification['verified']:,} events, {verification['checkpoints']} checkpoints, "
        f"{verification['workers']} workers) | {verification['per_s']:,.0f} events/s ({verification['seconds']:.0f} s); "
        f"{verification['per_cpu_s']:,.0f} per CPU-second of the verifier | >= 200,000/s |"
    )
    print(tile_rows)
    print(witness_row)
    print(
        f"| load average (1 min) at start, after tiles, witnesses, appends, verification (machine shared) | {', '.join(f'{x:.1f}' for x in load)} | |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
