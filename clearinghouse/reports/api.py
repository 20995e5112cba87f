from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.selectors import release_visible
from clearinghouse.reports import selectors
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


class ReportsView(APIView):
    @extend_schema(
        request=ReportIn,
        responses={
            202: ReportOut,
            200: ReportDetailOut,
            400: OpenApiResponse(description="invalid body, or accuracy_unreachable"),
            409: OpenApiResponse(description="budget_exhausted"),
        },
    )
    def post(self, request):
        body = None if request.stream is None else request.data
        report, created = report_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        if created:
            return Response(ReportOut(release_visible(report)).data, status=status.HTTP_202_ACCEPTED)
        # A repeat of a request already made this period: the stored report, nothing spent.
        return Response(ReportDetailOut(release_visible(report)).data | {"repeat": True}, status=status.HTTP_200_OK)

    @extend_schema(**paginated_schema(ReportOut, name="PaginatedReportOut", operation_id="api_v1_reports_list"))
    def get(self, request):
        queryset = selectors.reports_for(manufacturer=request.user.party)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ReportOut([release_visible(r) for r in page], many=True).data)


class ReportDetailView(APIView):
    @extend_schema(responses={200: ReportDetailOut})
    def get(self, request, report_id):
        # A done report is shown on the same data-independent grid as a release (issue 11, item 7).
        report = selectors.report_get(manufacturer=request.user.party, report_id=report_id)
        return Response(ReportDetailOut(release_visible(report)).data)


class ReportPlanView(APIView):
    @extend_schema(
        request=ReportIn,
        responses={
            200: OpenApiResponse(description="cells, mechanism, half-widths, cost and budgets after it"),
            400: OpenApiResponse(description="invalid body, or accuracy_unreachable"),
        },
    )
    def post(self, request):
        body = None if request.stream is None else request.data
        return Response(selectors.report_plan_preview(manufacturer=request.user.party, body=body))
