import json

from django.core.management.base import CommandError

from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Verify the audit log: every row's hashes, the chain, the Merkle root, every stored subtree hash, every "
        "checkpoint's signature and root, and consistency between consecutive checkpoints. "
        "Exit 0 when intact; exit 1 naming the first bad sequence number."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the full result as JSON")

    def handle(self, *args, **options):
        # Read-only on purpose: an operator's (or cron's) check adds nothing to the log.
        # Verifications a compliance officer runs (API, console) are recorded.
        result = audit_chain_verify()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.ok:
            where = f"sequence number {result.first_bad_seq}" if result.first_bad_seq else "the stored tree"
            raise CommandError(
                f"audit log BROKEN at {where}: {result.reason} ({result.checked} events verified before it)",
                returncode=1,
            )
        if not options["json"]:
            self.stdout.write(
                f"audit log intact: {result.checked} events, head #{result.head_seq} {result.head_hash}, "
                f"Merkle root {result.root_hash}, {result.checkpoints_checked} checkpoints verified"
                + (f", {result.pending} events awaiting sealing" if result.pending else "")
                + f" ({result.seconds:.2f} s)"
            )
