"""The compliance API over the audit log, and its public part for outside auditors.

Public (anyone, throttled): checkpoints and consistency proofs. They reveal the log's
size and tree hashes, never an entry, and let anyone holding an old checkpoint check that
history was not rewritten. Inclusion proofs, events, verification and export are for the
compliance group (docs/audit.md explains the choice).
"""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from clearinghouse.api.actors import request_actor
from clearinghouse.api.queryparams import query_parameters
from clearinghouse.api.schema import error_response
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
    OpenApiParameter("actor_kind", OpenApiTypes.STR, enum=list(selectors.ACTOR_KINDS), description="who acted: this kind of actor"),
    OpenApiParameter("actor_id", OpenApiTypes.STR, description="who acted: this actor's id (a pseudonym, a platform or manufacturer slug)"),
    OpenApiParameter("action", OpenApiTypes.STR, description="exact action, e.g. consent.granted"),
    OpenApiParameter("action_prefix", OpenApiTypes.STR, description="e.g. release. for every release action"),
    OpenApiParameter("outcome", OpenApiTypes.STR, enum=list(selectors.OUTCOMES), description="ok, denied or error"),
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


EVENT_EXAMPLE = {
    "seq": 1042,
    "time": "2026-12-06T08:00:04.123456Z",
    "actor_kind": "manufacturer",
    "actor_id": "chairco",
    "action": "release.requested",
    "target": "release:6f1c2a9e-3b7d-4c1e-9a55-0d4e8b2f7c11",
    "outcome": "ok",
    "details": {"purpose": "c2m-product-design", "epsilon": "0.5000"},
    "leaf_hash": "4b1e…64 hex…",
    "prev_hash": "a90c…64 hex…",
    "hash": "77d2…64 hex…",
}
CHECKPOINT_EXAMPLE = {
    "payload": {
        "log_id": "1c7e9a40-5b2d-4f6e-8a31-9d0b2c4e6f80",
        "tree_size": 1042,
        "root_hash": "e3b0…64 hex…",
        "time": "2026-12-06T08:05:00Z",
        "key_id": "ed25519:51aa09d3c2e47b10",
    },
    "signature": "Zm9v…base64…",
    "key_id": "ed25519:51aa09d3c2e47b10",
    "alg": "Ed25519",
}
INCLUSION_EXAMPLE = {
    "log_id": "1c7e9a40-5b2d-4f6e-8a31-9d0b2c4e6f80",
    "seq": 1042,
    "leaf_index": 1041,
    "tree_size": 1042,
    "leaf_hash": "4b1e…64 hex…",
    "audit_path": ["9f86…", "2c26…"],
    "checkpoint": CHECKPOINT_EXAMPLE,
}
EVENT_PAGE_PARAMETERS = (
    *FILTER_PARAMETERS,
    OpenApiParameter("before", OpenApiTypes.INT, description="only events with a smaller seq (next page)"),
    OpenApiParameter("after", OpenApiTypes.INT, description="only events with a larger seq (previous page)"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 1000, default 100"),
)


class AuditEventsView(APIView):
    @extend_schema(
        operation_id="audit_events_list",
        responses={200: EventPageOut},
        examples=[
            OpenApiExample(
                "one page",
                value={
                    "results": [EVENT_EXAMPLE],
                    "next": "https://clearinghouse.example/api/v1/audit/events?before=1042",
                    "previous": None,
                },
                response_only=True,
            )
        ],
    )
    @query_parameters(*EVENT_PAGE_PARAMETERS)
    def get(self, request):
        """Search the audit log, newest first

        Every filter narrows the search (they combine with AND); pages follow `next` (older)
        and `previous` (newer) by sequence number, so a page does not shift while events
        are appended. Events carry pseudonyms, never names.
        """
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
    @extend_schema(
        operation_id="audit_event_detail",
        responses={200: EventOut},
        examples=[OpenApiExample("event", value=EVENT_EXAMPLE, response_only=True)],
    )
    def get(self, request, seq: int):
        """Read one audit event by its sequence number

        With the hashes that chain it to the one before (`prev_hash`, `hash`) and its leaf
        hash in the Merkle tree (prove it is included with `/audit/proofs/inclusion`).
        """
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
    @extend_schema(
        operation_id="audit_verify",
        responses={200: VerifyOut},
        examples=[
            OpenApiExample(
                "intact",
                value={
                    "ok": True,
                    "checked": 1042,
                    "head_seq": 1042,
                    "head_hash": "77d2…64 hex…",
                    "first_bad_seq": None,
                    "reason": "",
                    "root_hash": "e3b0…64 hex…",
                    "tree_size": 1042,
                    "checkpoints_checked": 12,
                    "bad_checkpoint": None,
                    "pending": 0,
                    "seconds": 0.41,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """Verify the whole audit log now

        Recomputes every event's hash and the chain, the Merkle root, and every signed
        checkpoint against it; `ok` is false with `first_bad_seq` or `bad_checkpoint` and a
        `reason` when anything was changed. The verification itself is audited.
        """
        result = selectors.audit_chain_verify()
        services.audit_verification_record(actor=request_actor(request), result=result)
        return Response(result.as_dict())


class AuditExportView(APIView):
    @extend_schema(
        operation_id="audit_export",
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            400: error_response(invalid="a filter or tree_size is wrong (`details.field`), or tree_size is beyond the sealed log"),
        },
        examples=[
            OpenApiExample(
                "two lines",
                value='{"seq":1,"action":"purpose.published",…}\n{"seq":2,…}\n',
                media_type="application/x-ndjson",
                response_only=True,
            )
        ],
    )
    @query_parameters(
        *FILTER_PARAMETERS,
        OpenApiParameter("tree_size", OpenApiTypes.INT, description="export events 1..tree_size (default: all sealed)"),
    )
    def get(self, request):
        """Export the audit log as JSON lines (for tools/verify_audit.py)

        One event per line, oldest first, exactly as hashed, so the offline verifier can
        recompute the chain and the Merkle root and check them against a checkpoint. With
        filters the file is a selection (it cannot be verified as a chain). The export is audited.
        """
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
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "audit_public"


class CheckpointLatestView(PublicAuditView):
    @extend_schema(
        operation_id="audit_checkpoint_latest",
        responses={200: CheckpointOut, 404: error_response(not_found="no checkpoint has been signed yet")},
        examples=[OpenApiExample("checkpoint", value=CHECKPOINT_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        """The latest signed checkpoint of the audit log (public)

        The log's size and Merkle root, signed with the `checkpoints` key from
        /api/v1/keys. Keep it: a later consistency proof shows the log only grew.
        """
        checkpoint = selectors.audit_checkpoint_latest()
        if checkpoint is None:
            raise NotFound("no checkpoint has been signed yet")
        return Response(checkpoint.envelope())


class CheckpointsView(PublicAuditView):
    @extend_schema(
        operation_id="audit_checkpoints_list",
        responses={200: CheckpointPageOut},
        examples=[OpenApiExample("one page", value={"results": [{"id": 12, **CHECKPOINT_EXAMPLE}], "next": None}, response_only=True)],
    )
    @query_parameters(
        OpenApiParameter("before", OpenApiTypes.INT, description="checkpoints signed before the one with this id"),
        OpenApiParameter("tree_size", OpenApiTypes.INT, description="only checkpoints of this tree size"),
    )
    def get(self, request):
        """Every signed checkpoint, newest first (public)

        A hundred per page; follow `next`. Outside auditors compare them with the ones they
        kept, and witnesses cosign them.
        """
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
        responses={200: InclusionProofOut},
        examples=[OpenApiExample("proof", value=INCLUSION_EXAMPLE, response_only=True)],
    )
    @query_parameters(
        OpenApiParameter("seq", OpenApiTypes.INT, required=True, description="the event's sequence number"),
        OpenApiParameter("tree_size", OpenApiTypes.INT, description="default: the latest checkpoint's size"),
    )
    def get(self, request):
        """Prove an event is in the log

        The Merkle audit path from the event's leaf to the root of a tree of `tree_size`
        (RFC 6962), with the signed checkpoint of that size when there is one.
        """
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
        responses={200: ConsistencyProofOut},
        examples=[
            OpenApiExample(
                "proof",
                value={"log_id": "1c7e9a40-5b2d-4f6e-8a31-9d0b2c4e6f80", "first": 1000, "second": 1042, "proof": ["9f86…", "2c26…"]},
                response_only=True,
            )
        ],
    )
    @query_parameters(
        OpenApiParameter("first", OpenApiTypes.INT, required=True, description="the older tree size (one you kept a checkpoint of)"),
        OpenApiParameter("second", OpenApiTypes.INT, required=True, description="the newer tree size"),
    )
    def get(self, request):
        """Prove the log only grew between two sizes (public)

        An RFC 6962 consistency proof: with the root of the older checkpoint you kept and
        that of a newer one, it shows no event of the first was changed or removed.
        """
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
    @extend_schema(
        operation_id="audit_tlog_checkpoint",
        responses={(200, "text/plain"): OpenApiTypes.STR},
        examples=[
            OpenApiExample(
                "note",
                value="clearinghouse.example/audit\n1042\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— clearinghouse.example/audit Az3o…\n",
                media_type="text/plain",
                response_only=True,
            )
        ],
    )
    def get(self, request):
        """The latest checkpoint as a signed note (C2SP tlog-tiles, public)

        The checkpoint in the signed-note format tlog tools read, with the cosignatures of
        the witnesses that checked it.
        """
        note = witnessing.checkpoint_note_cosigned(tiles.checkpoint_latest())
        return _tile_response(note.encode(), content_type="text/plain; charset=utf-8", immutable=False)


class TlogTileView(PublicAuditView):
    """Hash tiles: tree hashes only, no entry (as public as checkpoints and consistency proofs)."""

    @extend_schema(
        operation_id="audit_tlog_tile",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        examples=[OpenApiExample("tile", value="(256 × 32 bytes of hashes)", media_type="application/octet-stream", response_only=True)],
    )
    def get(self, request, path: str):
        """A hash tile of the log's Merkle tree (C2SP tlog-tiles, public)

        `path` is `<level>/<index>[.p/<width>]`; a full tile never changes and may be cached
        for ever. Tiles hold tree hashes only, never an event.
        """
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

    @extend_schema(
        operation_id="audit_tlog_entries",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        examples=[OpenApiExample("bundle", value="(length-prefixed events)", media_type="application/octet-stream", response_only=True)],
    )
    def get(self, request, path: str):
        """An entry bundle of the log (C2SP tlog-tiles, compliance only)

        The events themselves, 256 to a full bundle, as the tiles hash them: compliance
        only, like the export.
        """
        level, index, width = tiles.tile_path_parse(f"entries/{path}")
        return _tile_response(
            tiles.tile_read(level=level, index=index, width=width),
            content_type="application/octet-stream",
            immutable=width == tiles.TILE_WIDTH,
        )


class ReceiptProofOut(serializers.Serializer):
    receipt_id = serializers.UUIDField()
    proof = InclusionProofOut()
    event = EventOut(help_text="The audit event that records the receipt, as hashed: check the proof is about it")
    checkpoint_note = serializers.CharField(help_text="The checkpoint as a signed note with the witnesses' cosignatures")


class MeReceiptProofView(APIView):
    """A consumer proves their own consent receipt is in the log (issue 15)."""

    @extend_schema(
        operation_id="me_receipt_proof",
        responses={
            200: ReceiptProofOut,
            409: error_response(
                not_yet_witnessed="no (witnessed) checkpoint covers the receipt's audit event yet; come back at `details.retry_after`"
            ),
        },
        examples=[
            OpenApiExample(
                "proof",
                value={
                    "receipt_id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                    "proof": INCLUSION_EXAMPLE,
                    "event": EVENT_EXAMPLE | {"action": "consent.granted", "actor_kind": "consumer"},
                    "checkpoint_note": "clearinghouse.example/audit\n1042\n47DEQpj8…=\n\n— clearinghouse.example/audit Az3o…\n",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, receipt_id):
        """Prove my consent receipt is in the audit log

        The inclusion proof of the audit event that recorded the receipt, against the
        latest checkpoint that covers it (witnessed when witnesses are configured), with
        the event itself and the cosigned checkpoint note: check them offline with
        `tools/audit_verify.py inclusion --receipt`. Another person's receipt answers 404.
        """
        actor = request_actor(request)
        return Response(selectors.audit_receipt_proof(subject=actor.id, receipt_id=str(receipt_id)))
