from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction


class Command(DjangoFlush):
    """Django's flush, able to empty the append-only tables only in the test environment.

    The PostgreSQL triggers refuse TRUNCATE of audit and consent events; that is the point
    of them. Test isolation (TransactionTestCase) still needs to empty them between tests,
    so under CH_ENV=test (and a superuser connection) triggers are bypassed for the flush.
    Anywhere else flush fails on those tables, as it should.

    Between tests (sequences kept, as TransactionTestCase asks) the tables are emptied with
    DELETE rather than TRUNCATE: TRUNCATE gives every table and index a new file, about a
    second for the whole schema, while the handful of rows a test leaves are deleted in
    milliseconds. With the replication role set to replica neither the append-only triggers
    nor the foreign-key triggers fire, so the order of the tables does not matter.
    Content types and permissions are kept while they are exactly what post_migrate made
    (rows and ids), as post_migrate would only make them again.
    """

    def handle(self, **options):
        connection = connections[options["database"]]
        bypass = settings.TESTING and connection.vendor == "postgresql"
        if bypass and not options.get("reset_sequences", True) and not options.get("interactive", True):
            return self._delete_all(connection, options)
        if bypass:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
        try:
            return super().handle(**options)
        finally:
            if bypass:
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = DEFAULT")

    def _delete_all(self, connection, options) -> None:
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        quote = connection.ops.quote_name
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # SET LOCAL: the role ends with this transaction, whatever happens in it.
            cursor.execute("SET LOCAL session_replication_role = replica")
            # post_migrate would put back exactly the content types and permissions it made
            # last time (checking that costs ~40 ms); while their rows are still those, they
            # stay and post_migrate is not needed.
            post_migrate = not options.get("inhibit_post_migrate", False)
            keep = post_migrate and self._seeded_counts(cursor, quote) == _seeded.get(connection.settings_dict["NAME"])
            # One round trip for all of them.
            cursor.execute("; ".join(f"DELETE FROM {quote(table)}" for table in tables if not (keep and table in SEEDED_BY_POST_MIGRATE)))
        if post_migrate and not keep:
            emit_post_migrate_signal(options["verbosity"], False, connection.alias)
            with connection.cursor() as cursor:
                _seeded[connection.settings_dict["NAME"]] = self._seeded_counts(cursor, quote)

    @staticmethod
    def _seeded_counts(cursor, quote) -> tuple[int, ...]:
        counts = []
        for table in SEEDED_BY_POST_MIGRATE:
            cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {quote(table)}")
            counts.extend(cursor.fetchone())
        return tuple(counts)


SEEDED_BY_POST_MIGRATE = ("django_content_type", "auth_permission")
# Per database: the (row count, highest id) of each table above right after post_migrate ran.
_seeded: dict[str, tuple[int, ...]] = {}
