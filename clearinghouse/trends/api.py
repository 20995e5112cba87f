from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.selectors import release_visible
from clearinghouse.trends import selectors
from clearinghouse.trends.services import trend_request


class TrendIn(serializers.Serializer):
    """Documentation only: the service validates the body and names the field at fault."""

    purpose = serializers.CharField(help_text="Purpose code from the catalogue (one that collects occurred_at)")
    measure = serializers.ChoiceField(choices=["consumers", "signals"])
    filters = serializers.DictField(
        help_text="{since, until} (required, YYYY-MM-DD, widened to whole ISO weeks), optional category, signals"
    )
    by = serializers.CharField(required=False, help_text="Optional: one more dimension, one series per value (e.g. attribute)")
    epsilon = serializers.CharField(required=False, help_text='ε to spend, e.g. "0.5" (give this or accuracy)')
    accuracy = serializers.DictField(
        required=False,
        help_text='{"half_width": H, "of": "weekly" | "running_total"}: spend the least that keeps every weekly value (or running total) '
        "within ±H with probability 0.95",
    )
    forecast_weeks = serializers.IntegerField(required=False, help_text="0 to 26 weeks to forecast (default 0)")


class TrendOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    purpose = serializers.CharField(source="purpose_code")
    measure = serializers.CharField()
    by = serializers.SerializerMethodField()
    filters = serializers.DictField()
    weeks = serializers.SerializerMethodField()
    forecast_weeks = serializers.SerializerMethodField()
    accuracy = serializers.SerializerMethodField()
    epsilon = serializers.SerializerMethodField()
    rho = serializers.SerializerMethodField()
    period = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()

    def get_by(self, trend) -> str | None:
        return trend.spec.get("by")

    def get_weeks(self, trend) -> int:
        return trend.spec.get("weeks", 0)

    def get_forecast_weeks(self, trend) -> int:
        return trend.spec.get("forecast_weeks", 0)

    def get_accuracy(self, trend) -> dict | None:
        return trend.spec.get("accuracy")

    def get_epsilon(self, trend) -> str:
        return epsilon_text(trend.epsilon)

    def get_rho(self, trend) -> str:
        return str(trend.rho)

    def get_error(self, trend) -> dict | None:
        if not trend.error_code:
            return None
        return {"code": trend.error_code, "message": trend.error_message, "refunded": trend.refunded_at is not None}


class TrendDetailOut(TrendOut):
    result = serializers.JSONField(
        allow_null=True,
        help_text="Signed envelope {payload, signature, key_id, alg}, verified like a release's with the `releases` key from /api/v1/keys",
    )


class TrendsView(APIView):
    @extend_schema(
        request=TrendIn,
        responses={
            202: TrendOut,
            200: TrendDetailOut,
            400: OpenApiResponse(description="invalid body, or accuracy_unreachable"),
            409: OpenApiResponse(description="budget_exhausted"),
        },
    )
    def post(self, request):
        body = None if request.stream is None else request.data
        trend, created = trend_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        if created:
            return Response(TrendOut(release_visible(trend)).data, status=status.HTTP_202_ACCEPTED)
        # A repeat of a request already made this period: the stored trend, nothing spent.
        return Response(TrendDetailOut(release_visible(trend)).data | {"repeat": True}, status=status.HTTP_200_OK)

    @extend_schema(**paginated_schema(TrendOut, name="PaginatedTrendOut", operation_id="api_v1_trends_list"))
    def get(self, request):
        queryset = selectors.trends_for(manufacturer=request.user.party)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(TrendOut([release_visible(t) for t in page], many=True).data)


class TrendDetailView(APIView):
    @extend_schema(responses={200: TrendDetailOut})
    def get(self, request, trend_id):
        return Response(TrendDetailOut(release_visible(selectors.trend_get(manufacturer=request.user.party, trend_id=trend_id))).data)


class TrendPlanView(APIView):
    @extend_schema(
        request=TrendIn,
        responses={
            200: OpenApiResponse(description="weeks, series, mechanism, half-widths, cost and budgets after it"),
            400: OpenApiResponse(description="invalid body, or accuracy_unreachable"),
        },
        description="The plan of a trend request, free and data-independent: nothing is spent, reserved, queued or recorded.",
    )
    def post(self, request):
        body = None if request.stream is None else request.data
        return Response(selectors.trend_plan_preview(manufacturer=request.user.party, body=body))
