import json

from django.db import migrations

from clearinghouse.core.db import append_only_sql, drop_append_only_sql, run_on_postgresql


def load_default_taxonomy(apps, schema_editor):
    from clearinghouse.consent.taxonomy import DEFAULT_TAXONOMY_FILE, taxonomy_document_validate, taxonomy_upsert

    document = taxonomy_document_validate(json.loads(DEFAULT_TAXONOMY_FILE.read_text(encoding="utf-8")))
    taxonomy_upsert(
        document=document,
        term_model=apps.get_model("consent", "TaxonomyTerm"),
        version_model=apps.get_model("consent", "TaxonomyVersion"),
    )


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [
        migrations.RunPython(
            run_on_postgresql(lambda: append_only_sql("consent_consentevent")),
            run_on_postgresql(lambda: drop_append_only_sql("consent_consentevent")),
        ),
        migrations.RunPython(load_default_taxonomy, migrations.RunPython.noop),
    ]
