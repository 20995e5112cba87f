"""The client: one object per manufacturer key, and one handle per job."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from clearinghouse_client import frames
from clearinghouse_client.errors import ApiError, JobFailed, JobRefused, ThrottledError, WaitTimeout, error_for
from clearinghouse_client.notices import NoticeSignatureError, verify_notice
from clearinghouse_client.verify import SIGNING_GRACE, Verification, key_list, verify_document

KINDS = {"release": "releases", "report": "reports", "trend": "trends"}
LANGUAGES = {"zh-hans": "zh-Hans", "en": "en"}
UNFINISHED = ("queued", "running")


def _epsilon(value: Any) -> str:
    """ε goes over the wire as a decimal string: a float's binary value is not what was meant."""
    if isinstance(value, bool):
        raise TypeError("epsilon must be a number or a decimal string")
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    return str(value)


def request_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a plan or a request: None leaves a field out, ``epsilon`` becomes a
    decimal string and a bare number for ``accuracy`` means ``{"half_width": number}``."""
    body = {name: value for name, value in fields.items() if value is not None}
    if "epsilon" in body:
        body["epsilon"] = _epsilon(body["epsilon"])
    accuracy = body.get("accuracy")
    if isinstance(accuracy, (int, float, Decimal, str)) and not isinstance(accuracy, bool):
        body["accuracy"] = {"half_width": accuracy if isinstance(accuracy, (int, float)) else str(accuracy)}
    return body


class Client:
    """A manufacturer's connection to the clearinghouse.

    ``base_url`` is the server (``http://127.0.0.1:8000``; a trailing ``/api/v1`` is fine),
    ``key`` the manufacturer's API key (``chm_…``). ``language`` (``zh-hans`` or ``en``) is
    the language of the labels in tables and of the server's error messages. ``keys``
    pins the public keys used by ``verify()``: the body of ``GET /api/v1/keys`` (or its
    list, or a path to a saved copy) obtained once from a source you trust; without it
    every verification fetches them from this server."""

    def __init__(
        self,
        base_url: str,
        key: str,
        language: str = "zh-hans",
        *,
        keys: Any = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ):
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        root = base_url.rstrip("/")
        if root.endswith("/api/v1"):
            root = root[: -len("/api/v1")]
        self.base_url = root
        self.api = root + "/api/v1"
        self.language = language
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {key}", "Accept": "application/json", "Accept-Language": LANGUAGES[language]}
        )
        self.pinned_keys = self._load_keys(keys) if keys is not None else None
        self._catalog: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, language={self.language!r})"

    # --- HTTP -------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None) -> tuple[int, Any]:
        url = self.api + path
        try:
            response = self.session.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(f"{method} {url}: {exc}", code="connection_error") from exc
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 400:
            raise error_for(response.status_code, data, retry_after=response.headers.get("Retry-After"))
        if not isinstance(data, dict):
            raise ApiError(f"{method} {url} answered {response.status_code} without a JSON object", code="unexpected_response")
        return response.status_code, data

    def get(self, path: str) -> dict[str, Any]:
        """GET any API path (``/releases?page=2``); the typed error on failure."""
        return self._call("GET", path)[1]

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self._call("POST", path, body=body)[1]

    # --- What you may ask, and what is left ---------------------------------------------

    def catalog(self) -> dict[str, Any]:
        """``GET /api/v1/catalog``: per purpose, the measures, dimensions, their public domains
        (codes with zh-hans and en labels), bounds, limits and this month's budget."""
        self._catalog = self.get("/catalog")
        return self._catalog

    def budget(self) -> dict[str, Any]:
        """``GET /api/v1/budget``: per purpose and month, ε allocated, spent and remaining
        (decimal strings), and the purpose's cap for all manufacturers."""
        return self.get("/budget")

    def keys(self) -> list[dict[str, Any]]:
        """The public keys ``verify()`` uses: the pinned ones, else ``GET /api/v1/keys``.
        Save ``{"keys": client.keys()}`` once to pin them later."""
        if self.pinned_keys is not None:
            return self.pinned_keys
        return key_list(self.get("/keys"))

    def verify_notice(self, *, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """Check a notification POSTed to your callback (see ``notices.verify_notice``) against
        the pinned keys, or the published ones; returns the notice. A key id not yet seen makes
        one fresh ``GET /api/v1/keys`` (the clearinghouse may have rotated its key since the
        last fetch); with pinned keys nothing is fetched. Raises ``NoticeSignatureError``."""
        try:
            return verify_notice(body=body, headers=headers, keys=self.keys())
        except NoticeSignatureError as error:
            if self.pinned_keys is not None or "not among the published keys" not in str(error):
                raise
            return verify_notice(body=body, headers=headers, keys=key_list(self.get("/keys")))

    @staticmethod
    def _load_keys(keys: Any) -> list[dict[str, Any]]:
        if isinstance(keys, (str, Path)):
            keys = json.loads(Path(keys).read_text(encoding="utf-8"))
        return key_list(keys)

    # --- Plans and jobs -----------------------------------------------------------------

    def plan(self, kind: str, /, **request: Any) -> dict[str, Any]:
        """The free plan of a request (``POST /api/v1/{releases,reports,trends}/plan``): cells,
        mechanism, each cell's 95% half-width, the cost (ε, δ, ρ) and the budgets after it.
        Nothing is spent or queued. ``kind`` is ``release``, ``report`` or ``trend``; the
        keyword arguments are the request's fields (``purpose``, ``measure``, ``group_by``,
        ``marginals``, ``by``, ``filters``, ``epsilon`` or ``accuracy``, …)."""
        return self.post(f"/{self._collection(kind)}/plan", request_body(request))

    def release(self, **request: Any) -> Job:
        """``POST /api/v1/releases``: one table (``group_by``) of ``consumers``, ``signals``,
        ``sum_value``, ``mean_value`` or ``top_k``. Returns the job's handle at once."""
        return self._submit("release", request)

    def report(self, **request: Any) -> Job:
        """``POST /api/v1/reports``: several tables (``marginals``) answered together and consistent."""
        return self._submit("report", request)

    def trend(self, **request: Any) -> Job:
        """``POST /api/v1/trends``: weekly series with running totals and an optional forecast."""
        return self._submit("trend", request)

    def job(self, kind: str, job_id: str) -> Job:
        """The handle of a job asked for earlier (read once, so a missing one is NotFoundError)."""
        handle = Job(self, kind, {"id": str(job_id), "status": "queued"})
        return handle.refresh()

    def _submit(self, kind: str, request: Mapping[str, Any]) -> Job:
        status, data = self._call("POST", f"/{self._collection(kind)}", body=request_body(request))
        # 200 is a repeat of a request already answered this month: the stored job, nothing spent.
        return Job(self, kind, data, repeat=status == 200 and bool(data.get("repeat")))

    @staticmethod
    def _collection(kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        return KINDS[kind]

    def labels(self, purpose: str | None) -> frames.Labels:
        """Labels for one purpose's codes in this client's language (the catalogue, read once)."""
        if self._catalog is None:
            self.catalog()
        return frames.Labels(self._catalog, purpose=purpose, language=self.language)


class Job:
    """A release, report or trend: its id, status, and once done its signed result.

    ``data`` is the last body the API returned for it; ``repeat`` is true when the request
    was one already answered this month (the stored answer, nothing spent)."""

    def __init__(self, client: Client, kind: str, data: dict[str, Any], *, repeat: bool = False):
        self.client = client
        self.kind = kind
        self.data = data
        self.repeat = repeat

    def __repr__(self) -> str:
        return f"<{self.kind} {self.id} {self.status}>"

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data.get("status"))

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def result(self) -> dict[str, Any] | None:
        """The signed envelope ``{payload, signature, key_id, alg}`` (None until done)."""
        return self.data.get("result")

    @property
    def payload(self) -> dict[str, Any]:
        if not self.result:
            raise ValueError(f"{self.kind} {self.id} has no result yet (status {self.status}): call wait() first")
        return self.result["payload"]

    def refresh(self) -> Job:
        self.data = self.client.get(f"/{KINDS[self.kind]}/{self.id}")
        return self

    def wait(
        self,
        timeout: float = 300.0,
        *,
        first_delay: float = 0.25,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Job:
        """Poll until the job is done (returns the handle) or ends refused or failed (JobRefused,
        JobFailed, carrying the job's error code). Delays grow exponentially from
        ``first_delay`` to ``max_delay`` seconds, each drawn at random from its upper half so
        that many clients do not poll in step; 429 and 503 wait for the server's Retry-After.
        Raises WaitTimeout after ``timeout`` seconds (the job itself goes on)."""
        deadline = time.monotonic() + timeout
        delay = first_delay
        while True:
            self._raise_if_ended()
            if self.done:
                return self
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"{self.kind} {self.id} is still {self.status} after {timeout:g} s; it goes on, wait() again later",
                    job=self,
                    last_status=self.status,
                )
            pause = min(random.uniform(delay / 2, delay), remaining)
            try:
                sleep(pause)
                self.refresh()
            except ThrottledError as exc:  # includes 503: the job goes on, ask again later
                sleep(min(exc.retry_after or delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, max_delay)

    def _raise_if_ended(self) -> None:
        if self.status not in ("refused", "failed"):
            return
        error = self.data.get("error") or {}
        klass = JobRefused if self.status == "refused" else JobFailed
        raise klass(
            f"{self.kind} {self.id} {self.status}: {error.get('message') or 'no reason given'}",
            code=str(error.get("code") or self.status),
            detail=error,
            job=self,
        )

    def verify(self, keys: Any = None, *, grace: timedelta = SIGNING_GRACE) -> Verification:
        """Check the signed result: an Ed25519 signature over its canonical payload, by a key
        published for this kind of document (``releases``) and in force when its data was read,
        on a document that is this job. ``keys`` overrides the client's (pinned or fetched).
        Raises SignatureError naming the failed check; returns what was established."""
        listed = Client._load_keys(keys) if keys is not None else self.client.keys()
        return verify_document(self.data, listed, kind=self.kind, document_id_expected=self.id, grace=grace)

    def to_records(self, *, forecast: bool = False) -> list[dict[str, Any]]:
        """One dict per cell: the codes of its dimensions and their labels (``attribute`` and
        ``attribute_label``, …), ``value``, ``half_width``, ``lower`` and ``upper`` (the 95%
        interval). A report adds ``marginal`` (which table); a trend adds ``week``,
        ``running_total`` and its half-width. ``forecast=True`` gives a trend's forecast
        (``lower_80``/``upper_80`` and the 95% ``lower``/``upper``) instead."""
        payload = self.payload
        return frames.records(self.kind, payload, self.client.labels(payload.get("purpose")), forecast=forecast)

    def to_pandas(self, *, forecast: bool = False):
        """``to_records()`` as a pandas DataFrame; ``attrs`` holds ε, δ, ρ, the mechanism,
        the snapshot time, the reach when the document states one, and the ids."""
        rows = self.to_records(forecast=forecast)
        return frames.data_frame(
            rows, frames.privacy_facts(self.kind, self.payload, job_id=self.id, key_id=(self.result or {}).get("key_id"))
        )
