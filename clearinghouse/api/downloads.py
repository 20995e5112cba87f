"""The download side of a result view: file names, links between the renderings, and
errors that stay JSON whatever was asked for.

``Downloads`` is mixed into a view before ``APIView``; the view sets ``renderer_classes``
(JSON first, then ``CSVRenderer`` and, for signed results, ``SignatureRenderer``), a
``download_name`` and ``csv_table(data, request)``.

* ``?format=csv`` / ``Accept: text/csv``: the table, ``Content-Disposition: attachment``.
* ``?format=sig`` / ``Accept: application/vnd.clearinghouse.signature+json``: the
  detached signature of the signed document (``renderers.detached_signature``).
* Every 200 of a signed result carries ``Link`` headers to its other renderings: the
  CSV names the signed JSON document it was made from and the signature to check it with.
* A job that has no result yet (queued, running) or will never have one (failed,
  refused) answers a CSV or signature request with 409 ``no_result``; its JSON answer is
  unchanged.
"""

from __future__ import annotations

from typing import Any

from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from clearinghouse.api.errors import error_body
from clearinghouse.api.renderers import SIGNATURE_MEDIA_TYPE, Table

_EXTENSIONS = {"csv": "csv", "sig": "sig.json"}


def no_result_body(status: str) -> dict[str, Any]:
    return error_body(
        "no_result",
        f"There is no result to download (status: {status}); the CSV and the signature exist once the job is done.",
        {"status": status},
    )


class Downloads:
    download_name = "result"
    signed = True

    def csv_table(self, data: dict[str, Any], request) -> Table:
        raise NotImplementedError

    def download_stem(self, data: dict[str, Any]) -> str:
        return f"{self.download_name}-{data['id']}"

    def _links(self, request, current: str) -> str:
        base = request.build_absolute_uri(request.path)
        links = [
            ("json", f'<{base}>; rel="alternate"; type="application/json"; title="signed JSON document"'),
            ("csv", f'<{base}?format=csv>; rel="alternate"; type="text/csv"; title="table (CSV)"'),
            ("sig", f'<{base}?format=sig>; rel="alternate"; type="{SIGNATURE_MEDIA_TYPE}"; title="detached signature"'),
        ]
        return ", ".join(link for name, link in links if name != current)

    def finalize_response(self, request, response, *args, **kwargs):
        renderer = getattr(request, "accepted_renderer", None)
        chosen = getattr(renderer, "format", "json")
        if isinstance(response, Response):
            if chosen != "json" and response.status_code >= 400:
                # Errors keep the API's error format whatever representation was asked for.
                request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
            elif response.status_code == 200 and isinstance(response.data, dict):
                if self.signed and response.data.get("result") is None:
                    if chosen != "json":
                        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
                        response = Response(no_result_body(str(response.data.get("status"))), status=409)
                else:
                    if chosen != "json":
                        name = f"{self.download_stem(response.data)}.{_EXTENSIONS[chosen]}"
                        response["Content-Disposition"] = f'attachment; filename="{name}"'
                    if self.signed:
                        response["Link"] = self._links(request, chosen)
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        patch_vary_headers(response, ["Accept", "Accept-Language"])
        return response
