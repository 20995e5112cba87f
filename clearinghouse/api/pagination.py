from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


def paginated_schema(item: type[serializers.Serializer], *, name: str, operation_id: str) -> dict[str, Any]:
    """extend_schema(**paginated_schema(ItemOut, name=..., operation_id=...)) for a view
    that pages with Pagination by hand (an APIView): the envelope (and an explicit
    operation id: with parameters, drf-spectacular takes it for a retrieve and names it
    like the detail view). Its query parameters are declared with
    ``@query_parameters(*PAGINATION, ...)`` (clearinghouse.api.queryparams)."""
    return {
        "operation_id": operation_id,
        "responses": {
            200: inline_serializer(
                name,
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": item(many=True),
                },
            )
        },
    }
