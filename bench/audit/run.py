#!/usr/bin/env python
"""bench/audit: audit-log speed on PostgreSQL, each figure against a baseline measured in
the same run. Not a test: timings on a shared machine are noisy, so rounds are repeated
and the median is reported.

    DATABASE_URL=postgres://127.0.0.1:5432/ch_audit .venv/bin/python bench/audit/run.py [--events 10000000]
    # tile and witness figures only; tile serving needs the public throttle lifted:
    CH_THROTTLE_AUDIT_PUBLIC=10000000/min DATABASE_URL=… .venv/bin/python bench/audit/run.py --only tiles

1. appends/s with 8 concurrent writer processes through the real service
   (``audit_record``), until every event is sealed, against plain inserts of the same
   rows into an unchained table of the same shape; the chain must verify afterwards;
2. inclusion- and consistency-proof latency on a log of ``--events`` events (built once
   with COPY and precomputed hashes: bench code, not product);
3. full verification speed (``audit_chain_verify``: every leaf, link, stored subtree hash
   and checkpoint) over the whole log.

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

    # "sealer": production mode, a dedicated sealer process seals what writers leave behind.
    settings.CH_AUDIT_SEALER = "process" if mode == "sealer" else "after_commit"
    connection.ensure_connection()
    rows = [sample_details(number * 1_000_000 + n) for n in range(count)]
    barrier.wait()
    started = time.perf_counter()
    if mode in ("chained", "sealer"):
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
    if mode == "sealer":
        import subprocess

        sealer = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "audit_sealer", "--idle-seconds", "0.05"],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, CH_AUDIT_SEALER="process"),
        )
        assert "running" in sealer.stdout.readline()
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
    if sealer is not None:
        sealer.terminate()
        sealer.wait(30)
    return WRITERS * per_writer / elapsed


def bench_appends(rounds: int, per_writer: int) -> dict:
    from clearinghouse.audit.selectors import audit_pending_count

    chained, sealed, plain = [], [], []
    for number in range(rounds):
        plain.append(_round("plain", per_writer))
        chained.append(_round("chained", per_writer))
        sealed.append(_round("sealer", per_writer))
        print(
            f"  round {number + 1}: plain {plain[-1]:,.0f}/s, chained (seal after commit) {chained[-1]:,.0f}/s "
            f"ratio {chained[-1] / plain[-1]:.2f}, chained (dedicated sealer) {sealed[-1]:,.0f}/s ratio {sealed[-1] / plain[-1]:.2f}",
            flush=True,
        )
    return {
        "chained_per_s": statistics.median(chained),
        "sealer_per_s": statistics.median(sealed),
        "plain_per_s": statistics.median(plain),
        "ratio": statistics.median([c / p for c, p in zip(chained, plain)]),
        "sealer_ratio": statistics.median([c / p for c, p in zip(sealed, plain)]),
        "pending_after": audit_pending_count(),
    }


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
    """Tile serving through the whole Django stack (URL, permission table, view): full
    level-0 and level-1 hash tiles and entry bundles, at evenly spread indices."""
    from django.test import Client

    from clearinghouse.audit.tiles import tile_path
    from clearinghouse.audit.tree import tree_size

    size = tree_size()
    client = Client()
    officer = _bench_officer_client()
    out = {}
    for kind, level, count in (("level0", 0, size // 256), ("level1", 1, size // 65536), ("entries", "entries", size // 256)):
        if count == 0:
            continue
        timings = []
        for n in range(samples):
            path = "/api/v1/audit/" + tile_path(level, (n * 2_654_435_761) % count).replace("tile/", "tlog/tile/", 1)
            started = time.perf_counter()
            response = (officer if level == "entries" else client).get(path)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code}")
        out[kind] = (percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000)
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


def bench_witnesses(batches: int, per_batch: int) -> dict:
    """Two witnesses on this machine (HTTP, their own keys and state files). Each round
    appends ``per_batch`` events at about 1,000/s, signs a checkpoint and has both
    witnesses cosign it (with a consistency proof from their last size); reported: from
    the last event of the round to both cosignatures stored."""
    import tempfile
    import threading

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.conf import settings

    from clearinghouse.audit.services import audit_checkpoint_sign, audit_log_identity, audit_record
    from clearinghouse.audit.tiles import checkpoint_origin
    from clearinghouse.audit.witness import Witness, public_key_raw, verifier_key, witness_server
    from clearinghouse.audit.witnessing import audit_checkpoint_cosign
    from clearinghouse.core.actors import Actor
    from clearinghouse.core.crypto import signer_get

    origin = checkpoint_origin(str(audit_log_identity()))
    directory = Path(tempfile.mkdtemp(prefix="bench-witness-"))
    servers, configured = [], []
    for number in (1, 2):
        witness = Witness(
            name=f"bench-witness-{number}",
            private_key=Ed25519PrivateKey.generate(),
            logs={origin: signer_get("checkpoints").public_key_raw},
            state_path=directory / f"w{number}.json",
        )
        server = witness_server(witness, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        configured.append(f"{verifier_key(witness.name, public_key_raw(witness.private_key))}@http://127.0.0.1:{server.server_address[1]}")
    settings.CH_AUDIT_WITNESSES = configured
    actor = Actor.system("bench")
    latencies = []
    for _ in range(batches):
        started = time.perf_counter()
        for n in range(per_batch):
            audit_record(actor=actor, action="bench.witness", details={"n": n})
            pause = started + (n + 1) / 1000 - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        last_event = time.perf_counter()
        checkpoint, _ = audit_checkpoint_sign()
        outcomes = audit_checkpoint_cosign(checkpoint_id=checkpoint.pk)
        if set(outcomes.values()) != {"cosigned"}:
            raise SystemExit(f"witnesses did not cosign: {outcomes}")
        latencies.append(time.perf_counter() - last_event)
    for server in servers:
        server.shutdown()
    settings.CH_AUDIT_WITNESSES = []
    return {"p50_s": percentile(latencies, 0.5), "max_s": max(latencies), "rounds": batches}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000, help="size of the log for proofs and verification")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--appends-per-writer", type=int, default=1500)
    parser.add_argument("--proof-samples", type=int, default=2000)
    parser.add_argument("--only", choices=["tiles"], help="tiles: only the tile and witness figures (issue 15)")
    args = parser.parse_args()
    setup_django()
    from clearinghouse.audit.services import audit_checkpoint_sign

    print(f"building a log of {args.events:,} events", flush=True)
    build_log(args.events)
    audit_checkpoint_sign()
    print("tiles", flush=True)
    tiles = bench_tiles(args.proof_samples)
    print("witnesses", flush=True)
    witnessed = bench_witnesses(5, 2000)
    tile_rows = "\n".join(
        f"| tile serving, {kind}, log of {tiles['tree_size']:,} | p50 {tiles[kind][0]:.2f} ms, p99 {tiles[kind][1]:.2f} ms | p99 < 20 ms |"
        for kind in ("level0", "level1", "entries")
        if kind in tiles
    )
    witness_row = (
        f"| last event to checkpoint cosigned by 2 witnesses, 2,000 events at 1,000/s per round | "
        f"p50 {witnessed['p50_s']:.2f} s, max {witnessed['max_s']:.2f} s over {witnessed['rounds']} rounds | < 2 s |"
    )
    if args.only == "tiles":
        print()
        print("| measure | result | goal |")
        print("|---|---|---|")
        print(tile_rows)
        print(witness_row)
        print(f"| load average during the run (machine shared with other jobs) | {os.getloadavg()[0]:.1f} | |")
        return 0
    print(f"appends: {WRITERS} writers x {args.appends_per_writer} events, {args.rounds} rounds", flush=True)
    appends = bench_appends(args.rounds, args.appends_per_writer)
    audit_checkpoint_sign()
    print("proofs", flush=True)
    proofs = bench_proofs(args.proof_samples)
    print("full verification", flush=True)
    verification = bench_verification()
    print()
    print("| measure | result | goal |")
    print("|---|---|---|")
    print(
        f"| appends, 8 writers, dedicated sealer (CH_AUDIT_SEALER=process), until sealed | {appends['sealer_per_s']:,.0f}/s | >= 5,000/s |"
    )
    print(f"| appends, 8 writers, sealed after commit by the writers (default), until sealed | {appends['chained_per_s']:,.0f}/s | |")
    print(f"| plain inserts, same rows, unchained table | {appends['plain_per_s']:,.0f}/s | baseline |")
    print(f"| ratio, dedicated sealer / plain | {appends['sealer_ratio']:.2f} | >= 0.5 |")
    print(f"| ratio, seal after commit / plain | {appends['ratio']:.2f} | |")
    print(f"| events left unsealed afterwards | {appends['pending_after']} | 0 |")
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
    print(f"| load average during the run (machine shared with other jobs) | {os.getloadavg()[0]:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
