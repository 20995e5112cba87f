from __future__ import annotations

from collections.abc import Sequence

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts.api import current_consumer
from clearinghouse.api.actors import request_actor
from clearinghouse.api.downloads import Downloads
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.api.queryparams import LANG, PAGINATION, format_parameter, query_parameters, request_language
from clearinghouse.api.renderers import SIGNATURE_MEDIA_TYPE, CSVRenderer, SignatureRenderer
from clearinghouse.api.schema import error_response
from clearinghouse.releases import selectors, services, tables
from clearinghouse.releases.models import Release
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.preview import release_plan_request
from clearinghouse.releases.services import release_request


class ReleaseIn(serializers.Serializer):
    """Documentation only: the service validates the body and names the field at fault."""

    purpose = serializers.CharField(help_text="Purpose code from the catalogue")
    measure = serializers.ChoiceField(choices=["consumers", "signals", "sum_value", "mean_value", "top_k"])
    group_by = serializers.ListField(child=serializers.CharField(), required=False, help_text='Dimensions, e.g. ["category", "age_band"]')
    filters = serializers.DictField(required=False, help_text="{category, signals, since, until}")
    epsilon = serializers.CharField(
        help_text='ε to spend: a decimal string such as "0.5" (a JSON number is accepted too), at most 4 decimal places'
    )
    k = serializers.IntegerField(required=False, help_text="top_k only: how many attributes")
    accuracy = serializers.DictField(
        required=False,
        help_text='Instead of epsilon: {"half_width": H}, the 95% half-width needed in every cell; the least ε that meets it is spent',
    )


class ReleaseOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    purpose = serializers.CharField(source="purpose_code")
    measure = serializers.CharField()
    group_by = serializers.ListField(child=serializers.CharField())
    filters = serializers.DictField()
    k = serializers.IntegerField(allow_null=True)
    epsilon = serializers.SerializerMethodField()
    period = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()

    def get_epsilon(self, release) -> str:
        return epsilon_text(release.epsilon)

    def get_error(self, release) -> dict | None:
        if not release.error_code:
            return None
        return {"code": release.error_code, "message": release.error_message, "refunded": release.refunded_at is not None}


class ReleaseDetailOut(ReleaseOut):
    result = serializers.JSONField(
        allow_null=True,
        help_text="Signed envelope {payload, signature, key_id, alg}: verify the Ed25519 `signature` over the canonical JSON of `payload` "
        "(sorted keys, no spaces, UTF-8) with the `releases` key from /api/v1/keys",
    )


class BudgetRowOut(serializers.Serializer):
    purpose = serializers.CharField()
    period = serializers.CharField(help_text="Calendar month YYYY-MM")
    allocated = serializers.CharField(help_text="ε, decimal string")
    spent = serializers.CharField(help_text="ε reserved or spent by releases")
    remaining = serializers.CharField()
    global_cap = serializers.CharField(help_text="The purpose's cap per period, all manufacturers together")
    global_spent = serializers.CharField()
    global_remaining = serializers.CharField()


class BudgetOut(serializers.Serializer):
    period = serializers.CharField(help_text="The current period")
    budgets = BudgetRowOut(many=True)


class TermOut(serializers.Serializer):
    code = serializers.CharField()
    labels = serializers.DictField(child=serializers.CharField())


class CatalogEntryOut(serializers.Serializer):
    purpose = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.DictField(child=serializers.CharField())
    legitimate_interest = serializers.DictField(child=serializers.CharField())
    # DRF's metaclass moves declared fields off the class, so this does not shadow Serializer.fields; the stubs cannot tell.
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    measures = serializers.ListField(child=serializers.CharField())
    dimensions = serializers.ListField(child=serializers.CharField())
    filters = serializers.ListField(child=serializers.CharField())
    domains = serializers.DictField(
        help_text="Public key sets: category, signal, age_band, region are lists of terms {code, label (in the request's language: "
        "lang, else Accept-Language), labels (every language)}; attribute maps each category to its "
        "attributes (grouping by category and attribute gives these nested pairs, not the cross product); week is a description"
    )
    value_bounds = serializers.DictField(allow_null=True)
    contribution_bounds = serializers.DictField(child=serializers.IntegerField())
    limits = serializers.DictField()
    budget = BudgetRowOut()


class CatalogOut(serializers.Serializer):
    purposes = CatalogEntryOut(many=True)


class PurposeLossOut(serializers.Serializer):
    purpose = serializers.CharField()
    title = serializers.DictField(child=serializers.CharField())
    cap = serializers.CharField(help_text="ε per rolling window")
    spent_in_window = serializers.CharField()
    remaining = serializers.CharField()


class ChargeOut(serializers.Serializer):
    release_id = serializers.CharField()
    purpose = serializers.CharField()
    manufacturer = serializers.CharField(help_text="The manufacturer's name")
    measure = serializers.CharField()
    epsilon = serializers.CharField()
    reach_only = serializers.BooleanField(
        help_text="True when the release left this person out at their cap and only counted them in its reach, charging its reach share"
    )
    charged_at = serializers.DateTimeField()


class PrivacyLossOut(serializers.Serializer):
    window_days = serializers.IntegerField()
    purposes = PurposeLossOut(many=True)
    charges = ChargeOut(many=True)
    total_epsilon = serializers.CharField()


# --- Shared by the three kinds of job (reports and trends import these) ----------------------

JOB_FILTERS = (
    OpenApiParameter("purpose", OpenApiTypes.STR, description="Only jobs for this purpose code, e.g. c2m-product-design."),
    OpenApiParameter("period", OpenApiTypes.STR, pattern=r"^\d{4}-\d{2}$", description="Only jobs charged to this budget month, YYYY-MM."),
)


def job_filters(request) -> dict[str, str | None]:
    return {"purpose": request.query_params.get("purpose"), "period": request.query_params.get("period")}


def job_requested_response(job: Release, created: bool, *, queued_out, detail_out) -> Response:
    """202 with the queued job; or, for a repeat of a request already made this period, 200
    with the stored job marked ``repeat`` (nothing spent). Shown as of its visible time."""
    if created:
        return Response(queued_out(selectors.release_visible(job)).data, status=status.HTTP_202_ACCEPTED)
    return Response(detail_out(selectors.release_visible(job)).data | {"repeat": True}, status=status.HTTP_200_OK)


def jobs_page_response(view, request, jobs, *, out) -> Response:
    """One page of the caller's jobs (filtered by ``purpose`` and ``period``), newest first,
    each shown as of its visible time."""
    paginator = Pagination()
    page = paginator.paginate_queryset(selectors.jobs_filtered(jobs, **job_filters(request)), request, view=view) or []
    return paginator.get_paginated_response(out([selectors.release_visible(job) for job in page], many=True).data)


RESULT_FORMAT = format_parameter(
    "json",
    "csv",
    "sig",
    description="`json` (default): the job with its signed document. `csv`: one row per cell, UTF-8 with BOM, labels in the "
    "request's language (`lang`), with value, half_width, lower and upper. `sig`: the detached signature of the signed "
    "document. The same choice as `Accept: application/json`, `text/csv` or `" + SIGNATURE_MEDIA_TYPE + "`.",
)


class SignatureOut(serializers.Serializer):
    alg = serializers.CharField()
    key_id = serializers.CharField(help_text="The `releases` key in /api/v1/keys that signed it")
    signature = serializers.CharField(help_text="Ed25519, base64")
    signed = serializers.CharField(help_text="What was signed")
    payload_sha256 = serializers.CharField(help_text="SHA-256 (hex) of the canonical JSON of result.payload")
    keys = serializers.CharField()


SIGNATURE_EXAMPLE = {
    "alg": "Ed25519",
    "key_id": "ed25519:3f9a0c2b7d1e4a55",
    "signature": "n4vX…base64…Aw==",
    "signed": "canonical JSON of result.payload: keys sorted, separators ',' and ':' without spaces, UTF-8",
    "payload_sha256": "8c1f…64 hex digits…e2",
    "keys": "/api/v1/keys",
}


def result_responses(detail: type[serializers.Serializer], *, csv_example: str) -> dict:
    """The three renderings of a done job, and 409 when there is nothing to download."""
    return {
        (200, "application/json"): detail,
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR,
            description="One row per cell; `Content-Disposition: attachment`; `Link` to the signed JSON and the signature",
            examples=[OpenApiExample("table", value=csv_example, media_type="text/csv", response_only=True)],
        ),
        (200, SIGNATURE_MEDIA_TYPE): OpenApiResponse(
            SignatureOut,
            examples=[OpenApiExample("signature", value=SIGNATURE_EXAMPLE, media_type=SIGNATURE_MEDIA_TYPE, response_only=True)],
        ),
        409: error_response(no_result="format=csv or sig for a job that is not done (queued, running, failed or refused)"),
    }


class ResultDownloads(Downloads):
    renderer_classes: Sequence[type[BaseRenderer]] = (JSONRenderer, CSVRenderer, SignatureRenderer)


# --- Examples ---------------------------------------------------------------------------------

RELEASE_REQUEST = OpenApiExample(
    "consumers by attribute",
    summary="How many consumers like each office-chair feature, ε 0.5",
    value={
        "purpose": "c2m-product-design",
        "measure": "consumers",
        "group_by": ["category", "attribute"],
        "filters": {"category": "furniture/office-chair"},
        "epsilon": "0.5",
    },
    request_only=True,
)
RELEASE_BY_ACCURACY = OpenApiExample(
    "accuracy first",
    summary="Spend the least ε that gives every cell ±40 at 95%",
    value={
        "purpose": "c2m-product-design",
        "measure": "consumers",
        "group_by": ["age_band"],
        "filters": {"category": "food/birds-nest"},
        "accuracy": {"half_width": 40},
    },
    request_only=True,
)
RELEASE_QUEUED = {
    "id": "6f1c2a9e-3b7d-4c1e-9a55-0d4e8b2f7c11",
    "status": "queued",
    "purpose": "c2m-product-design",
    "measure": "consumers",
    "group_by": ["category", "attribute"],
    "filters": {"category": "furniture/office-chair"},
    "k": None,
    "epsilon": "0.5000",
    "period": "2026-12",
    "created_at": "2026-12-06T08:00:00Z",
    "completed_at": None,
    "error": None,
}
RELEASE_DONE = RELEASE_QUEUED | {
    "status": "done",
    "completed_at": "2026-12-06T08:00:04Z",
    "result": {
        "payload": {
            "schema": "clearinghouse-release/1",
            "release_id": "6f1c2a9e-3b7d-4c1e-9a55-0d4e8b2f7c11",
            "purpose": "c2m-product-design",
            "measure": "consumers",
            "epsilon": "0.5000",
            "confidence": "0.95",
            "snapshot_at": "2026-12-06T08:00:01+00:00",
            "cells": [
                {"category": "furniture/office-chair", "attribute": "lumbar-support", "value": 412, "half_width": 42},
                {"category": "furniture/office-chair", "attribute": "recline-flat", "value": 187, "half_width": 42},
            ],
            "…": "mechanisms, accuracy, contribution bounds: see docs/releases.md",
        },
        "signature": "n4vX…base64…Aw==",
        "key_id": "ed25519:3f9a0c2b7d1e4a55",
        "alg": "Ed25519",
    },
}
RELEASE_CSV = (
    "\ufeffcategory,category_label,attribute,attribute_label,value,half_width,lower,upper\r\n"
    "furniture/office-chair,办公椅,lumbar-support,腰部支撑,412,42,370,454\r\n"
    "furniture/office-chair,办公椅,recline-flat,可平躺,187,42,145,229\r\n"
)
PLAN_EXAMPLE = {
    "purpose": "c2m-product-design",
    "purpose_version": 1,
    "measure": "consumers",
    "group_by": ["category", "attribute"],
    "filters": {"category": "furniture/office-chair"},
    "cells": 7,
    "cell_labels": [
        {"category": "furniture/office-chair", "attribute": "lumbar-support"},
        {"category": "furniture/office-chair", "attribute": "recline-flat"},
    ],
    "mechanisms": [
        {
            "measure": "consumers",
            "name": "discrete_laplace",
            "library": "OpenDP 0.16.0",
            "scale": "14.0",
            "sensitivity": {"metric": "l1", "value": 7},
            "epsilon": "0.5000",
            "epsilon_privacy_map": "0.5",
        }
    ],
    "accuracy": {
        "half_width": 42,
        "meaning": "each cell's released value is within half_width of its bounded true value with probability 0.95",
    },
    "cost": {"epsilon": "0.5000", "delta": "0", "rho": "0.125"},
    "accuracy_first": False,
    "budget_after": {"period": "2026-12", "allocation_remaining_after": "9.5000", "purpose_remaining_after": "39.5000", "affordable": True},
}
REQUEST_ERRORS = error_response(
    invalid="the body names a field wrongly (`details.field`), e.g. a dimension the purpose does not collect",
    accuracy_unreachable="no ε within the per-release limit gives that half-width",
    unknown_purpose="no approved purpose with that code that this manufacturer may query",
)


def page_example(item: dict) -> dict:
    return {"count": 1, "next": None, "previous": None, "results": [item]}


# --- Views -------------------------------------------------------------------------------------


class ReleasesView(APIView):
    @extend_schema(
        request=ReleaseIn,
        responses={
            202: ReleaseOut,
            200: ReleaseDetailOut,
            400: REQUEST_ERRORS,
            409: error_response(budget_exhausted="the manufacturer's allocation or the purpose's cap for this month cannot pay for it"),
            503: error_response(unavailable="the broker is down: nothing was spent; try again after Retry-After"),
        },
        examples=[
            RELEASE_REQUEST,
            RELEASE_BY_ACCURACY,
            OpenApiExample("queued", value=RELEASE_QUEUED, response_only=True, status_codes=[202]),
            OpenApiExample("repeat", value=RELEASE_DONE | {"repeat": True}, response_only=True, status_codes=[200]),
        ],
    )
    def post(self, request):
        """Request a differentially private release (spends ε)

        Reserves the ε of the request from this month's allocation and queues the job; the
        answer is 202 with the queued release. Poll `GET /releases/{id}` until `status` is
        `done` (its `result` is the signed document), `failed` or `refused` (both refunded).
        Give `epsilon` or `accuracy` (the least ε meeting the half-width is spent).
        Sending the same request again in the same month spends nothing: the answer is 200
        with the stored release and `"repeat": true`. Plan it first for free with
        `POST /releases/plan`.
        """
        # DRF reads an empty body as {}; the service must see that no object was sent.
        body = None if request.stream is None else request.data
        release, created = release_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        return job_requested_response(release, created, queued_out=ReleaseOut, detail_out=ReleaseDetailOut)

    @extend_schema(
        **paginated_schema(ReleaseOut, name="PaginatedReleaseOut", operation_id="api_v1_releases_list"),
        examples=[OpenApiExample("one page", value=page_example(RELEASE_QUEUED), response_only=True)],
    )
    @query_parameters(*PAGINATION, *JOB_FILTERS)
    def get(self, request):
        """List my releases, newest first

        Without their results (read one with `GET /releases/{id}`). Filter by `purpose` and
        budget `period`; there is no status filter, because a finished job is shown as
        running until its visible time and a filter on the stored status would reveal it.
        """
        return jobs_page_response(self, request, selectors.releases_for(manufacturer=request.user.party), out=ReleaseOut)


class ReleasePlanView(APIView):
    @extend_schema(
        request=ReleaseIn,
        responses={200: OpenApiTypes.OBJECT, 400: REQUEST_ERRORS},
        examples=[RELEASE_REQUEST, RELEASE_BY_ACCURACY, OpenApiExample("plan", value=PLAN_EXAMPLE, response_only=True)],
    )
    def post(self, request):
        """Plan a release (free)

        The plan of a release request: its cells, the mechanism, each cell's 95% half-width,
        the cost (ε, δ, ρ) and the budgets after it. Nothing is spent, reserved or queued.
        Give `"accuracy": {"half_width": H}` instead of `epsilon` to learn the least ε that
        meets it. The body is the one `POST /releases` takes, and the errors are the same.
        """
        body = None if request.stream is None else request.data
        return Response(release_plan_request(manufacturer=request.user.party, body=body))


class ReleaseDetailView(ResultDownloads, APIView):
    download_name = "release"

    @extend_schema(
        responses=result_responses(ReleaseDetailOut, csv_example=RELEASE_CSV),
        examples=[OpenApiExample("done", value=RELEASE_DONE, response_only=True)],
    )
    @query_parameters(RESULT_FORMAT, LANG)
    def get(self, request, release_id):
        """Read one release, with its signed result once done

        `result` is the signed document (verify the Ed25519 `signature` over the canonical
        JSON of `payload` with the `releases` key from /api/v1/keys). `?format=csv` (or
        `Accept: text/csv`) gives its cells as a table with labels in the request's language;
        `?format=sig` the detached signature. The CSV's `Link` header names both.
        Another manufacturer's release answers 404 like a missing one.
        """
        release = services.release_read(manufacturer=request.user.party, release_id=release_id, actor=request_actor(request))
        return Response(ReleaseDetailOut(selectors.release_visible(release)).data)

    def csv_table(self, data, request):
        return tables.release_table(document=data["result"]["payload"], language=request_language(request))


CATALOG_EXAMPLE = {
    "purposes": [
        {
            "purpose": "c2m-product-design",
            "version": 1,
            "title": {"zh-hans": "帮助厂家设计你想要的产品", "en": "Help manufacturers design products you want"},
            "measures": ["consumers", "signals", "top_k"],
            "dimensions": ["category", "attribute", "signal", "age_band", "region"],
            "filters": ["category", "signals"],
            "domains": {
                "category": [
                    {"code": "furniture/office-chair", "label": "Office chair", "labels": {"zh-hans": "办公椅", "en": "Office chair"}}
                ],
                "attribute": {
                    "furniture/office-chair": [
                        {"code": "lumbar-support", "label": "Lumbar support", "labels": {"zh-hans": "腰部支撑", "en": "Lumbar support"}}
                    ]
                },
                "age_band": [{"code": "25-34", "label": "25–34", "labels": {"zh-hans": "25–34 岁", "en": "25–34"}}],
            },
            "…": "legitimate_interest, fields, value_bounds, contribution_bounds, limits, budget",
        }
    ]
}


class CatalogView(APIView):
    @extend_schema(responses={200: CatalogOut}, examples=[OpenApiExample("catalogue", value=CATALOG_EXAMPLE, response_only=True)])
    @query_parameters(LANG)
    def get(self, request):
        """The catalogue: what I may ask, and the words for it

        Every purpose this manufacturer may query, with its measures, dimensions, filters,
        bounds, limits and remaining budget, and the public domain of every dimension: each
        value with its code, its `label` in the request's language (`lang`, else
        Accept-Language) and its `labels` in every language.
        """
        return Response({"purposes": selectors.catalog_for(manufacturer=request.user.party, language=request_language(request))})


BUDGET_EXAMPLE = {
    "period": "2026-12",
    "budgets": [
        {
            "purpose": "c2m-product-design",
            "period": "2026-12",
            "allocated": "10.0000",
            "spent": "0.5000",
            "remaining": "9.5000",
            "global_cap": "40.0000",
            "global_spent": "0.5000",
            "global_remaining": "39.5000",
        }
    ],
}
BUDGET_CSV = (
    "\ufeffpurpose,purpose_label,period,allocated,spent,remaining,global_cap,global_spent,global_remaining\r\n"
    "c2m-product-design,帮助厂家设计你想要的产品,2026-12,10.0000,0.5000,9.5000,40.0000,0.5000,39.5000\r\n"
)


class BudgetView(Downloads, APIView):
    renderer_classes: Sequence[type[BaseRenderer]] = (JSONRenderer, CSVRenderer)
    download_name = "budget"
    signed = False

    @extend_schema(
        responses={
            (200, "application/json"): BudgetOut,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, examples=[OpenApiExample("table", value=BUDGET_CSV, media_type="text/csv", response_only=True)]
            ),
        },
        examples=[OpenApiExample("budget", value=BUDGET_EXAMPLE, response_only=True)],
    )
    @query_parameters(
        format_parameter("json", "csv", description="`csv`: one row per purpose and month, purpose titles in the request's language."),
        LANG,
    )
    def get(self, request):
        """My ε budget: allocated, spent and remaining per purpose and month

        This month for every purpose I may query, then every other month with an
        allocation; with each purpose's cap for all manufacturers together. Also as CSV.
        """
        return Response(selectors.budget_overview(manufacturer=request.user.party))

    def download_stem(self, data) -> str:
        return f"budget-{data['period']}"

    def csv_table(self, data, request):
        return tables.budget_table(overview=data, language=request_language(request))


PRIVACY_LOSS_EXAMPLE = {
    "window_days": 365,
    "purposes": [
        {
            "purpose": "c2m-product-design",
            "title": {"zh-hans": "帮助厂家设计你想要的产品", "en": "Help manufacturers design products you want"},
            "cap": "3.0000",
            "spent_in_window": "0.5000",
            "remaining": "2.5000",
        }
    ],
    "charges": [
        {
            "release_id": "6f1c2a9e-3b7d-4c1e-9a55-0d4e8b2f7c11",
            "purpose": "c2m-product-design",
            "manufacturer": "Chair Co.",
            "measure": "consumers",
            "epsilon": "0.5000",
            "reach_only": False,
            "charged_at": "2026-12-06T08:00:04Z",
        }
    ],
    "total_epsilon": "0.5000",
}


class MePrivacyLossView(APIView):
    @extend_schema(responses={200: PrivacyLossOut}, examples=[OpenApiExample("statement", value=PRIVACY_LOSS_EXAMPLE, response_only=True)])
    def get(self, request):
        """My privacy loss: what releases about me have spent

        Over the rolling window, per purpose: the cap, what releases that counted me spent
        and what remains, and every charge (which release, which manufacturer, how much ε).
        """
        return Response(selectors.privacy_loss_statement(consumer=current_consumer(request)))
