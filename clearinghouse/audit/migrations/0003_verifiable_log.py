"""The verifiable log: entries sealed into a hash chain and an RFC 6962 Merkle tree,
signed checkpoints, and the log's identity.

The v1 table (seq as primary key, hash over a JSON document including prev_hash) is
replaced rather than converted: it only ever existed in pre-release development
databases, and re-hashing it would mean rewriting an audit log under a migration.
"""

from django.db import migrations, models

import clearinghouse.audit.models
from clearinghouse.audit.db import append_function_sql, drop_append_function_sql, drop_seal_only_sql, seal_only_sql
from clearinghouse.core.db import append_only_sql, drop_append_only_sql, run_on_postgresql


def _statements(*groups):
    return lambda: [statement for group in groups for statement in group()]


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.RunPython(
            run_on_postgresql(lambda: drop_append_only_sql("audit_auditevent")),
            run_on_postgresql(lambda: append_only_sql("audit_auditevent")),
        ),
        migrations.DeleteModel(name="AuditEvent"),
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "xid",
                    models.BigIntegerField(
                        blank=True, db_default=clearinghouse.audit.models.CurrentTransactionId(), editable=False, null=True
                    ),
                ),
                ("seq", models.BigIntegerField(blank=True, null=True)),
                ("time", models.DateTimeField()),
                ("actor_kind", models.CharField(max_length=16)),
                ("actor_id", models.CharField(blank=True, max_length=64)),
                ("action", models.CharField(max_length=64)),
                ("target", models.CharField(blank=True, max_length=128)),
                ("outcome", models.CharField(choices=[("ok", "ok"), ("denied", "denied"), ("error", "error")], max_length=8)),
                ("details", models.JSONField(default=dict)),
                ("leaf_hash", models.CharField(max_length=64)),
                ("prev_hash", models.CharField(blank=True, max_length=64, null=True)),
                ("hash", models.CharField(blank=True, max_length=64, null=True)),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.UniqueConstraint(condition=models.Q(("seq__isnull", False)), fields=("seq",), name="audit_seq_unique"),
                ],
                "indexes": [
                    models.Index(fields=["action", "seq"], name="audit_action_seq"),
                    models.Index(fields=["actor_kind", "actor_id", "seq"], name="audit_actor_seq"),
                    models.Index(fields=["outcome", "seq"], name="audit_outcome_seq"),
                    models.Index(fields=["time"], name="audit_time"),
                    models.Index(condition=models.Q(("seq__isnull", True)), fields=["xid", "id"], name="audit_unsealed"),
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditSealHorizon",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("xid", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="AuditTreeNode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("level", models.PositiveSmallIntegerField()),
                ("index", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("level", "index"), name="audit_tree_node_unique")],
            },
        ),
        migrations.CreateModel(
            name="AuditLog",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("log_id", models.UUIDField(unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("log_id", models.UUIDField()),
                ("tree_size", models.BigIntegerField()),
                ("root_hash", models.CharField(max_length=64)),
                ("time", models.DateTimeField()),
                ("key_id", models.CharField(max_length=64)),
                ("signature", models.CharField(max_length=128)),
            ],
            options={
                "ordering": ["id"],
                "indexes": [models.Index(fields=["tree_size"], name="audit_checkpoint_size")],
            },
        ),
        migrations.RunPython(
            run_on_postgresql(
                _statements(
                    seal_only_sql,
                    append_function_sql,
                    lambda: append_only_sql("audit_audittreenode"),
                    lambda: append_only_sql("audit_auditlog"),
                    lambda: append_only_sql("audit_auditcheckpoint"),
                )
            ),
            run_on_postgresql(
                _statements(
                    drop_seal_only_sql,
                    drop_append_function_sql,
                    lambda: drop_append_only_sql("audit_audittreenode"),
                    lambda: drop_append_only_sql("audit_auditlog"),
                    lambda: drop_append_only_sql("audit_auditcheckpoint"),
                )
            ),
        ),
    ]
