import uuid

from django.db import models

from clearinghouse.accounts.models import Consumer, Platform
from clearinghouse.consent.models import Purpose


class Signal(models.Model):
    """One consumer preference signal delivered by a platform under a purpose.

    Domain values are stored as consent.TaxonomyTerm ids (validated at intake against the
    taxonomy), not foreign keys: the table is written in bulk and the ids never change.
    Fields a purpose does not need stay NULL; ``received_at`` is system metadata used for
    retention when the purpose does not collect ``occurred_at``.

    The three references carry no database constraint and no index of their own: the
    deferred foreign-key checks tripled the cost of every COPY (see docs/intake.md), the
    intake resolves and checks every reference itself under its platform lock, consumers
    are never deleted (erasure keeps the pseudonymous row), and the composite indexes
    below already lead with each column a query filters on.
    """

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False)
    event_id = models.CharField(max_length=128)
    category = models.IntegerField()
    attribute = models.IntegerField(null=True)
    signal = models.IntegerField()
    value = models.BigIntegerField(null=True)
    age_band = models.IntegerField(null=True)
    region = models.IntegerField(null=True)
    occurred_at = models.DateTimeField(null=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "event_id"], name="signal_unique_event_per_platform"),
        ]
        indexes = [
            models.Index(fields=["consumer", "purpose", "platform"], name="signal_consumer_purpose"),
            models.Index(fields=["purpose", "received_at"], name="signal_purpose_received"),
        ]


class IntakeBatch(models.Model):
    """The platform's receipt for one POST /platform/signals: counts and the rejected items.

    Holds no personal data: event ids are the platform's own, subjects are not recorded.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()
    items = models.PositiveIntegerField()
    accepted = models.PositiveIntegerField()
    duplicates = models.PositiveIntegerField()
    rejected_counts = models.JSONField(default=dict)  # {code: count}
    rejected = models.JSONField(default=list)  # [{index, event_id, code, message, field?}]

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["platform", "-id"], name="batch_platform_recent")]


class Erasure(models.Model):
    """One erasure of a consumer's signals: after a withdrawal (one purpose on one platform,
    done by a Celery task), an account deletion (everything, done at once) or a run of the
    retention purge (whatever of the person's had outlived its retention, done at once).

    The row is written in the transaction that caused it, so the work survives a lost
    task; ``completed_at`` is set in the transaction that deletes, which is how a task
    claims it and why a retried task is a no-op.
    """

    WITHDRAWAL, ACCOUNT_DELETION, RETENTION = "withdrawal", "account_deletion", "retention"
    REASONS = [(WITHDRAWAL, "consent withdrawn"), (ACCOUNT_DELETION, "account deleted"), (RETENTION, "retention period ended")]

    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=24, choices=REASONS)
    purpose_code = models.SlugField(max_length=64, blank=True, db_index=False)  # blank: every purpose
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.PROTECT, related_name="+")  # null: every platform
    requested_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    signals = models.PositiveIntegerField(null=True, blank=True)
    # Why, in the words of the certificate: consent_withdrawn, purpose_retired,
    # purpose_superseded, account_erased or retention_ended ("" on rows from before certificates).
    cause = models.CharField(max_length=32, blank=True, default="")
    receipt_id = models.UUIDField(null=True, blank=True)  # the consent receipt that ended the consent
    language = models.CharField(max_length=8, blank=True, default="")  # the certificate's language
    # The signed erasure certificate (intake.certificates), written in the transaction
    # that deleted: {payload, signature, key_id, alg}.
    certificate_id = models.UUIDField(null=True, blank=True, unique=True)
    certificate = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["consumer", "id"], name="erasure_consumer"),
            models.Index(fields=["completed_at", "requested_at"], name="erasure_pending"),
        ]
