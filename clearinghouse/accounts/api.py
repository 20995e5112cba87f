from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from clearinghouse.accounts import lockout, selectors, services
from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.core.errors import NotFound


class CredentialsThrottle(AnonRateThrottle):
    """Requests to the credential endpoints, per client address (clearinghouse.api.addresses:
    X-Forwarded-For counts only from a trusted proxy). Per-username limits are the lockout's
    (accounts.lockout)."""

    scope = "credentials"

    def get_ident(self, request):
        return client_address(request) or "unknown"


class LinkRedeemThrottle(SimpleRateThrottle):
    scope = "link_redeem"

    def get_cache_key(self, request, view):
        # Per platform, so one platform cannot brute-force link codes.
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


def current_consumer(request):
    consumer = selectors.consumer_for_user(user=request.user)
    if consumer is None:  # TablePermission already required a live consumer
        raise NotFound()
    return consumer


class RegisterIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    age_confirmed = serializers.BooleanField(
        required=False, default=False, help_text="Must be true: I confirm I am 14 or older (PIPL Art. 31)."
    )


class RegisterOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="Your pseudonymous id")
    token = serializers.CharField()


class ConsumerRegisterView(APIView):
    authentication_classes: list = []
    throttle_classes = [CredentialsThrottle]

    @extend_schema(request=RegisterIn, responses={201: RegisterOut})
    def post(self, request):
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        consumer, token = services.consumer_register(
            username=data.validated_data["username"],
            password=data.validated_data["password"],
            age_confirmed=data.validated_data["age_confirmed"],
            channel="api",
            address=client_address(request),
        )
        return Response({"id": str(consumer.pseudonym), "token": token}, status=status.HTTP_201_CREATED)


class TokenIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    token = serializers.CharField()


class TokenView(APIView):
    authentication_classes: list = []
    throttle_classes = [CredentialsThrottle]

    @extend_schema(request=TokenIn, responses={200: TokenOut})
    def post(self, request):
        data = TokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.consumer_token_obtain(
            username=data.validated_data["username"], password=data.validated_data["password"], address=client_address(request)
        )
        return Response({"token": token})


class LinkCodeIn(serializers.Serializer):
    platform = serializers.CharField(max_length=64)


class LinkCodeOut(serializers.Serializer):
    code = serializers.CharField()
    platform = serializers.CharField()
    expires_at = serializers.DateTimeField()


class LinkOut(serializers.Serializer):
    platform = serializers.CharField(source="platform.slug")
    platform_name = serializers.CharField(source="platform.name")
    linked_at = serializers.DateTimeField(source="created_at")


class MeLinksView(APIView):
    @extend_schema(responses={200: LinkOut(many=True)})
    def get(self, request):
        links = selectors.consumer_links_list(consumer=current_consumer(request))
        return Response(LinkOut(links, many=True).data)

    @extend_schema(request=LinkCodeIn, responses={201: LinkCodeOut})
    def post(self, request):
        data = LinkCodeIn(data=request.data)
        data.is_valid(raise_exception=True)
        code, expires_at = services.link_code_issue(
            consumer=current_consumer(request), platform_slug=data.validated_data["platform"], actor=request_actor(request)
        )
        body = {"code": code, "platform": data.validated_data["platform"], "expires_at": expires_at}
        return Response(LinkCodeOut(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, operation_id="api_v1_me_links_destroy_all")
    def delete(self, request):
        services.platform_link_delete(consumer=current_consumer(request), platform_slug=None, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeLinkDetailView(APIView):
    @extend_schema(responses={200: LinkOut}, operation_id="api_v1_me_links_platform_retrieve")
    def get(self, request, platform: str):
        link = next(
            (link for link in selectors.consumer_links_list(consumer=current_consumer(request)) if link.platform.slug == platform), None
        )
        if link is None:
            raise NotFound()
        return Response(LinkOut(link).data)

    @extend_schema(responses={204: None}, operation_id="api_v1_me_links_platform_destroy")
    def delete(self, request, platform: str):
        services.platform_link_delete(consumer=current_consumer(request), platform_slug=platform, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RedeemIn(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    subject_ref = serializers.CharField(max_length=256, trim_whitespace=False)


class RedeemOut(serializers.Serializer):
    subject_ref = serializers.CharField()
    linked_at = serializers.DateTimeField()


class PlatformLinksView(APIView):
    throttle_classes = [LinkRedeemThrottle]

    @extend_schema(request=RedeemIn, responses={201: RedeemOut})
    def post(self, request):
        data = RedeemIn(data=request.data)
        data.is_valid(raise_exception=True)
        link = services.platform_link_redeem(
            platform=request.user.party,
            code=data.validated_data["code"],
            subject_ref=data.validated_data["subject_ref"],
            actor=request_actor(request),
        )
        body = {"subject_ref": data.validated_data["subject_ref"], "linked_at": link.created_at}
        return Response(RedeemOut(body).data, status=status.HTTP_201_CREATED)


class UnlockIn(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False, help_text="Lift this username's lock")
    address = serializers.IPAddressField(required=False, help_text="Lift this client address's lock")

    def validate(self, attrs):
        if not attrs.get("username") and not attrs.get("address"):
            raise serializers.ValidationError({"username": "give a username, an address or both"})
        return attrs


class UnlockOut(serializers.Serializer):
    was_locked = serializers.BooleanField()


class LoginUnlockView(APIView):
    """Compliance officers: let someone in again whom another's guessing locked out."""

    @extend_schema(request=UnlockIn, responses={200: UnlockOut})
    def post(self, request):
        data = UnlockIn(data=request.data)
        data.is_valid(raise_exception=True)
        found = lockout.login_unlock(
            username=data.validated_data.get("username"), address=data.validated_data.get("address"), actor=request_actor(request)
        )
        return Response({"was_locked": found})
