from django.db import migrations

from clearinghouse.core.db import append_only_sql, drop_append_only_sql, run_on_postgresql


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            run_on_postgresql(lambda: append_only_sql("audit_auditevent")),
            run_on_postgresql(lambda: drop_append_only_sql("audit_auditevent")),
        )
    ]
