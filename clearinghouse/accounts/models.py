import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Consumer(models.Model):
    """A person whose preference signals flow through the clearinghouse.

    ``pseudonym`` is the only identifier that leaves this table: consent events, signals
    and audit rows point here, and erasure detaches the Django user (username, password)
    while the pseudonymous row keeps the consent ledger and the audit log intact.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="consumer")
    pseudonym = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    age_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"consumer {self.pseudonym}"


class Platform(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Manufacturer(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Category path prefixes (e.g. "furniture", "food/bird-nest") this manufacturer may query.
    sectors = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Credential(models.Model):
    """A bearer secret. Only its SHA-256 is stored; the secret is shown once."""

    KIND_CONSUMER = "consumer"
    KIND_PLATFORM = "platform"
    KIND_MANUFACTURER = "manufacturer"
    KINDS = [(KIND_CONSUMER, "consumer token"), (KIND_PLATFORM, "platform key"), (KIND_MANUFACTURER, "manufacturer key")]

    kind = models.CharField(max_length=16, choices=KINDS)
    key_id = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.CASCADE)
    manufacturer = models.ForeignKey(Manufacturer, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="credential_has_exactly_one_owner",
                condition=(
                    Q(kind="consumer", user__isnull=False, platform__isnull=True, manufacturer__isnull=True)
                    | Q(kind="platform", user__isnull=True, platform__isnull=False, manufacturer__isnull=True)
                    | Q(kind="manufacturer", user__isnull=True, platform__isnull=True, manufacturer__isnull=False)
                ),
            )
        ]


class LinkCode(models.Model):
    """A one-time code a consumer hands to one platform to link their account there."""

    code_hash = models.CharField(max_length=64, unique=True)
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="link_codes")
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class PlatformLink(models.Model):
    """A consumer's account at one platform, known only by a per-platform HMAC pseudonym."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="links")
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="links")
    subject_pseudonym = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "subject_pseudonym"], name="link_unique_subject_per_platform"),
            models.UniqueConstraint(fields=["platform", "consumer"], name="link_unique_consumer_per_platform"),
        ]


class RecoveryCode(models.Model):
    """One of a person's one-time recovery codes. Only a keyed hash is stored (HMAC with a
    key derived from the master key, so a database dump alone cannot test guesses); each
    code works once, and issuing a new set deletes the old one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique_per_user")]


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) a person registered to log in without a password."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    credential_id = models.BinaryField(max_length=1024, unique=True)
    public_key = models.BinaryField(max_length=4096)
    sign_count = models.BigIntegerField(default=0)
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)


class ManufacturerStaff(models.Model):
    """A person who works for one manufacturer and uses the web workbench with a password.

    The manufacturer's API key stays for machines; a staff member's session never reaches
    the JSON API (they are no API actor), only the workbench's pages, which act for
    ``manufacturer`` and are audited with the staff member's user id."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manufacturer_staff")
    manufacturer = models.ForeignKey(Manufacturer, on_delete=models.CASCADE, related_name="staff")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"staff {self.user_id} of {self.manufacturer_id}"
