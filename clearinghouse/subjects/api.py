"""GET /api/v1/me/export, DELETE /api/v1/me and the erasure certificates."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiExample, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts import lockout as account_lockout
from clearinghouse.accounts.api import current_consumer
from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.api.schema import error_response
from clearinghouse.intake import selectors as intake_selectors
from clearinghouse.subjects import services


def _language() -> str:
    return "en" if (get_language() or "").startswith("en") else "zh-hans"


_CERTIFICATE_EXAMPLE: dict[str, Any] = {
    "payload": {
        "certificate_id": "0b7e2c4d-5f61-4a8b-9c0d-1e2f3a4b5c6d",
        "schema_version": "clearinghouse-erasure-certificate/1",
        "jurisdiction": "CN",
        "controller": {"name": "Clearinghouse (demo operator)", "contact": "privacy@clearinghouse.example"},
        "issued_at": "2026-12-06T08:00:01+00:00",
        "language": "en",
        "subject": {"pseudonym": "2f5d7c1a-9e3b-4a8d-b6c0-1e2f3a4b5c6d"},
        "reason": {"code": "consent_withdrawn", "text": "you withdrew your consent"},
        "consent_receipt_id": "7f0c4b1e-1c1a-4a57-9a4e-2f1f3c9a0b11",
        "requested_at": "2026-12-06T08:00:00+00:00",
        "completed_at": "2026-12-06T08:00:01+00:00",
        "deleted": [{"platform": "maomall", "purpose": "c2m-product-design", "signals": 12}],
        "total_signals": 12,
        "statement": "The clearinghouse deleted the preference signals counted here, …",
        "what_remains": "What stays: the consent ledger and the audit log, …",
    },
    "signature": "base64 Ed25519 signature over the canonical JSON of payload",
    "key_id": "ed25519:3f1c9a0b2d4e6f70",
    "alg": "Ed25519",
}


class ErasedOut(serializers.Serializer):
    subject = serializers.UUIDField(help_text="Your pseudonymous id; consent events and audit records keep only this")
    erased_at = serializers.DateTimeField()
    signals = serializers.IntegerField()
    links = serializers.IntegerField()
    link_codes = serializers.IntegerField()
    consents_withdrawn = serializers.IntegerField()
    credentials = serializers.IntegerField()
    certificate = serializers.DictField(help_text="The signed erasure certificate: keep it, nothing can fetch it once the account is gone")


class EraseIn(serializers.Serializer):
    password = serializers.CharField(max_length=256, trim_whitespace=False, help_text="Your password, asked again like the portal does")


class MeView(APIView):
    @extend_schema(
        request=EraseIn,
        responses={
            200: ErasedOut,
            400: error_response(wrong_password="that is not your password (counts towards the lockout)"),
            429: error_response(login_locked="too many wrong passwords; wait `details.retry_after_seconds`"),
        },
        examples=[
            OpenApiExample("erase", value={"password": "a-long-passphrase-1"}, request_only=True),
            OpenApiExample(
                "erased",
                value={
                    "subject": "2f5d7c1a-9e3b-4a8d-b6c0-1e2f3a4b5c6d",
                    "erased_at": "2026-12-06T08:00:00Z",
                    "signals": 42,
                    "links": 1,
                    "link_codes": 0,
                    "consents_withdrawn": 2,
                    "credentials": 1,
                    "certificate": _CERTIFICATE_EXAMPLE
                    | {
                        "payload": _CERTIFICATE_EXAMPLE["payload"]
                        | {"reason": {"code": "account_erased", "text": "you erased your account"}}
                    },
                },
                response_only=True,
            ),
        ],
    )
    def delete(self, request):
        """Erase my data and my account

        At once; the body carries my password (a token alone is not enough). Consent events
        and audit records keep only the pseudonymous id. Wrong passwords count towards the
        sign-in lockout (429 with Retry-After once locked).
        """
        data = EraseIn(data=request.data)
        data.is_valid(raise_exception=True)
        consumer = current_consumer(request)
        account_lockout.password_confirm(user=request.user, password=data.validated_data["password"], address=client_address(request))
        summary = services.consumer_erase(consumer=consumer, actor=request_actor(request), channel="api", language=_language())
        return Response(summary)


class MeExportView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "export",
                value={
                    "format": "clearinghouse-export/1",
                    "generated_at": "2026-12-06T08:00:00+00:00",
                    "account": {"pseudonym": "2f5d7c1a-9e3b-4a8d-b6c0-1e2f3a4b5c6d", "username": "mei-1990", "…": "…"},
                    "consents": ["…"],
                    "consent_history": ["…"],
                    "links": [{"platform": "maomall", "platform_name": "Maomall", "linked_at": "2026-12-01T09:30:00+00:00"}],
                    "…": "the signals platforms delivered and the releases that counted me",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """Download everything held about me (PIPL Art. 45)

        One JSON document: my account, consents and receipts, platform links, the signals
        platforms delivered, and the releases that counted me. Sent as an attachment and
        audited.
        """
        export = services.consumer_export_issue(consumer=current_consumer(request), actor=request_actor(request), channel="api")
        filename = f"clearinghouse-export-{export['generated_at'][:10]}.json"
        return Response(export, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class CertificateOut(serializers.Serializer):
    payload = serializers.DictField()
    signature = serializers.CharField()
    key_id = serializers.CharField()
    alg = serializers.CharField()


class MeCertificatesView(APIView):
    @extend_schema(
        responses={200: CertificateOut(many=True)},
        examples=[OpenApiExample("certificates", value=[_CERTIFICATE_EXAMPLE], response_only=True)],
    )
    def get(self, request):
        """My signed erasure certificates

        Newest first: what was deleted (signals per platform and purpose), when and why
        (reason.code: consent_withdrawn, purpose_retired, purpose_superseded,
        account_erased, or retention_ended: one for each run of the daily retention purge
        that deleted something of mine), naming me only by my pseudonymous id. Verify each like a consent receipt (Ed25519
        over the canonical JSON of payload, the receipts key at /api/v1/keys;
        tools/verify_receipt.py does it offline).
        """
        erasures = intake_selectors.consumer_certificates_list(consumer=current_consumer(request))
        return Response([erasure.certificate for erasure in erasures])


class MeCertificateDetailView(APIView):
    @extend_schema(
        responses={200: CertificateOut, 404: error_response(not_found="no certificate of mine has this id")},
        examples=[OpenApiExample("certificate", value=_CERTIFICATE_EXAMPLE, response_only=True)],
    )
    def get(self, request, certificate_id):
        """One of my signed erasure certificates

        The same signed document as in the list; another person's certificate answers 404,
        exactly like one that does not exist.
        """
        erasure = intake_selectors.consumer_certificate_get(consumer=current_consumer(request), certificate_id=certificate_id)
        return Response(erasure.certificate)
