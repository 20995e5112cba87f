import base64
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clearinghouse.audit.witness import Witness, public_key_raw, verifier_key, witness_key_load_or_create, witness_server


class Command(BaseCommand):
    help = (
        "Run a witness (C2SP tlog-witness): it cosigns checkpoints of the logs it follows only when each extends the last one "
        "it cosigned, and refuses and records a rollback or a split view. Meant to be run by another organisation "
        "(docs/audit.md). 'witness key' creates the key and prints the verifier key to publish; 'witness serve' listens."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("mode", choices=["key", "serve"])
        parser.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.org/1")
        parser.add_argument("--key", required=True, help="the witness's private key file (created if missing, mode 0600)")
        parser.add_argument("--state", help="serve: the state file (the latest size and root cosigned per log, and alerts)")
        parser.add_argument(
            "--log",
            action="append",
            default=[],
            help="serve: ORIGIN=BASE64 a log to follow and its checkpoints public key (from GET /api/v1/keys, use checkpoints); repeatable",
        )
        parser.add_argument("--listen", default="127.0.0.1:7380", help="serve: host:port (default 127.0.0.1:7380)")

    def handle(self, *args, mode, name, key, state, log, listen, **options):
        private_key = witness_key_load_or_create(Path(key))
        if mode == "key":
            self.stdout.write(verifier_key(name, public_key_raw(private_key)))
            return
        if not state or not log:
            raise CommandError("serve needs --state and at least one --log ORIGIN=KEY", returncode=2)
        logs = {}
        for item in log:
            origin, _sep, encoded = item.partition("=")  # an origin has no "="; base64 may end in "="
            try:
                raw = base64.b64decode(encoded, validate=True)
            except ValueError:
                raw = b""
            if not origin or len(raw) != 32:
                raise CommandError(f"--log {item!r}: expected ORIGIN=BASE64 with a 32-byte Ed25519 public key", returncode=2)
            logs[origin] = raw
        host, _colon, port = listen.rpartition(":")
        witness = Witness(name=name, private_key=private_key, logs=logs, state_path=Path(state))
        server = witness_server(witness, host or "127.0.0.1", int(port))
        self.stdout.write(f"witness {verifier_key(name, public_key_raw(private_key))} listening on {listen}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
