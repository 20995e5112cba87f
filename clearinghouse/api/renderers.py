"""Results people can load: CSV for spreadsheets and pandas, and the detached signature.

A view that offers downloads lists these renderers after JSON and mixes in
``clearinghouse.api.downloads.Downloads``. The JSON answer stays byte for byte what it
was (the signed document inside it must not change); CSV and the signature are other
renderings of the same answer, chosen with ``Accept`` or ``?format=``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

from clearinghouse.core.crypto import canonical_json, sha256_hex
from clearinghouse.core.errors import Invalid

# Excel reads a CSV file as the machine's ANSI code page unless it starts with a BOM; with
# it, Chinese labels open as written.
BOM = "\ufeff"

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
# Our labels come from the taxonomy, not from consumers, but a file that is opened in Excel
# must not depend on that.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


class Table:
    """What a view hands to the CSV renderer: column names and one row per cell."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
        self.columns = list(columns)
        self.rows = [list(row) for row in rows]


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(value) for value in row])
    return BOM + out.getvalue()


class CSVRenderer(BaseRenderer):
    """UTF-8 with a BOM, CRLF line ends (RFC 4180), one header row. The view's
    ``csv_table(data, request)`` turns the JSON answer into a ``Table``."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        view = (renderer_context or {}).get("view")
        request = (renderer_context or {}).get("request")
        return csv_text(view.csv_table(data, request)).encode("utf-8")


SIGNATURE_MEDIA_TYPE = "application/vnd.clearinghouse.signature+json"


def detached_signature(envelope: dict[str, Any]) -> dict[str, Any]:
    """The signature of a signed envelope, without the document: what was signed (the
    canonical JSON of ``payload``, and its SHA-256 to compare with a copy one holds), by
    which key and algorithm."""
    return {
        "alg": envelope["alg"],
        "key_id": envelope["key_id"],
        "signature": envelope["signature"],
        "signed": "canonical JSON of result.payload: keys sorted, separators ',' and ':' without spaces, UTF-8",
        "payload_sha256": sha256_hex(canonical_json(envelope["payload"])),
        "keys": "/api/v1/keys",
    }


class SignatureRenderer(BaseRenderer):
    media_type = SIGNATURE_MEDIA_TYPE
    format = "sig"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(detached_signature(data["result"]), ensure_ascii=False, indent=2).encode("utf-8")


class ApiContentNegotiation(DefaultContentNegotiation):
    """DRF's, except that a ``format`` no renderer offers is a 400 naming the parameter
    rather than DRF's 404 (the resource exists; the representation asked for does not)."""

    def filter_renderers(self, renderers, format):
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            offered = sorted({renderer.format for renderer in renderers})
            raise Invalid(f"format: must be one of {', '.join(offered)}", details={"field": "format", "allowed": offered}) from None
