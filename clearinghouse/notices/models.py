"""Where a manufacturer wants to hear that a job ended, and each notice sent there."""

from __future__ import annotations

import uuid

from django.db import models

from clearinghouse.accounts.models import Manufacturer
from clearinghouse.releases.models import Release


class Callback(models.Model):
    """The one URL a manufacturer registered for notices (checked by notices.destinations)."""

    manufacturer = models.OneToOneField(Manufacturer, on_delete=models.CASCADE, related_name="callback")
    url = models.CharField(max_length=2048)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.manufacturer_id}: {self.url}"


class Notice(models.Model):
    """One job's end, to be POSTed to the manufacturer's callback. The row is the outbox:
    it commits with the job's end, and the task sent after commit only speeds it up."""

    PENDING, DELIVERED, GIVEN_UP, CANCELLED = "pending", "delivered", "given_up", "cancelled"
    STATES = [(s, s) for s in (PENDING, DELIVERED, GIVEN_UP, CANCELLED)]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the notice_id receivers deduplicate on
    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.CASCADE, related_name="notices")
    job = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8)
    status = models.CharField(max_length=8)  # how the job ended: done, failed, refused
    occurred_at = models.DateTimeField()
    # The exact bytes that are signed and sent, the same at every attempt.
    body = models.TextField()
    url = models.CharField(max_length=2048)
    state = models.CharField(max_length=10, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set by the attempt that claimed the notice; another may claim it once this has passed.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="notice_due")]

    def __str__(self) -> str:
        return f"notice {self.id} ({self.kind} {self.job_id} {self.status}): {self.state}"
