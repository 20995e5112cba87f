from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from clearinghouse.accounts import lockout, selectors, services
from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.api.schema import error_response
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

    @extend_schema(
        request=RegisterIn,
        responses={
            201: RegisterOut,
            400: error_response(
                invalid="a field is missing or wrong, or the password is too short or too common (`details`)",
                age_not_confirmed="age_confirmed must be true",
            ),
            409: error_response(username_taken="someone has that username (told a few times per address, then 429)"),
            429: error_response(
                signup_throttled="this address asked about taken usernames too often; wait `details.retry_after_seconds`",
                throttled="too many requests from this address",
            ),
        },
        examples=[
            OpenApiExample(
                "sign up",
                value={"username": "mei-1990", "password": "a-long-passphrase-1", "age_confirmed": True},
                request_only=True,
            ),
            OpenApiExample("token", value={"id": "2f5d7c1a-9e3b-4a8d-b6c0-1e2f3a4b5c6d", "token": "chc_…"}, response_only=True),
        ],
    )
    def post(self, request):
        """Sign up as a consumer

        Creates a consumer account and answers with its pseudonymous id and a bearer token
        for the consumer endpoints. Confirming you are 14 or older is required (PIPL Art.
        31). Throttled per client address.
        """
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

    @extend_schema(
        request=TokenIn,
        responses={
            200: TokenOut,
            400: error_response(invalid_credentials="unknown username or wrong password (counts towards the lockout)"),
            429: error_response(login_locked="too many failures for this username or address; wait `details.retry_after_seconds`"),
        },
        examples=[
            OpenApiExample("sign in", value={"username": "mei-1990", "password": "a-long-passphrase-1"}, request_only=True),
            OpenApiExample("token", value={"token": "chc_…"}, response_only=True),
        ],
    )
    def post(self, request):
        """Get a bearer token (consumers and compliance officers)

        Exchanges a username and password for a token (`Authorization: Bearer <token>`).
        Failed attempts count towards the one lockout shared with the portal: once locked,
        429 with Retry-After, without the password being checked.
        """
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
    @extend_schema(
        responses={200: LinkOut(many=True)},
        examples=[
            OpenApiExample(
                "links",
                value=[{"platform": "maomall", "platform_name": "Maomall", "linked_at": "2026-12-01T09:30:00Z"}],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """List the platforms my account is linked to

        A link lets a platform deliver signals about me under my consent; each platform
        knows me only by its own reference.
        """
        links = selectors.consumer_links_list(consumer=current_consumer(request))
        return Response(LinkOut(links, many=True).data)

    @extend_schema(
        request=LinkCodeIn,
        responses={201: LinkCodeOut, 400: error_response(unknown_platform="no platform with that slug")},
        examples=[
            OpenApiExample("for maomall", value={"platform": "maomall"}, request_only=True),
            OpenApiExample(
                "code", value={"code": "7QK4-MZ2P", "platform": "maomall", "expires_at": "2026-12-06T08:10:00Z"}, response_only=True
            ),
        ],
    )
    def post(self, request):
        """Get a one-time code to link my account at a platform

        Give the code to the platform (for example in its app); it redeems it with its own
        reference for me. Single use, for that platform only, valid for
        CH_LINK_CODE_TTL_MINUTES (10 by default).
        """
        data = LinkCodeIn(data=request.data)
        data.is_valid(raise_exception=True)
        code, expires_at = services.link_code_issue(
            consumer=current_consumer(request), platform_slug=data.validated_data["platform"], actor=request_actor(request)
        )
        body = {"code": code, "platform": data.validated_data["platform"], "expires_at": expires_at}
        return Response(LinkCodeOut(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, operation_id="api_v1_me_links_destroy_all")
    def delete(self, request):
        """Unlink every platform

        Every platform loses its link to me at once; their signals stop being accepted.
        Audited; the answer has no body.
        """
        services.platform_link_delete(consumer=current_consumer(request), platform_slug=None, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeLinkDetailView(APIView):
    @extend_schema(
        responses={200: LinkOut},
        operation_id="api_v1_me_links_platform_retrieve",
        examples=[
            OpenApiExample(
                "link", value={"platform": "maomall", "platform_name": "Maomall", "linked_at": "2026-12-01T09:30:00Z"}, response_only=True
            )
        ],
    )
    def get(self, request, platform: str):
        """Read my link to one platform

        404 when my account is not linked there.
        """
        link = next(
            (link for link in selectors.consumer_links_list(consumer=current_consumer(request)) if link.platform.slug == platform), None
        )
        if link is None:
            raise NotFound()
        return Response(LinkOut(link).data)

    @extend_schema(responses={204: None}, operation_id="api_v1_me_links_platform_destroy")
    def delete(self, request, platform: str):
        """Unlink one platform

        That platform loses its link to me; its signals about me stop being accepted.
        Audited; the answer has no body.
        """
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

    @extend_schema(
        request=RedeemIn,
        responses={
            201: RedeemOut,
            404: error_response(not_found="the code is unknown or was issued for another platform"),
            409: error_response(
                link_code_used="the code was already used", subject_already_linked="that subject_ref is linked to another account"
            ),
            410: error_response(link_code_expired="the code has expired; ask the person for a new one"),
        },
        examples=[
            OpenApiExample("redeem", value={"code": "7QK4-MZ2P", "subject_ref": "mm-user-1001"}, request_only=True),
            OpenApiExample("linked", value={"subject_ref": "mm-user-1001", "linked_at": "2026-12-06T08:01:00Z"}, response_only=True),
        ],
    )
    def post(self, request):
        """Redeem a consumer's link code with your own reference for them

        From now on `subject_ref` names that consumer in your signals and consent checks.
        The clearinghouse keeps only a pseudonym of the reference, keyed per platform.
        Throttled per platform.
        """
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

    @extend_schema(
        request=UnlockIn,
        responses={200: UnlockOut},
        examples=[
            OpenApiExample("a username", value={"username": "mei-1990"}, request_only=True),
            OpenApiExample("lifted", value={"was_locked": True}, response_only=True),
        ],
    )
    def post(self, request):
        """Lift a sign-in lockout

        For someone locked out by another's guessing: clears the failures of a username, a
        client address, or both. Audited.
        """
        data = UnlockIn(data=request.data)
        data.is_valid(raise_exception=True)
        found = lockout.login_unlock(
            username=data.validated_data.get("username"), address=data.validated_data.get("address"), actor=request_actor(request)
        )
        return Response({"was_locked": found})
