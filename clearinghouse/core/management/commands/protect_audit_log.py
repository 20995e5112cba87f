from clearinghouse.core.commands import ServiceCommand
from clearinghouse.core.db import log_tables_protect


class Command(ServiceCommand):
    help = (
        "Give the append-only tables (audit log, consent ledger) and their guard triggers' functions to a "
        "separate owner role, and grant the application's login role only what it needs, so that it can "
        "neither disable the triggers nor truncate the log. Run as a PostgreSQL superuser after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="the role the web, worker, beat and sealer processes log in as")
        parser.add_argument("--owner-role", default="clearinghouse_log_owner", help="NOLOGIN role that owns the log (created if missing)")

    def handle(self, *args, **options):
        try:
            done = log_tables_protect(app_role=options["app_role"], owner_role=options["owner_role"])
        except ValueError as exc:
            from django.core.management.base import CommandError

            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            f"{options['owner_role']} owns {', '.join(done['log_tables'])} and {len(done['functions'])} guard function(s); "
            f"{options['app_role']} may read and append there, and read and write {len(done['other_tables'])} other tables"
        )
