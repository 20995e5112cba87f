from __future__ import annotations

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.api.queryparams import PAGINATION, query_parameters
from clearinghouse.api.schema import error_response
from clearinghouse.intake import selectors, services


class SignalIn(serializers.Serializer):
    event_id = serializers.CharField(max_length=128, help_text="Your own id of the event; unique per platform, resubmission is idempotent")
    subject_ref = serializers.CharField(max_length=256, help_text="Your reference of the person, as linked with POST /platform/links")
    purpose = serializers.CharField(help_text="Code of an approved purpose the person consented to on your platform")
    category = serializers.CharField(help_text="Taxonomy category path, e.g. furniture/office-chair")
    attribute = serializers.CharField(
        required=False, help_text="Attribute of that category, e.g. lumbar-support (required when the purpose collects it)"
    )
    signal = serializers.ChoiceField(choices=["view", "wishlist", "cart", "purchase", "rating", "survey"])
    value = serializers.IntegerField(required=False, help_text="Within the purpose's value bounds, only if the purpose collects it")
    age_band = serializers.CharField(required=False)
    region = serializers.CharField(required=False, help_text="ISO 3166-2:CN code, e.g. CN-GD")
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO 8601 with time zone (required when the purpose collects it)")


class BatchIn(serializers.Serializer):
    signals = SignalIn(many=True, help_text="At most 10,000 items (413 above)")


class RejectedOut(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField()
    code = serializers.ChoiceField(choices=["unknown_purpose", "not_necessary", "invalid_value", "unknown_subject", "consent_required"])
    message = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The field at fault (not_necessary, invalid_value)")


class BatchOut(serializers.Serializer):
    batch = serializers.UUIDField(source="public_id")
    received_at = serializers.DateTimeField()
    items = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected_counts = serializers.DictField(child=serializers.IntegerField())


class BatchDetailOut(BatchOut):
    rejected = RejectedOut(many=True)


class SubmitOut(serializers.Serializer):
    batch = serializers.UUIDField()
    received_at = serializers.DateTimeField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectedOut(many=True)


class PlatformSignalsView(APIView):
    # Declared for the schema only: request.data is never touched. The body is read and
    # parsed by the service (size checked first, then orjson), because DRF's parser and
    # serializers cost more than the whole intake for 10,000 items.
    parser_classes = [JSONParser]
    # The service refuses a body over CH_SIGNAL_BATCH_MAX_BYTES itself, and audits it.
    checks_body_size = True

    @extend_schema(
        request=BatchIn,
        responses={
            200: SubmitOut,
            413: error_response(batch_too_large="over CH_SIGNAL_BATCH_MAX_BYTES (16 MB) or CH_SIGNAL_BATCH_MAX items; split it"),
        },
        examples=[
            OpenApiExample(
                "two signals",
                value={
                    "signals": [
                        {
                            "event_id": "mm-evt-0001",
                            "subject_ref": "mm-user-1001",
                            "purpose": "c2m-product-design",
                            "category": "furniture/office-chair",
                            "attribute": "lumbar-support",
                            "signal": "wishlist",
                            "age_band": "25-34",
                            "region": "CN-GD",
                        },
                        {
                            "event_id": "mm-evt-0002",
                            "subject_ref": "mm-user-2002",
                            "purpose": "c2m-product-design",
                            "category": "furniture/office-chair",
                            "attribute": "footrest",
                            "signal": "view",
                        },
                    ]
                },
                request_only=True,
            ),
            OpenApiExample(
                "one accepted, one rejected",
                value={
                    "batch": "3e8f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
                    "received_at": "2026-12-06T08:00:00Z",
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected": [
                        {
                            "index": 1,
                            "event_id": "mm-evt-0002",
                            "code": "consent_required",
                            "message": "The person has not consented to this purpose on your platform.",
                        }
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        """Deliver preference signals (up to 10,000 per batch)

        Each item is checked on its own: signals of people without active consent for the
        purpose on your platform, or carrying fields the purpose does not need, are rejected
        with a code and the item's index; the rest are stored. Resending an `event_id` is
        idempotent (counted as a duplicate). The batch is audited and can be read back.
        """
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type and content_type.split(";")[0].strip().lower() != "application/json":
            raise exceptions.UnsupportedMediaType(content_type)
        raw = request._request
        try:
            body_size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            body_size = 0
        outcome = services.signals_submit(
            platform=request.user.party, actor=request_actor(request), body_size=body_size, read_body=raw.read
        )
        return HttpResponse(orjson.dumps(outcome.as_dict()), content_type="application/json")


class PlatformBatchesView(APIView):
    @extend_schema(
        **paginated_schema(BatchOut, name="PaginatedBatchOut", operation_id="api_v1_platform_batches_list"),
        examples=[
            OpenApiExample(
                "one page",
                value={
                    "count": 1,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "batch": "3e8f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
                            "received_at": "2026-12-06T08:00:00Z",
                            "items": 2,
                            "accepted": 1,
                            "duplicates": 0,
                            "rejected_counts": {"consent_required": 1},
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    @query_parameters(*PAGINATION)
    def get(self, request):
        """List my signal batches, newest first

        What each batch delivered: items, accepted, duplicates and rejections by code.
        Read one batch for the rejected items themselves.
        """
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.platform_batches_list(platform=request.user.party), request, view=self)
        return paginator.get_paginated_response(BatchOut(page, many=True).data)


class PlatformBatchDetailView(APIView):
    @extend_schema(
        responses={200: BatchDetailOut},
        examples=[
            OpenApiExample(
                "batch",
                value={
                    "batch": "3e8f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
                    "received_at": "2026-12-06T08:00:00Z",
                    "items": 2,
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected_counts": {"consent_required": 1},
                    "rejected": [{"index": 1, "event_id": "mm-evt-0002", "code": "consent_required", "message": "…"}],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, batch: str):
        """Read one of my signal batches with its rejected items

        Another platform's batch answers 404 like a missing one.
        """
        found = services.intake_batch_get(platform=request.user.party, batch_id=batch, actor=request_actor(request))
        return Response(BatchDetailOut(found).data)
