import argparse

from django.core.management.base import BaseCommand, CommandError

from clearinghouse.audit.witness import witness_main


class Command(BaseCommand):
    help = (
        "Run a witness (C2SP tlog-witness): it cosigns checkpoints of the logs it follows only when each extends the last one "
        "it cosigned, and refuses and records a rollback or a split view. Meant to be run by another organisation "
        "(docs/audit.md). 'witness key' creates the key and prints the verifier key to publish; 'witness serve' listens "
        "(witness --help for its options). The same program runs without Django or a database as "
        "python -m clearinghouse.audit.witness."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        # The witness parses its own arguments (clearinghouse.audit.witness.witness_main).
        parser.add_argument("arguments", nargs=argparse.REMAINDER)

    def handle(self, *args, arguments=(), **options):
        try:
            witness_main([*args, *arguments], out=self.stdout)
        except SystemExit as exit_:
            if exit_.code:
                raise CommandError(f"witness: exit status {exit_.code}", returncode=2) from None
