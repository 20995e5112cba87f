from django.db import models

from clearinghouse.accounts.models import Consumer, Platform
from consent.models import Purpose


class Signal(models.Model):
    """One consumer preference signal delivered by a platform under a purpose.

    Domain values are stored as consent.TaxonomyTerm ids (validated at intake against the
    taxonomy), not foreign keys: the table is written in bulk and the ids never change.
    Fields a purpose does not need stay NULL; ``received_at`` is system metadata used for
    retention when the purpose does not collect ``occurred_at``.
    """

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="+")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
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
