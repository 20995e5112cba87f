from django.core.management.base import BaseCommand, CommandError

from clearinghouse.audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit hash chain. Exit 0 when intact; exit 1 naming the first bad sequence number."

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at sequence number {result.first_bad_seq}: {result.reason} "
                f"({result.checked} events verified before it)",
                returncode=1,
            )
        self.stdout.write(f"audit chain intact: {result.checked} events, head #{result.head_seq} {result.head_hash}")
