from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.pagination import Pagination, paginated_schema
from clearinghouse.api.queryparams import PAGINATION, query_parameters
from clearinghouse.api.schema import error_response
from clearinghouse.notices import selectors
from clearinghouse.notices.services import callback_delete, callback_set, notice_resend


class CallbackIn(serializers.Serializer):
    """Documentation only: the service validates the body and names the field at fault."""

    url = serializers.CharField(
        help_text="https URL that receives a signed POST when a release, report or trend ends; no user name or password in it"
    )


class CallbackOut(serializers.Serializer):
    url = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NoticeOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="The notice_id in the body that was POSTed")
    kind = serializers.CharField(help_text="release, report or trend")
    job = serializers.UUIDField(source="job_id", help_text="The id of the release, report or trend")
    status = serializers.CharField(help_text="How the job ended: done, failed or refused")
    occurred_at = serializers.DateTimeField()
    state = serializers.CharField(help_text="pending, delivered, given_up or cancelled (the callback was removed)")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(help_text="While pending: when the next attempt is due")
    last_outcome = serializers.CharField(help_text='The last attempt\'s outcome, e.g. "http_200", "http_500", "connection_refused"')
    delivered_at = serializers.DateTimeField(allow_null=True)


_CALLBACK_EXAMPLE = OpenApiExample("Register a callback", value={"url": "https://chairco.example/clearinghouse/notices"}, request_only=True)
_CALLBACK_OUT_EXAMPLE = OpenApiExample(
    "Your callback",
    value={
        "url": "https://chairco.example/clearinghouse/notices",
        "created_at": "2026-12-06T14:00:00.000000Z",
        "updated_at": "2026-12-06T14:00:00.000000Z",
    },
    response_only=True,
)
_NOTICE_EXAMPLE = {
    "id": "0b7f3c52-8a61-4d0e-9a53-0d3d2f6f4c11",
    "kind": "release",
    "job": "9e60aada-80fe-492a-9a99-c1e45fe2081e",
    "status": "done",
    "occurred_at": "2026-12-06T14:03:12.000000Z",
    "state": "delivered",
    "attempts": 2,
    "next_attempt_at": "2026-12-06T14:03:42.000000Z",
    "last_outcome": "http_204",
    "delivered_at": "2026-12-06T14:03:42.120000Z",
}
_NO_CALLBACK = error_response(not_found="no callback is registered")
_BAD_CALLBACK = error_response(
    invalid_callback="the URL may not be used (`details.field` is `url`): not https, a user name or password in it, "
    "a fragment, not a valid host, or an address that is not public",
    unknown_field="the body names a field other than `url` (`details.field` names it)",
)


class CallbackView(APIView):
    @extend_schema(responses={200: CallbackOut, 404: _NO_CALLBACK}, examples=[_CALLBACK_OUT_EXAMPLE])
    def get(self, request):
        """Read my callback for notifications

        The URL the clearinghouse POSTs signed notices to when one of my releases, reports
        or trends ends. 404 `not_found` when none is registered.
        """
        return Response(CallbackOut(selectors.callback_get(manufacturer=request.user.party)).data)

    @extend_schema(
        request=CallbackIn,
        examples=[_CALLBACK_EXAMPLE, _CALLBACK_OUT_EXAMPLE],
        responses={201: CallbackOut, 200: CallbackOut, 400: _BAD_CALLBACK},
    )
    def put(self, request):
        """Register or replace my callback

        One callback per manufacturer (201 when registered, 200 when replaced). The URL must
        use https, carry no user name or password and reach a public address. Notices still
        waiting go to the new URL.

        Each notice is a POST with `Content-Type: application/json`, a canonical JSON body
        `{notice_id, kind, id, status, manufacturer, url, occurred_at}`, and the headers
        `Clearinghouse-Key-Id`, `Clearinghouse-Signature` (base64 Ed25519 over the exact body
        bytes, with the `notifications` key from /api/v1/keys) and `Clearinghouse-Attempt`.
        Answer 2xx to acknowledge; anything else is tried again with backoff, 8 attempts over
        about an hour (docs/notifications.md).
        """
        body = None if request.stream is None else request.data
        callback, created = callback_set(manufacturer=request.user.party, body=body, actor=request_actor(request))
        return Response(CallbackOut(callback).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={204: None, 404: _NO_CALLBACK})
    def delete(self, request):
        """Remove my callback

        Stops notifications; notices not yet delivered are cancelled. 404 `not_found` when
        none is registered.
        """
        callback_delete(manufacturer=request.user.party, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NoticesView(APIView):
    @extend_schema(
        examples=[
            OpenApiExample("one page", value={"count": 1, "next": None, "previous": None, "results": [_NOTICE_EXAMPLE]}, response_only=True)
        ],
        **paginated_schema(NoticeOut, name="PaginatedNoticeOut", operation_id="api_v1_notices_list"),
    )
    @query_parameters(*PAGINATION)
    def get(self, request):
        """List my notices and their delivery, newest first

        Every notice sent (or being sent) to my callback, with its delivery state, attempts
        and last outcome. A done job's notice appears at the job's visible time, like the
        job's result.
        """
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.notices_for(manufacturer=request.user.party), request, view=self)
        return paginator.get_paginated_response(NoticeOut(page, many=True).data)


class NoticeDetailView(APIView):
    @extend_schema(
        responses={200: NoticeOut, 404: error_response(not_found="no such notice of mine")},
        examples=[OpenApiExample("A notice delivered on its second attempt", value=_NOTICE_EXAMPLE, response_only=True)],
    )
    def get(self, request, notice_id):
        """Read one of my notices

        Its delivery state, attempts and last outcome. Another manufacturer's notice answers
        404 like a missing one.
        """
        return Response(NoticeOut(selectors.notice_get(manufacturer=request.user.party, notice_id=notice_id)).data)


class NoticeResendView(APIView):
    @extend_schema(
        request=None,
        examples=[
            OpenApiExample(
                "A given-up notice, pending again",
                value={
                    **_NOTICE_EXAMPLE,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": "2026-12-07T09:12:00.000000Z",
                    "last_outcome": "connection_refused",
                    "delivered_at": None,
                },
                response_only=True,
                status_codes=[202],
            )
        ],
        responses={
            202: NoticeOut,
            404: error_response(not_found="no such notice of mine"),
            409: error_response(
                not_given_up="the notice is not given up (`details.state` says what it is: pending, delivered or cancelled)",
                no_callback="no callback is registered to send it to",
            ),
        },
    )
    def post(self, request, notice_id):
        """Send a given-up notice again

        After its last attempt failed a notice is `given_up`; this starts a new round of
        attempts (the same schedule) to the callback registered now. The body and its
        `notice_id` are the same as before, so a receiver that did get it deduplicates;
        `Clearinghouse-Attempt` counts from 1 again. 202 with the notice, now `pending`.
        Only a given-up notice can be sent again (409 `not_given_up`); another
        manufacturer's notice answers 404 like a missing one.
        """
        notice = notice_resend(manufacturer=request.user.party, notice_id=notice_id, actor=request_actor(request))
        return Response(NoticeOut(notice).data, status=status.HTTP_202_ACCEPTED)
