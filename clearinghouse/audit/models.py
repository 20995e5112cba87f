from django.db import models


class AuditEvent(models.Model):
    """One append-only, hash-chained audit record.

    ``hash`` is SHA-256 over the canonical JSON of every other column including
    ``prev_hash`` (see clearinghouse.audit.chain). ``details`` never holds personal data:
    consumers appear only under their pseudonymous id.
    """

    OUTCOMES = [("ok", "ok"), ("denied", "denied"), ("error", "error")]

    seq = models.BigIntegerField(primary_key=True)
    time = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(max_length=8, choices=OUTCOMES)
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["action", "seq"]),
            models.Index(fields=["actor_kind", "actor_id", "seq"]),
            models.Index(fields=["time"]),
            models.Index(fields=["outcome", "seq"]),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("audit events are append-only")

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"
