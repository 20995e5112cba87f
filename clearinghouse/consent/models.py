from django.db import models
from django.db.models import Q

from clearinghouse.accounts.models import Consumer, Platform


class TaxonomyVersion(models.Model):
    version = models.CharField(max_length=32, unique=True)
    digest = models.CharField(max_length=64)
    document = models.JSONField()
    loaded_at = models.DateTimeField(auto_now_add=True)


class TaxonomyTerm(models.Model):
    """One public domain value. Signals store these ids; codes are what the API speaks.

    Terms are never deleted (old signals and releases refer to them); a term dropped from
    a later taxonomy version is marked inactive and no longer accepted at intake.
    """

    DIMENSIONS = [
        ("category", "category"),
        ("attribute", "attribute"),
        ("signal", "signal kind"),
        ("age_band", "age band"),
        ("region", "region"),
    ]

    id = models.AutoField(primary_key=True)
    dimension = models.CharField(max_length=16, choices=DIMENSIONS)
    code = models.CharField(max_length=64)
    # Attribute values belong to one category; other dimensions have no parent.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    labels = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["dimension", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "code"], condition=Q(parent__isnull=True), name="term_unique_top_level"),
            models.UniqueConstraint(
                fields=["dimension", "parent", "code"], condition=Q(parent__isnull=False), name="term_unique_in_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dimension}:{self.code}"


class Purpose(models.Model):
    """One version of a processing purpose. Consent is given to a (code, version)."""

    DRAFT, APPROVED, RETIRED = "draft", "approved", "retired"
    STATUSES = [(DRAFT, "draft"), (APPROVED, "approved"), (RETIRED, "retired")]

    code = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=STATUSES, default=DRAFT)
    title = models.JSONField()  # {"zh-hans": ..., "en": ...}
    notice = models.JSONField()  # {"zh-hans": ..., "en": ...}; the text the consumer consents to
    notice_digests = models.JSONField()  # {"zh-hans": sha256 hex, "en": sha256 hex}
    legitimate_interest = models.JSONField()
    lawful_basis = models.CharField(max_length=64)
    fields = models.JSONField()  # necessary signal fields
    dimensions = models.JSONField()  # group-by dimensions a release may use
    measures = models.JSONField()
    value_min = models.BigIntegerField(null=True, blank=True)
    value_max = models.BigIntegerField(null=True, blank=True)
    value_meaning = models.JSONField(default=dict, blank=True)
    retention_days = models.PositiveIntegerField()
    recipient_sectors = models.JSONField()  # category prefixes of manufacturers that may receive aggregates
    max_epsilon_per_release = models.DecimalField(max_digits=10, decimal_places=4)
    period_epsilon_cap = models.DecimalField(max_digits=10, decimal_places=4)
    consumer_epsilon_cap = models.DecimalField(max_digits=10, decimal_places=4)
    max_cells_per_consumer = models.PositiveIntegerField()
    max_signals_per_cell = models.PositiveIntegerField()
    impact_assessment = models.TextField(blank=True)
    source = models.JSONField()  # the published document, as submitted
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.CharField(max_length=64, blank=True)  # pseudonymous actor id
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="purpose_unique_version"),
            models.UniqueConstraint(fields=["code"], condition=Q(status="approved"), name="purpose_one_approved_version"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version} ({self.status})"


# The lawful bases a purpose may name (consent.purposes validates against it; receipts cite it).
LAWFUL_BASES = {"consent": "PIPL Art. 13(1)(1): the individual's consent; GDPR Art. 6(1)(a)"}


class ConsentEvent(models.Model):
    """Append-only. The current state is the fold of these, kept in ConsentState.

    ``expire`` is written by the service, not the person: the purpose version they
    consented to was retired, or replaced by a version that needs new consent; ``reason``
    says which (receipts carry it as ``ended_because``)."""

    GRANT, WITHDRAW, EXPIRE = "grant", "withdraw", "expire"
    ACTIONS = [(GRANT, "grant"), (WITHDRAW, "withdraw"), (EXPIRE, "expire")]
    PURPOSE_RETIRED, PURPOSE_SUPERSEDED = "purpose_retired", "purpose_superseded"

    receipt_id = models.UUIDField(unique=True)
    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="consent_events")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="consent_events")
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8, choices=ACTIONS)
    channel = models.CharField(max_length=16)  # "api" or "portal"
    language = models.CharField(max_length=8)
    notice_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    supersedes = models.UUIDField(null=True, blank=True)
    reason = models.CharField(max_length=32, blank=True, default="")  # why an ``expire`` happened
    receipt = models.JSONField()  # the signed envelope: payload, signature, key_id, alg

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["consumer", "id"])]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError("consent events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("consent events are append-only")


class ConsentStateQuerySet(models.QuerySet):
    """The one owner of "is this consent active?".

    Active means granted for the purpose's current version while that version is approved:
    a grant given for an older version stops counting the moment a new one is approved.
    ``active_sql`` is the same rule for the raw SQL of the intake gate and the release
    statement (tests/consent/test_active_rule.py checks they agree).
    """

    def granted(self) -> "ConsentStateQuerySet":
        return self.filter(granted=True)

    def active(self, *, purpose: "Purpose") -> "ConsentStateQuerySet":
        if purpose.status != Purpose.APPROVED:
            return self.none()
        return self.granted().filter(purpose_code=purpose.code, version=purpose.version)

    @staticmethod
    def active_sql(alias: str) -> str:
        """WHERE fragment over state row ``alias``; its two parameters are the purpose code
        and the current approved version, in that order."""
        return f"{alias}.granted AND {alias}.purpose_code = %s AND {alias}.version = %s"

    @staticmethod
    def granted_sql(alias: str) -> str:
        return f"{alias}.granted"


class ConsentState(models.Model):
    """The fold of ConsentEvent per (consumer, purpose code, platform), for fast checks."""

    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="consent_states")
    purpose_code = models.SlugField(max_length=64)
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    granted = models.BooleanField()
    last_event = models.OneToOneField(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    objects = ConsentStateQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "purpose_code", "platform"], name="consent_state_unique"),
        ]
        indexes = [models.Index(fields=["purpose_code", "platform", "granted"])]
