from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections


class Command(DjangoFlush):
    """Django's flush, able to empty the append-only tables only in the test environment.

    The PostgreSQL triggers refuse TRUNCATE of audit and consent events; that is the point
    of them. Test isolation (TransactionTestCase) still needs to empty them between tests,
    so under CH_ENV=test (and a superuser connection) triggers are bypassed for the flush.
    Anywhere else flush fails on those tables, as it should.
    """

    def handle(self, **options):
        connection = connections[options["database"]]
        bypass = settings.TESTING and connection.vendor == "postgresql"
        if bypass:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
        try:
            return super().handle(**options)
        finally:
            if bypass:
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = DEFAULT")
