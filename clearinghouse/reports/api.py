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
from clearinghouse.reports import selectors, tables
from clearinghouse.reports.services import report_request


class ReportIn(serializers.Serializer):
    """Documentation only: the service validates the body and names the field at fault."""

    purpose = serializers.CharField(help_text="Purpose code from the catalogue")
    measure = serializers.ChoiceField(choices=["consumers", "signals"])
    filters = serializers.DictField(required=False, help_text="{category, signals, since, until}")
    marginals = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='The tables to answer together, e.g. [["attribute"], ["age_band"], ["attribute", "age_band"]]',
    )
    epsilon = serializers.CharField(required=False, help_text='ε to spend, e.g. "0.5" (give this or accuracy)')
    accuracy = serializers.DictField(
        required=False, help_text='{"half_width": H}: spend the least that gives every cell a 95% half-width of at most H'
    )


class ReportOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    purpose = serializers.CharField(source="purpose_code")
    measure = serializers.CharField()
    filters = serializers.DictField()
    marginals = serializers.SerializerMethodField()
    accuracy = serializers.SerializerMethodField()
    epsilon = serializers.SerializerMethodField()
    rho = serializers.SerializerMethodField()
    period = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()

    def get_marginals(self, report) -> list[list[str]]:
        return report.spec.get("marginals", [])

    def get_accuracy(self, report) -> dict | None:
        return report.spec.get("accuracy")

    def get_epsilon(self, report) -> str:
        return epsilon_text(report.epsilon)

    def get_rho(self, report) -> str:
        return str(report.rho)

    def get_error(self, report) -> dict | None:
        if not report.error_code:
            return None
        return {"code": report.error_code, "message": report.error_message, "refunded": report.refunded_at is not None}


class ReportDetailOut(ReportOut):
    result = serializers.JSONField(
        allow_null=True,
        help_text="Signed envelope {payload, signature, key_id, alg}, verified like a release's with the `releases` key from /api/v1/keys",
    )


REPORT_REQUEST = OpenApiExample(
    "features by age",
    summary="Office-chair features, age bands and features × age bands, answered together with ε 0.5",
    value={
        "purpose": "c2m-product-design",
        "measure": "consumers",
        "filters": {"category": "furniture/office-chair"},
        "marginals": [["attribute"], ["age_band"], ["attribute", "age_band"]],
        "epsilon": "0.5",
    },
    request_only=True,
)
REPORT_BY_ACCURACY = OpenApiExample(
    "accuracy first",
    summary="The least ε that gives every cell of every table ±25",
    value={
        "purpose": "c2m-product-design",
        "measure": "consumers",
        "filters": {"category": "food/birds-nest"},
        "marginals": [["age_band"], ["region"]],
        "accuracy": {"half_width": 25},
    },
    request_only=True,
)
REPORT_QUEUED = {
    "id": "0b7e5d12-8c4a-4f3e-a1d9-5e2c7b9f0a34",
    "status": "queued",
    "purpose": "c2m-product-design",
    "measure": "consumers",
    "filters": {"category": "furniture/office-chair"},
    "marginals": [["attribute"], ["age_band"], ["attribute", "age_band"]],
    "accuracy": None,
    "epsilon": "0.5000",
    "rho": "0.00381862",
    "period": "2026-12",
    "created_at": "2026-12-06T08:00:00Z",
    "completed_at": None,
    "error": None,
}
REPORT_DONE = REPORT_QUEUED | {
    "status": "done",
    "completed_at": "2026-12-06T08:00:06Z",
    "result": {
        "payload": {
            "schema": "clearinghouse-report/1",
            "kind": "report",
            "measure": "consumers",
            "epsilon": "0.5000",
            "delta": "1e-07",
            "rho": "0.00381862",
            "snapshot_at": "2026-12-06T08:00:01+00:00",
            "marginals": [
                {
                    "dimensions": ["age_band"],
                    "half_width": "22.5",
                    "cells": [
                        {"age_band": "18-24", "value": "96.67", "half_width": "22.5"},
                        {"age_band": "25-34", "value": "241.50", "half_width": "22.5"},
                    ],
                }
            ],
            "…": "mechanism, contribution bounds, accuracy: see docs/reports.md",
        },
        "signature": "Hk2p…base64…Cg==",
        "key_id": "ed25519:3f9a0c2b7d1e4a55",
        "alg": "Ed25519",
    },
}
REPORT_CSV = (
    "\ufefftable,category,category_label,attribute,attribute_label,age_band,age_band_label,value,half_width,lower,upper\r\n"
    "age_band,,,,,18-24,18–24 岁,96.67,22.5,74.17,119.17\r\n"
    "age_band,,,,,25-34,25–34 岁,241.50,22.5,219.00,264.00\r\n"
)
REPORT_PLAN = {
    "purpose": "c2m-product-design",
    "purpose_version": 1,
    "measure": "consumers",
    "counts": "consumers in each cell of the full domain (attribute × age_band); …",
    "filters": {"category": "furniture/office-chair"},
    "mechanism": {
        "name": "residual_planner_discrete_gaussian",
        "noise": "discrete_gaussian",
        "privacy": "zCDP",
        "…": "strategy, residuals",
    },
    "cost": {"rho": "0.00381862", "epsilon": "0.5000", "delta": "1e-07"},
    "accuracy": None,
    "contribution_bounds": {"max_cells": 10, "max_signals_per_cell": 3, "cells_per_consumer": 7},
    "marginals": [
        {"dimensions": ["age_band"], "half_width": "22.5", "cell_count": 6, "cells": [{"age_band": "18-24"}, {"age_band": "25-34"}, "…"]}
    ],
    "budget": {
        "period": "2026-12",
        "allocation": {"allocated": "10.0000", "spent": "0.0000", "remaining": "10.0000", "remaining_after": "9.5000"},
        "purpose": {"cap": "40.0000", "spent": "0.0000", "remaining": "40.0000", "remaining_after": "39.5000"},
        "affordable": True,
    },
}
REPORT_ERRORS = error_response(
    invalid="a field of the body is wrong; `details.field` names it (e.g. `marginals[1]`)",
    unknown_dimension="a marginal names a dimension the taxonomy does not have",
    dimension_not_allowed="the purpose does not collect that dimension",
    accuracy_unreachable="no ε within the per-release limit gives that half-width",
    epsilon_too_large="more than the purpose's per-release maximum",
    unknown_purpose="no approved purpose with that code that this manufacturer may query",
)


class ReportsView(APIView):
    @extend_schema(
        request=ReportIn,
        responses={
            202: ReportOut,
            200: ReportDetailOut,
            400: REPORT_ERRORS,
            409: error_response(budget_exhausted="the allocation or the purpose's cap for this month cannot pay for it"),
        },
        examples=[
            REPORT_REQUEST,
            REPORT_BY_ACCURACY,
            OpenApiExample("queued", value=REPORT_QUEUED, response_only=True, status_codes=[202]),
            OpenApiExample("repeat", value=REPORT_DONE | {"repeat": True}, response_only=True, status_codes=[200]),
        ],
    )
    def post(self, request):
        """Request a report: many tables answered together (spends ε)

        A report answers several marginals (tables over one or two dimensions) from one
        measurement, so they agree with each other and cost less than separate releases.
        The answer is 202 with the queued report; poll `GET /reports/{id}`. A repeat of the
        same request this month spends nothing and answers 200 with `"repeat": true`.
        Plan it first for free with `POST /reports/plan`.
        """
        body = None if request.stream is None else request.data
        report, created = report_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        return job_requested_response(report, created, queued_out=ReportOut, detail_out=ReportDetailOut)

    @extend_schema(
        **paginated_schema(ReportOut, name="PaginatedReportOut", operation_id="api_v1_reports_list"),
        examples=[OpenApiExample("one page", value=page_example(REPORT_QUEUED), response_only=True)],
    )
    @query_parameters(*PAGINATION, *JOB_FILTERS)
    def get(self, request):
        """List my reports, newest first

        Without their results (read one with `GET /reports/{id}`); filter by `purpose` and
        budget `period`.
        """
        return jobs_page_response(self, request, selectors.reports_for(manufacturer=request.user.party), out=ReportOut)


class ReportDetailView(ResultDownloads, APIView):
    download_name = "report"

    @extend_schema(
        responses=result_responses(ReportDetailOut, csv_example=REPORT_CSV),
        examples=[OpenApiExample("done", value=REPORT_DONE, response_only=True)],
    )
    @query_parameters(RESULT_FORMAT, LANG)
    def get(self, request, report_id):
        """Read one report, with its signed result once done

        `result` is the signed document, verified like a release's. `?format=csv` gives one
        row per cell of every table (`table` names the marginal), labels in the request's
        language; `?format=sig` the detached signature.
        """
        # A done report is shown on the same data-independent grid as a release (issue 11, item 7).
        report = selectors.report_get(manufacturer=request.user.party, report_id=report_id)
        return Response(ReportDetailOut(release_visible(report)).data)

    def csv_table(self, data, request):
        return tables.report_table(document=data["result"]["payload"], language=request_language(request))


class ReportPlanView(APIView):
    @extend_schema(
        request=ReportIn,
        responses={200: OpenApiTypes.OBJECT, 400: REPORT_ERRORS},
        examples=[REPORT_REQUEST, REPORT_BY_ACCURACY, OpenApiExample("plan", value=REPORT_PLAN, response_only=True)],
    )
    def post(self, request):
        """Plan a report (free)

        Cells, mechanism, each table's 95% half-width, the cost (ε, δ, ρ) and the budgets
        after it, for the body `POST /reports` takes. Data-independent; nothing is spent,
        reserved, queued or recorded.
        """
        body = None if request.stream is None else request.data
        return Response(selectors.report_plan_preview(manufacturer=request.user.party, body=body))
