"""The compliance API over the audit log, and its public part for outside auditors.

Public (anyone, throttled): checkpoints and consistency proofs. They reveal the log's
size and tree hashes, never an entry, and let anyone holding an old checkpoint check that
history was not rewritten. Inclusion proofs, events, verification and export are for the
compliance group (docs/audit.md explains the choice).
"""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.throttling import WindowRateThrottle
from clearinghouse.audit import selectors, services, tiles, witnessing
from clearinghouse.audit.chain import event_export_line
from clearinghouse.core.errors import Invalid, NotFound


def int_param(params, name: str, *, required: bool = False) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        if required:
            raise Invalid(f"{name}: is required", details={"field": name})
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid(f"{name}: must be a whole number", details={"field": name})
    return int(raw)


class EventOut(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.CharField(help_text="UTC, microseconds, exactly as hashed")
    actor_kind = serializers.CharField()
    actor_id = serializers.CharField()
    action = serializers.CharField()
    target = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["ok", "denied", "error"])
    details = serializers.DictField()
    leaf_hash = serializers.CharField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class EventPageOut(serializers.Serializer):
    results = EventOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="URL of the next (older) page")
    previous = serializers.CharField(allow_null=True, help_text="URL of the previous (newer) page")


FILTER_PARAMETERS = [
    OpenApiParameter("actor_kind", OpenApiTypes.STR, enum=list(selectors.ACTOR_KINDS)),
    OpenApiParameter("actor_id", OpenApiTypes.STR),
    OpenApiParameter("action", OpenApiTypes.STR, description="exact action, e.g. consent.granted"),
    OpenApiParameter("action_prefix", OpenApiTypes.STR, description="e.g. release. for every release action"),
    OpenApiParameter("outcome", OpenApiTypes.STR, enum=list(selectors.OUTCOMES)),
    OpenApiParameter("target", OpenApiTypes.STR, description="target prefix, e.g. purpose:c2m-product-design or consumer:<pseudonym>"),
    OpenApiParameter(
        "subject",
        OpenApiTypes.STR,
        description="a person's pseudonym: every event they did, that targets them or names them in details.subject",
    ),
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description="date (from its start) or ISO 8601 time, inclusive; dates and times without an offset are in settings.TIME_ZONE (Asia/Shanghai)",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description="date (the whole day) or ISO 8601 time, inclusive; dates and times without an offset are in settings.TIME_ZONE (Asia/Shanghai)",
    ),
]


def _page_url(request, **cursor) -> str:
    query = request.query_params.copy()
    for name in ("before", "after"):
        query.pop(name, None)
    for name, value in cursor.items():
        query[name] = str(value)
    return request.build_absolute_uri(request.path + "?" + query.urlencode())


class AuditEventsView(APIView):
    @extend_schema(
        operation_id="audit_events_list",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("before", OpenApiTypes.INT, description="only events with a smaller seq (next page)"),
            OpenApiParameter("after", OpenApiTypes.INT, description="only events with a larger seq (previous page)"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 1000, default 100"),
        ],
        responses={200: EventPageOut},
    )
    def get(self, request):
        filters = selectors.audit_filter_parse(request.query_params)
        size = int_param(request.query_params, "page_size")
        page = selectors.audit_event_page(
            filters=filters,
            before=int_param(request.query_params, "before"),
            after=int_param(request.query_params, "after"),
            size=100 if size is None else size,
        )
        return Response(
            {
                "results": [event_export_line(event) for event in page.events],
                "next": _page_url(request, before=page.next_before) if page.next_before else None,
                "previous": _page_url(request, after=page.newer_after) if page.newer_after else None,
            }
        )


class AuditEventDetailView(APIView):
    @extend_schema(operation_id="audit_event_detail", responses={200: EventOut})
    def get(self, request, seq: int):
        return Response(event_export_line(selectors.audit_event_get(seq=seq)))


class VerifyOut(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_seq = serializers.IntegerField(allow_null=True)
    head_hash = serializers.CharField(allow_null=True)
    first_bad_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    root_hash = serializers.CharField(allow_null=True)
    tree_size = serializers.IntegerField()
    checkpoints_checked = serializers.IntegerField()
    bad_checkpoint = serializers.IntegerField(allow_null=True)
    pending = serializers.IntegerField(help_text="events committed in the last moments and not yet sealed")
    seconds = serializers.FloatField()


class AuditVerifyView(APIView):
    @extend_schema(operation_id="audit_verify", responses={200: VerifyOut})
    def get(self, request):
        result = selectors.audit_chain_verify()
        services.audit_verification_record(actor=request_actor(request), result=result)
        return Response(result.as_dict())


class AuditExportView(APIView):
    @extend_schema(
        operation_id="audit_export",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("tree_size", OpenApiTypes.INT, description="export events 1..tree_size (default: all sealed)"),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        filters = selectors.audit_filter_parse(request.query_params)
        upto = services.audit_export_start(
            actor=request_actor(request), filters=filters.as_query(), tree_size=int_param(request.query_params, "tree_size")
        )
        response = StreamingHttpResponse(
            selectors.audit_export_lines(filters=filters, upto=upto), content_type="application/x-ndjson; charset=utf-8"
        )
        suffix = "-filtered" if filters.as_query() else ""
        response["Content-Disposition"] = f'attachment; filename="audit-log-1-{upto}{suffix}.jsonl"'
        return response


class CheckpointPayloadOut(serializers.Serializer):
    log_id = serializers.UUIDField()
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField()
    time = serializers.CharField()
    key_id = serializers.CharField()


class CheckpointOut(serializers.Serializer):
    payload = CheckpointPayloadOut()
    signature = serializers.CharField(help_text="Ed25519 over canonical_json(payload), base64")
    key_id = serializers.CharField()
    alg = serializers.CharField()


class CheckpointPageOut(serializers.Serializer):
    results = CheckpointOut(many=True)
    next = serializers.CharField(allow_null=True)


class PublicAuditView(APIView):
    authentication_classes: list = []
    throttle_classes = [WindowRateThrottle]
    throttle_scope = "audit_public"


class CheckpointLatestView(PublicAuditView):
    @extend_schema(operation_id="audit_checkpoint_latest", responses={200: CheckpointOut})
    def get(self, request):
        checkpoint = selectors.audit_checkpoint_latest()
        if checkpoint is None:
            raise NotFound("no checkpoint has been signed yet")
        return Response(checkpoint.envelope())


class CheckpointsView(PublicAuditView):
    @extend_schema(
        operation_id="audit_checkpoints_list",
        parameters=[
            OpenApiParameter("before", OpenApiTypes.INT, description="checkpoints signed before the one with this id"),
            OpenApiParameter("tree_size", OpenApiTypes.INT, description="only checkpoints of this tree size"),
        ],
        responses={200: CheckpointPageOut},
    )
    def get(self, request):
        checkpoints = selectors.audit_checkpoints()
        size = int_param(request.query_params, "tree_size")
        if size is not None:
            checkpoints = checkpoints.filter(tree_size=size)
        before = int_param(request.query_params, "before")
        if before is not None:
            checkpoints = checkpoints.filter(id__lt=before)
        rows = list(checkpoints[:101])
        more = len(rows) > 100
        rows = rows[:100]
        return Response(
            {
                "results": [{"id": row.pk, **row.envelope()} for row in rows],
                "next": _page_url(request, before=rows[-1].pk) if more else None,
            }
        )


class InclusionProofOut(serializers.Serializer):
    log_id = serializers.UUIDField()
    seq = serializers.IntegerField()
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField()
    audit_path = serializers.ListField(child=serializers.CharField())
    checkpoint = CheckpointOut(allow_null=True)


class InclusionProofView(APIView):
    @extend_schema(
        operation_id="audit_inclusion_proof",
        parameters=[
            OpenApiParameter("seq", OpenApiTypes.INT, required=True),
            OpenApiParameter("tree_size", OpenApiTypes.INT, description="default: the latest checkpoint's size"),
        ],
        responses={200: InclusionProofOut},
    )
    def get(self, request):
        return Response(
            selectors.audit_inclusion_proof(
                seq=int_param(request.query_params, "seq", required=True),
                tree_size=int_param(request.query_params, "tree_size"),
            )
        )


class ConsistencyProofOut(serializers.Serializer):
    log_id = serializers.UUIDField()
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField())


class ConsistencyProofView(PublicAuditView):
    @extend_schema(
        operation_id="audit_consistency_proof",
        parameters=[
            OpenApiParameter("first", OpenApiTypes.INT, required=True),
            OpenApiParameter("second", OpenApiTypes.INT, required=True),
        ],
        responses={200: ConsistencyProofOut},
    )
    def get(self, request):
        return Response(
            selectors.audit_consistency_proof(
                first=int_param(request.query_params, "first", required=True),
                second=int_param(request.query_params, "second", required=True),
            )
        )


# --- The static tile view (C2SP tlog-tiles), issue 15 ----------------------------------------------


def _tile_response(body: bytes, *, content_type: str, immutable: bool) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    # Full tiles never change (tlog-tiles): mirrors and caches may keep them for ever.
    response["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
    return response


class TlogCheckpointView(PublicAuditView):
    @extend_schema(operation_id="audit_tlog_checkpoint", responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request):
        note = witnessing.checkpoint_note_cosigned(tiles.checkpoint_latest())
        return _tile_response(note.encode(), content_type="text/plain; charset=utf-8", immutable=False)


class TlogTileView(PublicAuditView):
    """Hash tiles: tree hashes only, no entry (as public as checkpoints and consistency proofs)."""

    @extend_schema(operation_id="audit_tlog_tile", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, path: str):
        level, index, width = tiles.tile_path_parse(path)
        if level == "entries":
            raise NotFound("no such tile")
        return _tile_response(
            tiles.tile_read(level=level, index=index, width=width),
            content_type="application/octet-stream",
            immutable=width == tiles.TILE_WIDTH,
        )


class TlogEntriesView(APIView):
    """Entry bundles hold the events themselves (pseudonymous ids, details): compliance
    only, like the export. An outside auditor receives them as a directory written by
    ``manage.py audit_tiles`` (docs/audit.md)."""

    @extend_schema(operation_id="audit_tlog_entries", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, path: str):
        level, index, width = tiles.tile_path_parse(f"entries/{path}")
        return _tile_response(
            tiles.tile_read(level=level, index=index, width=width),
            content_type="application/octet-stream",
            immutable=width == tiles.TILE_WIDTH,
        )


class MeReceiptProofView(APIView):
    """A consumer proves their own consent receipt is in the log (issue 15)."""

    @extend_schema(operation_id="me_receipt_proof", responses={200: InclusionProofOut})
    def get(self, request, receipt_id):
        actor = request_actor(request)
        return Response(selectors.audit_receipt_proof(subject=actor.id, receipt_id=str(receipt_id)))
