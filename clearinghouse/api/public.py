from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
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

    @extend_schema(
        responses={200: inline_serializer("KeysOut", fields={"keys": KeyOut(many=True)})},
        examples=[
            OpenApiExample(
                "keys",
                value={
                    "keys": [
                        {
                            "id": "ed25519:3f9a0c2b7d1e4a55",
                            "use": "releases",
                            "algorithm": "Ed25519",
                            "public_key": "9IJoClP2yiIffTqGgBsLj2CL4/Y/hnIfyMnPJFbf/50=",
                            "valid_from": "2026-11-01T00:00:00+00:00",
                            "valid_until": None,
                            "status": "current",
                        }
                    ]
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """The public keys that sign receipts, results, checkpoints and reports

        Every Ed25519 key with its id, its use, its validity and whether it is current or
        retired (old signatures stay verifiable). Match a signature's `key_id` and check
        that the key's `use` fits what it signed.
        """
        return Response({"keys": published_keys()})


class HealthOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.DictField()
    broker = serializers.DictField()


class HealthzView(APIView):
    authentication_classes: list = []

    @extend_schema(
        responses={200: HealthOut, 503: HealthOut},
        examples=[
            OpenApiExample(
                "ok",
                value={"status": "ok", "database": {"ok": True, "detail": "postgresql"}, "broker": {"ok": True, "detail": "redis"}},
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """Is the service up?

        200 when the database and the broker answer, 503 with the same body (status
        `degraded`) when one does not. For load balancers and monitoring.
        """
        db_ok, db_info = database_reachable()
        broker_ok, broker_info = broker_reachable()
        body = {
            "status": "ok" if db_ok and broker_ok else "degraded",
            "database": {"ok": db_ok, "detail": db_info},
            "broker": {"ok": broker_ok, "detail": broker_info},
        }
        return Response(body, status=200 if db_ok and broker_ok else 503)
