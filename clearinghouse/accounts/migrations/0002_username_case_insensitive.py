"""A unique index on lower(username): usernames are unique case-insensitively (issue 12).
Left out, with a warning, where old duplicates exist (manage.py usernames_duplicates)."""

import sys

from django.db import migrations

from clearinghouse.accounts.usernames import CREATE_INDEX_SQL, DROP_INDEX_SQL, usernames_duplicates_list


def forwards(apps, schema_editor):
    duplicates = usernames_duplicates_list(user_model=apps.get_model("auth", "User"))
    if duplicates:
        sys.stderr.write(
            f"\n  {len(duplicates)} usernames exist in more than one case; the case-insensitive unique index is left out. "
            "Run `manage.py usernames_duplicates` to list them.\n"
        )
        return
    schema_editor.execute(CREATE_INDEX_SQL)


def backwards(apps, schema_editor):
    schema_editor.execute(DROP_INDEX_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
