from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts.api import current_consumer
from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.releases import selectors, services
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
    fields = serializers.ListField(child=serializers.CharField())
    measures = serializers.ListField(child=serializers.CharField())
    dimensions = serializers.ListField(child=serializers.CharField())
    filters = serializers.ListField(child=serializers.CharField())
    domains = serializers.DictField(
        help_text="Public key sets: category, signal, age_band, region are lists of terms; attribute maps each category to its "
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


class ReleasesView(APIView):
    @extend_schema(
        request=ReleaseIn, responses={202: ReleaseOut, 200: ReleaseDetailOut, 409: OpenApiResponse(description="budget_exhausted")}
    )
    def post(self, request):
        # DRF reads an empty body as {}; the service must see that no object was sent.
        body = None if request.stream is None else request.data
        release, created = release_request(manufacturer=request.user.party, body=body, actor=request_actor(request))
        if created:
            return Response(ReleaseOut(selectors.release_visible(release)).data, status=status.HTTP_202_ACCEPTED)
        # A repeat of a request already made this period: the stored release, nothing spent.
        return Response(ReleaseDetailOut(selectors.release_visible(release)).data | {"repeat": True}, status=status.HTTP_200_OK)

    @extend_schema(**paginated_schema(ReleaseOut, name="PaginatedReleaseOut", operation_id="api_v1_releases_list"))
    def get(self, request):
        queryset = selectors.releases_for(manufacturer=request.user.party)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ReleaseOut([selectors.release_visible(r) for r in page], many=True).data)


class ReleasePlanView(APIView):
    @extend_schema(
        request=ReleaseIn,
        responses={200: dict, 400: OpenApiResponse(description="invalid request, accuracy_unreachable or accuracy_unsupported")},
        description="The plan of a release request, free: its cells, the mechanism, each cell's 95% half-width, the cost (ε, δ, ρ) "
        'and the budgets after it. Nothing is spent, reserved or queued. Give `"accuracy": {"half_width": H}` instead of `epsilon` '
        "to learn the least ε that meets it.",
    )
    def post(self, request):
        body = None if request.stream is None else request.data
        return Response(release_plan_request(manufacturer=request.user.party, body=body))


class ReleaseDetailView(APIView):
    @extend_schema(responses={200: ReleaseDetailOut})
    def get(self, request, release_id):
        release = services.release_read(manufacturer=request.user.party, release_id=release_id, actor=request_actor(request))
        return Response(ReleaseDetailOut(selectors.release_visible(release)).data)


class CatalogView(APIView):
    @extend_schema(responses={200: CatalogOut})
    def get(self, request):
        return Response({"purposes": selectors.catalog_for(manufacturer=request.user.party)})


class BudgetView(APIView):
    @extend_schema(responses={200: BudgetOut})
    def get(self, request):
        return Response(selectors.budget_overview(manufacturer=request.user.party))


class MePrivacyLossView(APIView):
    @extend_schema(responses={200: PrivacyLossOut})
    def get(self, request):
        return Response(selectors.privacy_loss_statement(consumer=current_consumer(request)))
