from __future__ import annotations

from django.urls import reverse
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts.api import current_consumer
from clearinghouse.accounts.pseudonyms import subject_pseudonym
from clearinghouse.accounts.selectors import platform_link_for_subject
from clearinghouse.api.actors import request_actor
from clearinghouse.api.queryparams import query_parameters
from clearinghouse.api.schema import error_response
from clearinghouse.consent import selectors
from clearinghouse.consent.models import ConsentEvent
from clearinghouse.consent.purposes import purpose_current
from clearinghouse.consent.services import ConsentRequest, consent_change
from clearinghouse.core.errors import Invalid, NotFound


class PlatformStateOut(serializers.Serializer):
    platform = serializers.CharField(source="platform.slug")
    platform_name = serializers.CharField(source="platform.name")
    active = serializers.BooleanField()
    needs_renewal = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)


class PurposeOut(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.DictField(child=serializers.CharField())
    notice = serializers.DictField(child=serializers.CharField())
    notice_digests = serializers.DictField(
        child=serializers.CharField(), help_text="SHA-256 of each notice text; send back the one you showed"
    )
    legitimate_interest = serializers.DictField(child=serializers.CharField())
    lawful_basis = serializers.CharField()
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.fields; the stubs cannot tell.
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    retention_days = serializers.IntegerField()
    recipient_sectors = serializers.ListField(child=serializers.CharField())
    value_meaning = serializers.DictField(child=serializers.CharField())
    consumer_epsilon_cap = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=True)


class PurposeWithStateOut(PurposeOut):
    platforms = PlatformStateOut(many=True)


PURPOSE_EXAMPLE = {
    "code": "c2m-product-design",
    "version": 1,
    "title": {"zh-hans": "帮助厂家设计你想要的产品", "en": "Help manufacturers design products you want"},
    "notice": {"zh-hans": "……", "en": "We use what you view, wish for and buy in furniture and food …"},
    "notice_digests": {"zh-hans": "5e88…64 hex…", "en": "9b74…64 hex…"},
    "legitimate_interest": {"zh-hans": "……", "en": "Makers learn which features people want before they build."},
    "lawful_basis": "consent",
    "fields": ["category", "attribute", "signal", "age_band", "region"],
    "retention_days": 365,
    "recipient_sectors": ["furniture", "food"],
    "value_meaning": {},
    "consumer_epsilon_cap": "3.0000",
}
RECEIPT_EXAMPLE = {
    "receipt_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    "purpose": "c2m-product-design",
    "version": 1,
    "platform": "maomall",
    "action": "grant",
    "channel": "api",
    "created_at": "2026-12-06T08:00:00Z",
    "supersedes": None,
    "audit_proof": "/api/v1/me/receipts/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d/proof",
    "receipt": {
        "payload": {"receipt_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "state": "granted", "purpose": "c2m-product-design", "…": "…"},
        "signature": "V2h5…base64…",
        "key_id": "ed25519:8d4c2b1a0f9e7d6c",
        "alg": "Ed25519",
    },
}


class MePurposesView(APIView):
    @extend_schema(
        responses={200: PurposeWithStateOut(many=True)},
        examples=[
            OpenApiExample(
                "purposes",
                value=[
                    PURPOSE_EXAMPLE
                    | {
                        "platforms": [
                            {
                                "platform": "maomall",
                                "platform_name": "Maomall",
                                "active": True,
                                "needs_renewal": False,
                                "updated_at": "2026-12-06T08:00:00Z",
                            }
                        ]
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """The purposes I can consent to, and my consent on each platform

        Each approved purpose with its notice in plain words (and the SHA-256 of each
        language's notice, to send back when granting), what it collects, how long it keeps
        it, who may receive aggregates, and the ε cap it may spend on me; then, per linked
        platform, whether my consent is active or needs renewing after a new version.
        """
        overview = selectors.consent_overview(consumer=current_consumer(request))
        body = [PurposeOut(item["purpose"]).data | {"platforms": PlatformStateOut(item["platforms"], many=True).data} for item in overview]
        return Response(body)


class ConsentIn(serializers.Serializer):
    purpose = serializers.CharField(max_length=64)
    platform = serializers.CharField(max_length=64)
    action = serializers.ChoiceField(choices=[ConsentEvent.GRANT, ConsentEvent.WITHDRAW])
    version = serializers.IntegerField(required=False, min_value=1)
    notice_digest = serializers.RegexField(r"^[0-9a-f]{64}$", required=False, help_text="SHA-256 (hex) of the notice text shown")
    language = serializers.ChoiceField(choices=["zh-hans", "en"], required=False)

    def validate(self, attrs):
        if attrs["action"] == ConsentEvent.GRANT:
            for field in ("version", "notice_digest"):
                if field not in attrs:
                    raise serializers.ValidationError({field: "required to grant consent"})
        return attrs


class ConsentStateOut(serializers.Serializer):
    purpose = serializers.CharField(source="purpose_code")
    version = serializers.IntegerField()
    platform = serializers.CharField(source="platform.slug")
    granted = serializers.BooleanField()
    updated_at = serializers.DateTimeField()
    receipt_id = serializers.UUIDField(source="last_event.receipt_id")
    # Set when the service ended the consent: "purpose_retired" or "purpose_superseded".
    ended_because = serializers.SerializerMethodField()

    def get_ended_because(self, state) -> str | None:
        return selectors.consent_ended_because(state) or None


class ConsentEventOut(serializers.Serializer):
    receipt_id = serializers.UUIDField()
    purpose = serializers.CharField(source="purpose.code")
    version = serializers.IntegerField(source="purpose.version")
    platform = serializers.CharField(source="platform.slug")
    action = serializers.CharField()
    channel = serializers.CharField()
    created_at = serializers.DateTimeField()
    supersedes = serializers.UUIDField(allow_null=True)
    receipt = serializers.JSONField(
        help_text="Signed receipt: verify `signature` over the canonical JSON of `payload` with key `key_id` from /api/v1/keys; "
        "`payload.audit_event.leaf_hash` names the audit event that records it"
    )
    audit_proof = serializers.SerializerMethodField(
        help_text="Where to fetch the inclusion proof of the audit event that records this receipt "
        "(409 not_yet_witnessed with retry_after until a witnessed checkpoint covers it)"
    )

    def get_audit_proof(self, event) -> str:
        return reverse("api:me-receipt-proof", kwargs={"receipt_id": event.receipt_id})


class MeConsentsView(APIView):
    @extend_schema(
        responses={200: ConsentStateOut(many=True)},
        examples=[
            OpenApiExample(
                "states",
                value=[
                    {
                        "purpose": "c2m-product-design",
                        "version": 1,
                        "platform": "maomall",
                        "granted": True,
                        "updated_at": "2026-12-06T08:00:00Z",
                        "receipt_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                        "ended_because": None,
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """My current consent, per purpose and platform

        One row per purpose and platform I ever decided on, with the receipt of the last
        decision; `ended_because` says when the service ended it (the purpose was retired
        or superseded by a new version).
        """
        states = selectors.consent_states_list(consumer=current_consumer(request))
        return Response(ConsentStateOut(states, many=True).data)

    @extend_schema(
        request=ConsentIn,
        responses={
            201: ConsentEventOut,
            400: error_response(
                invalid="a field is missing or wrong (`details.fields`)",
                unknown_purpose="no purpose with that code",
                unknown_platform="no platform with that slug",
            ),
            409: error_response(
                notice_changed="the version or notice digest is not the current one: show the current notice and ask again",
                purpose_not_approved="the purpose is not approved, so it cannot accept consent",
            ),
        },
        examples=[
            OpenApiExample(
                "grant",
                value={
                    "purpose": "c2m-product-design",
                    "version": 1,
                    "platform": "maomall",
                    "action": "grant",
                    "notice_digest": "9b74c9897bac770ffc029102a200c5de7c6e0f7a0a6b1b0f9a1c0e2d3f4a5b6c",
                    "language": "en",
                },
                request_only=True,
            ),
            OpenApiExample(
                "withdraw", value={"purpose": "c2m-product-design", "platform": "maomall", "action": "withdraw"}, request_only=True
            ),
            OpenApiExample("receipt", value=RECEIPT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request):
        """Grant or withdraw consent for one purpose on one platform

        Granting names the version and the digest of the notice I was shown, so consent is
        given only to what I read (a stale one is refused with 409 `notice_changed`).
        Withdrawing is one action and always accepted; my signals for that purpose from
        that platform are erased. The answer carries the signed receipt: verify it offline
        with the `receipts` key from /api/v1/keys.
        """
        data = ConsentIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        event = consent_change(
            consumer=current_consumer(request),
            request=ConsentRequest(
                purpose_code=values["purpose"],
                platform_slug=values["platform"],
                action=values["action"],
                version=values.get("version"),
                notice_digest=values.get("notice_digest"),
                language=values.get("language") or get_language(),
            ),
            channel="api",
            actor=request_actor(request),
        )
        return Response(ConsentEventOut(event).data, status=status.HTTP_201_CREATED)


class MeConsentHistoryView(APIView):
    @extend_schema(
        responses={200: ConsentEventOut(many=True)}, examples=[OpenApiExample("history", value=[RECEIPT_EXAMPLE], response_only=True)]
    )
    def get(self, request):
        """Every consent decision I made, newest first, with its receipt

        The ledger of my grants and withdrawals (and those the service made for me when a
        purpose changed), each with its signed receipt and the receipt it supersedes.
        """
        events = selectors.consent_events_list(consumer=current_consumer(request))
        return Response(ConsentEventOut(events, many=True).data)


class SubjectConsentOut(serializers.Serializer):
    purpose = serializers.CharField()
    active = serializers.BooleanField()
    version = serializers.IntegerField(help_text="The purpose's current version")


class PlatformSubjectConsentView(APIView):
    @extend_schema(
        responses={
            200: SubjectConsentOut,
            400: error_response(invalid="the purpose parameter is missing", unknown_purpose="no approved purpose with that code"),
        },
        examples=[OpenApiExample("active", value={"purpose": "c2m-product-design", "active": True, "version": 1}, response_only=True)],
    )
    @query_parameters(OpenApiParameter("purpose", OpenApiTypes.STR, required=True, description="the purpose code to check"))
    def get(self, request, subject_ref: str):
        """Does this person consent to this purpose on my platform now?

        `subject_ref` is your reference for the person, as linked with `POST
        /platform/links`. An unknown or unlinked reference answers 404. Check before you
        send signals: signals without active consent are rejected item by item.
        """
        purpose_code = request.query_params.get("purpose")
        if not purpose_code:
            raise Invalid("purpose: query parameter required", details={"field": "purpose"})
        platform = request.user.party
        link = platform_link_for_subject(
            platform=platform, subject_pseudonym=subject_pseudonym(platform_id=platform.id, subject_ref=subject_ref)
        )
        if link is None:
            raise NotFound()
        purpose = purpose_current(code=purpose_code)
        if purpose is None:
            raise Invalid(f"purpose: no approved purpose {purpose_code!r}", code="unknown_purpose", details={"field": "purpose"})
        active = selectors.consent_is_active(consumer=link.consumer, purpose=purpose, platform=platform)
        return Response({"purpose": purpose.code, "active": active, "version": purpose.version})
