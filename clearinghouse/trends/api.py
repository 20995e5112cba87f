from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import paginated_schema
from clearinghouse.api.queryparams import LANG, PAGINATION, query_parameters, request_language
from clearinghouse.api.schema import error_response
from clearinghouse.releases.api import (
    JOB_FILTERS,
    RESULT_FORMAT,
    ResultDownloads,
    job_requested_response,
    jobs_page_response,
    page_example,
    result_responses,
)
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.selectors import release_visible
from clearinghouse.trends import selectors, tables
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


TREND_REQUEST = OpenApiExample(
    "weekly flower buyers",
    summary="Consumers interested in flowers, week by week through Q1, with a four-week forecast",
    value={
        "purpose": "c2m-demand-forecast",
        "measure": "consumers",
        "filters": {"category": "flowers", "since": "2026-01-05", "until": "2026-03-29"},
        "epsilon": "0.5",
        "forecast_weeks": 4,
    },
    request_only=True,
)
TREND_BY_ACCURACY = OpenApiExample(
    "accuracy first, one series per attribute",
    summary="The least ε that keeps every weekly value within ±30",
    value={
        "purpose": "c2m-demand-forecast",
        "measure": "consumers",
        "by": "attribute",
        "filters": {"category": "flowers", "since": "2026-01-05", "until": "2026-03-29"},
        "accuracy": {"half_width": 30, "of": "weekly"},
    },
    request_only=True,
)
TREND_QUEUED = {
    "id": "9d3b1f70-2e6a-4b8c-b0f4-7a1c6e5d2f98",
    "status": "queued",
    "purpose": "c2m-demand-forecast",
    "measure": "consumers",
    "by": None,
    "filters": {"category": "flowers", "since": "2026-01-05", "until": "2026-03-29"},
    "weeks": 12,
    "forecast_weeks": 4,
    "accuracy": None,
    "epsilon": "0.5000",
    "rho": "0.00381862",
    "period": "2026-12",
    "created_at": "2026-12-06T08:00:00Z",
    "completed_at": None,
    "error": None,
}
TREND_DONE = TREND_QUEUED | {
    "status": "done",
    "completed_at": "2026-12-06T08:00:06Z",
    "result": {
        "payload": {
            "schema": "clearinghouse-trend/1",
            "kind": "trend",
            "measure": "consumers",
            "weeks": ["2026-W02", "2026-W03", "…"],
            "epsilon": "0.5000",
            "snapshot_at": "2026-12-06T08:00:01+00:00",
            "series": [
                {
                    "weeks": [
                        {
                            "week": "2026-W02",
                            "value": "130.2",
                            "half_width": "77.7",
                            "running_total": "130.2",
                            "running_total_half_width": "77.7",
                        }
                    ],
                    "forecast": {
                        "weeks": [
                            {"week": "2026-W14", "value": "151.0", "interval_80": ["128.3", "173.7"], "interval_95": ["116.2", "185.8"]}
                        ]
                    },
                }
            ],
            "…": "mechanism, cost, contribution bounds, accuracy, forecast method: see docs/trends.md",
        },
        "signature": "q8Zt…base64…Bw==",
        "key_id": "ed25519:3f9a0c2b7d1e4a55",
        "alg": "Ed25519",
    },
}
TREND_CSV = (
    "\ufeffweek,kind,value,half_width,lower,upper,running_total,running_total_half_width,lower_80,upper_80\r\n"
    "2026-W02,observed,130.2,77.7,52.5,207.9,130.2,77.7,,\r\n"
    "2026-W14,forecast,151.0,,116.2,185.8,,,128.3,173.7\r\n"
)
TREND_PLAN = {
    "purpose": "c2m-demand-forecast",
    "purpose_version": 1,
    "measure": "consumers",
    "by": None,
    "filters": {"category": "flowers", "since": "2026-01-05", "until": "2026-03-29"},
    "weeks": ["2026-W02", "2026-W03", "…", "2026-W13"],
    "series": [{}],
    "cells": 12,
    "forecast_weeks": 4,
    "mechanism": {"name": "continual_release_factorisation", "noise": "discrete_gaussian", "…": "strategy, scale, sensitivity"},
    "cost": {"rho": "0.00381862", "epsilon": "0.5000", "delta": "1e-07"},
    "accuracy": {
        "confidence": "0.95",
        "weekly_half_widths": ["77.7", "…"],
        "running_total_half_widths": ["77.7", "109.9", "…"],
        "max_weekly_half_width": "77.7",
        "max_running_total_half_width": "269.2",
    },
    "contribution_bounds": {
        "max_cells": 20,
        "max_signals_per_cell": 5,
        "cells_per_consumer": 12,
        "per_cell_max": 1,
        "max_weeks_per_person": 12,
    },
    "budget": {
        "period": "2026-12",
        "allocation": {"allocated": "10.0000", "spent": "0.0000", "remaining": "10.0000", "remaining_after": "9.5000"},
        "purpose": {"cap": "40.0000", "spent": "0.0000", "remaining": "40.0000", "remaining_after": "39.5000"},
        "affordable": True,
    },
}
TREND_ERRORS = error_response(
    invalid="a field of the body is wrong; `details.field` names it (e.g. `filters.since`)",
    too_many_weeks="the range is longer than a trend may cover",
    unknown_dimension="`by` names a dimension the taxonomy does not have",
    dimension_not_allowed="the purpose does not collect that dimension",
    accuracy_unreachable="no ε within the per-release limit gives that half-width",
    epsilon_too_large="more than the purpose's per-release maximum",
    unknown_purpose="no approved purpose with that code that this manufacturer may query",
)


class TrendsView(APIView):
    @extend_schema(
        request=TrendIn,
        responses={
            202: TrendOut,
            200: TrendDetailOut,
            400: TREND_ERRORS,
            409: error_response(budget_exhausted="the allocation or the purpose's cap for this month cannot pay for it"),
        },
        examples=[
            TREND_REQUEST,
            TREND_BY_ACCURACY,
            OpenApiExample("queued", value=TREND_QUEUED, response_only=True, status_codes=[202]),
            OpenApiExample("repeat", value=TREND_DONE | {"repeat": True}, response_only=True, status_codes=[200]),
        ],
    )
    def post(self, request):
        """Request a trend: a weekly series with a forecast (spends ε)

        Weekly counts over whole ISO weeks by continual release, with running totals and,
        if asked, a forecast with 80% and 95% intervals (post-processing, no extra ε). The
        answer is 202 with the queued trend; poll `GET /trends/{id}`. A repeat this month
        spends nothing (200, `"repeat": true`). Plan it first with `POST /trends/plan`.
        """
        body = None if request.stream is None else request.data
        trend, created = trend_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        return job_requested_response(trend, created, queued_out=TrendOut, detail_out=TrendDetailOut)

    @extend_schema(
        **paginated_schema(TrendOut, name="PaginatedTrendOut", operation_id="api_v1_trends_list"),
        examples=[OpenApiExample("one page", value=page_example(TREND_QUEUED), response_only=True)],
    )
    @query_parameters(*PAGINATION, *JOB_FILTERS)
    def get(self, request):
        """List my trends, newest first

        Without their results (read one with `GET /trends/{id}`); filter by `purpose` and
        budget `period`.
        """
        return jobs_page_response(self, request, selectors.trends_for(manufacturer=request.user.party), out=TrendOut)


class TrendDetailView(ResultDownloads, APIView):
    download_name = "trend"

    @extend_schema(
        responses=result_responses(TrendDetailOut, csv_example=TREND_CSV),
        examples=[OpenApiExample("done", value=TREND_DONE, response_only=True)],
    )
    @query_parameters(RESULT_FORMAT, LANG)
    def get(self, request, trend_id):
        """Read one trend, with its signed result once done

        `result` is the signed document, verified like a release's. `?format=csv` gives one
        row per series and week (`kind` observed) and per forecast week (`kind` forecast,
        `lower`/`upper` the 95% interval, `lower_80`/`upper_80` the 80% one);
        `?format=sig` the detached signature.
        """
        return Response(TrendDetailOut(release_visible(selectors.trend_get(manufacturer=request.user.party, trend_id=trend_id))).data)

    def csv_table(self, data, request):
        return tables.trend_table(document=data["result"]["payload"], language=request_language(request))


class TrendPlanView(APIView):
    @extend_schema(
        request=TrendIn,
        responses={200: OpenApiTypes.OBJECT, 400: TREND_ERRORS},
        examples=[TREND_REQUEST, TREND_BY_ACCURACY, OpenApiExample("plan", value=TREND_PLAN, response_only=True)],
    )
    def post(self, request):
        """Plan a trend (free)

        Weeks, series, mechanism, half-widths of the weekly values and running totals, the
        cost and the budgets after it, for the body `POST /trends` takes. Data-independent:
        nothing is spent, reserved, queued or recorded.
        """
        body = None if request.stream is None else request.data
        return Response(selectors.trend_plan_preview(manufacturer=request.user.party, body=body))
