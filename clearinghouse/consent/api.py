from __future__ import annotations

from django.urls import reverse
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts.api import current_consumer
from clearinghouse.accounts.pseudonyms import subject_pseudonym
from clearinghouse.accounts.selectors import platform_link_for_subject
from clearinghouse.api.actors import request_actor
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
    fields = serializers.ListField(child=serializers.CharField())
    retention_days = serializers.IntegerField()
    recipient_sectors = serializers.ListField(child=serializers.CharField())
    value_meaning = serializers.DictField(child=serializers.CharField())
    consumer_epsilon_cap = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=True)


class PurposeWithStateOut(PurposeOut):
    platforms = PlatformStateOut(many=True)


class MePurposesView(APIView):
    @extend_schema(responses={200: PurposeWithStateOut(many=True)})
    def get(self, request):
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
    @extend_schema(responses={200: ConsentStateOut(many=True)})
    def get(self, request):
        states = selectors.consent_states_list(consumer=current_consumer(request))
        return Response(ConsentStateOut(states, many=True).data)

    @extend_schema(request=ConsentIn, responses={201: ConsentEventOut})
    def post(self, request):
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
    @extend_schema(responses={200: ConsentEventOut(many=True)})
    def get(self, request):
        events = selectors.consent_events_list(consumer=current_consumer(request))
        return Response(ConsentEventOut(events, many=True).data)


class SubjectConsentOut(serializers.Serializer):
    purpose = serializers.CharField()
    active = serializers.BooleanField()
    version = serializers.IntegerField(help_text="The purpose's current version")


class PlatformSubjectConsentView(APIView):
    @extend_schema(parameters=[OpenApiParameter("purpose", str, required=True)], responses={200: SubjectConsentOut})
    def get(self, request, subject_ref: str):
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
