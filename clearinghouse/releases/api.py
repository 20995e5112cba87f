from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.accounts.api import current_consumer
from clearinghouse.api.actors import request_actor
from clearinghouse.releases import selectors
from clearinghouse.releases.plans import epsilon_text
from clearinghouse.releases.services import release_request


class ReleaseIn(serializers.Serializer):
    """Documentation only: the service validates the body and names the field at fault."""

    purpose = serializers.CharField(help_text="Purpose code from the catalogue")
    measure = serializers.ChoiceField(choices=["consumers", "signals", "sum_value", "mean_value", "top_k"])
    group_by = serializers.ListField(child=serializers.CharField(), required=False, help_text="Dimensions, e.g. [\"category\", \"age_band\"]")
    filters = serializers.DictField(required=False, help_text="{category, signals, since, until}")
    epsilon = serializers.CharField(help_text="ε to spend, as a decimal string such as \"0.5\"")
    k = serializers.IntegerField(required=False, help_text="top_k only: how many attributes")


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


class ReleasesView(APIView):
    @extend_schema(request=ReleaseIn, responses={202: ReleaseOut, 200: ReleaseDetailOut, 409: OpenApiResponse(description="budget_exhausted")})
    def post(self, request):
        release, created = release_request(manufacturer=request.user.party, body=request.data, actor=request_actor(request))
        if created:
            return Response(ReleaseOut(release).data, status=status.HTTP_202_ACCEPTED)
        # A repeat of a request already made this period: the stored release, nothing spent.
        return Response(ReleaseDetailOut(release).data | {"repeat": True}, status=status.HTTP_200_OK)

    @extend_schema(responses={200: ReleaseOut(many=True)})
    def get(self, request):
        queryset = selectors.releases_for(manufacturer=request.user.party)
        paginator = self.pagination_class() if self.pagination_class else None
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ReleaseOut(page, many=True).data)


class ReleaseDetailView(APIView):
    @extend_schema(responses={200: ReleaseDetailOut})
    def get(self, request, release_id):
        release = selectors.release_get(manufacturer=request.user.party, release_id=release_id)
        return Response(ReleaseDetailOut(release).data)


class CatalogView(APIView):
    @extend_schema(responses={200: serializers.JSONField()})
    def get(self, request):
        return Response({"purposes": selectors.catalog_for(manufacturer=request.user.party)})


class BudgetView(APIView):
    @extend_schema(responses={200: serializers.JSONField()})
    def get(self, request):
        return Response(selectors.budget_overview(manufacturer=request.user.party))


class MePrivacyLossView(APIView):
    @extend_schema(responses={200: serializers.JSONField()})
    def get(self, request):
        return Response(selectors.privacy_loss_statement(consumer=current_consumer(request)))
