from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.core.crypto import published_keys
from clearinghouse.core.health import broker_reachable, database_reachable


class KeyOut(serializers.Serializer):
    id = serializers.CharField()
    use = serializers.ChoiceField(choices=["receipts", "releases", "checkpoints", "reports", "notifications"])
    algorithm = serializers.CharField()
    public_key = serializers.CharField(help_text="Raw 32-byte Ed25519 public key, base64")
    valid_from = serializers.CharField(allow_null=True)
    valid_until = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["current", "retired"])


class KeysView(APIView):
    authentication_classes: list = []

    @extend_schema(responses={200: inline_serializer("KeysOut", fields={"keys": KeyOut(many=True)})})
    def get(self, request):
        return Response({"keys": published_keys()})


class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.DictField()
    broker = serializers.DictField()


class HealthzView(APIView):
    authentication_classes: list = []

    @extend_schema(responses={200: HealthOut, 503: HealthOut})
    def get(self, request):
        db_ok, db_info = database_reachable()
        broker_ok, broker_info = broker_reachable()
        body = {
            "status": "ok" if db_ok and broker_ok else "degraded",
            "database": {"ok": db_ok, "detail": db_info},
            "broker": {"ok": broker_ok, "detail": broker_info},
        }
        return Response(body, status=200 if db_ok and broker_ok else 503)
