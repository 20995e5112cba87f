from django.db import models
from django.db.models import Func, Q
from django.db.models.fields.json import KeyTransform


class CurrentTransactionId(Func):
    """PostgreSQL: the writing transaction's own 64-bit id (assigned, at the latest, by
    the INSERT that evaluates this default). Elsewhere NULL: SQLite has no concurrent
    writers for the sealer to wait for."""

    template = "NULL"
    output_field = models.BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class AppendOnly(models.Model):
    """Instances can be created, never changed or deleted through the ORM (and the
    PostgreSQL triggers refuse it below the ORM)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__} rows are append-only")


class AuditEvent(AppendOnly):
    """One audit record.

    The writer inserts the entry and its ``leaf_hash`` inside the transaction of the
    action it records. Right after that transaction commits the sealer gives it its place
    in the log: ``seq`` (1-based; leaf index seq - 1), ``prev_hash`` and the chain
    ``hash`` (see clearinghouse.audit.chain). Sealing is the only change the database
    accepts, once, and only of those three columns. ``details`` never holds personal
    data: consumers appear only under their pseudonymous id.
    """

    OUTCOMES = [("ok", "ok"), ("denied", "denied"), ("error", "error")]

    id = models.BigAutoField(primary_key=True)
    # PostgreSQL: the id of the writing transaction (a column default), which lets the
    # sealer find committed, unsealed events without scanning old ones (see services).
    xid = models.BigIntegerField(null=True, blank=True, editable=False, db_default=CurrentTransactionId())
    seq = models.BigIntegerField(null=True, blank=True)
    time = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(max_length=8, choices=OUTCOMES)
    details = models.JSONField(default=dict)
    leaf_hash = models.CharField(max_length=64)
    # NULL, not "": an event is unsealed until the sealer gives it its place in the chain.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["id"]
        constraints = [
            # Partial: unsealed rows stay out of it, so that the planner finds them only
            # through the sealer's own index below.
            models.UniqueConstraint(fields=["seq"], condition=Q(seq__isnull=False), name="audit_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["actor_kind", "actor_id", "seq"], name="audit_actor_seq"),
            models.Index(fields=["outcome", "seq"], name="audit_outcome_seq"),
            models.Index(fields=["time"], name="audit_time"),
            # Investigations (issue 15): a target prefix, and a person's trail through
            # details.subject (the other two places a person appears have indexes above).
            models.Index(fields=["target"], name="audit_target_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(KeyTransform("subject", "details"), name="audit_details_subject"),
            # The sealer's queue. Sealed rows leave dead entries here until VACUUM, so the
            # sealer reads it only from its transaction-id horizon onwards.
            models.Index(fields=["xid", "id"], condition=Q(seq__isnull=True), name="audit_unsealed"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq or 'pending'} {self.action} {self.outcome}"

    @property
    def sealed(self) -> bool:
        return self.seq is not None


class AuditSealHorizon(models.Model):
    """Every transaction with an id below ``xid`` had finished when the sealer last
    looked, and all its events are sealed: the sealer's next search starts here."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    xid = models.BigIntegerField(default=0)


class AuditTreeNode(AppendOnly):
    """Hash of a complete, aligned subtree of the Merkle tree at a stored level.

    Levels 8, 16, 24, ... are stored (a node at level L covers leaves
    [index * 2^L, (index + 1) * 2^L)); everything else in a proof is recomputed from at
    most 2^7 stored hashes or leaf hashes, so a proof on a log of any size costs a handful
    of index range reads.
    """

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_tree_node_unique")]


class AuditLog(AppendOnly):
    """The identity of this log, named in every checkpoint. A log rebuilt from scratch gets
    a new id, so a verifier that pinned the old one notices."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    log_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class AuditCheckpoint(AppendOnly):
    """A signed tree head: Ed25519 over canonical_json(payload()) with the checkpoints key."""

    log_id = models.UUIDField()
    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    time = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tree_size"], name="audit_checkpoint_size")]

    def payload(self) -> dict:
        from clearinghouse.audit.chain import format_time

        return {
            "log_id": str(self.log_id),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": format_time(self.time),
            "key_id": self.key_id,
        }

    def envelope(self) -> dict:
        return {"payload": self.payload(), "signature": self.signature, "key_id": self.key_id, "alg": "Ed25519"}


class AuditCosignature(AppendOnly):
    """A witness's cosignature (C2SP tlog-cosignature/v1) of a checkpoint, as the witness
    returned it; the published checkpoint note carries these lines under the log's own."""

    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.CharField(max_length=128)  # the witness's name
    line = models.CharField(max_length=256)  # "— <name> <base64(key hash, time, signature)>"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["checkpoint", "witness"], name="audit_cosignature_once")]


class AuditTile(models.Model):
    """A full tile (C2SP tlog-tiles) as served, kept once it was first read: a full tile
    never changes, so serving it again is one primary-key read instead of a range scan
    and, for entry bundles, re-encoding 256 entries (docs/audit.md §7). A cache: derived
    from the sealed log, which it does not replace; an auditor verifies what it serves."""

    ENTRIES = -1  # ``level`` of an entry bundle; 0.. are hash tiles

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_tile_once")]


class AuditVerificationRun(models.Model):
    """A verification a compliance officer started from the console (it runs as a Celery
    task: on a log of millions of events it takes a minute or more)."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUSES = [(QUEUED, "queued"), (RUNNING, "running"), (DONE, "done"), (FAILED, "failed")]

    requested_by = models.CharField(max_length=64)  # actor id, e.g. officer:3
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=STATUSES, default=QUEUED)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
