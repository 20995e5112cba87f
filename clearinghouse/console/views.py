"""The compliance console: server-rendered pages for officers (the compliance group).

Views only translate between HTTP and the audit / consent services and selectors. The
log is read-only here; the only changes an officer makes are purpose approvals and
retirements (consent.purposes services), exports and verification runs, each audited.
"""

from __future__ import annotations

import json
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clearinghouse import charts
from clearinghouse.api.actors import request_actor
from clearinghouse.audit import reasons, selectors, services
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.chain import event_export_line, format_time
from clearinghouse.audit.denials import denial_record
from clearinghouse.audit.models import AuditVerificationRun
from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_approve, purpose_get, purpose_retire
from clearinghouse.consent.selectors import consent_lapse_on_approval
from clearinghouse.console import exports, reports, ropa
from clearinghouse.console.purpose_diff import purpose_diff, term_list
from clearinghouse.console.sentences import event_sentence
from clearinghouse.core.errors import DomainError, NotFound

# Offered as suggestions in the filter: every action the log records.
KNOWN_ACTIONS = [action.value for action in AuditAction]
PAGE_SIZE = 50
# Selectors and reports keep their messages in English, as the API returns them. These are
# the ones the console's filter and period forms can lead to; listed here (literally, so that
# makemessages keeps them in the catalogue) to be shown in the page's language.
FILTER_ERRORS = {
    gettext_noop("until: must not be before since"),
    gettext_noop("since: expected a date (2026-01-31) or an ISO 8601 time"),
    gettext_noop("until: expected a date (2026-01-31) or an ISO 8601 time"),
    gettext_noop("since: expected a date such as 2026-01-31"),
    gettext_noop("until: expected a date such as 2026-01-31"),
    gettext_noop("since: a report covers at most 1098 days"),
    gettext_noop("subject: expected a pseudonym such as 5b2c0a5e-0000-4000-8000-000000000001"),
}


def _error_text(error: DomainError) -> str:
    return _(error.message) if error.message in FILTER_ERRORS else error.message


# consent.purposes.LAWFUL_BASES holds the codes a purpose may name; these are their words
# for an officer, in the page's language.
LAWFUL_BASIS_NAMES = {"consent": gettext_noop("Consent of the individual (PIPL Art. 13(1)(1))")}


def officer_required(view):
    """Anonymous people go to the login page; anyone logged in who is not in the
    compliance group gets a plain refusal (403), never the log."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        actor = request_actor(request)
        if actor.kind != "compliance":
            denial_record(request=request, reason="forbidden", status=403)
            return render(request, "console/forbidden.html", status=403)
        request.actor = actor
        return view(request, *args, **kwargs)

    return wrapper


def _language() -> str:
    return "en" if get_language() == "en" else "zh-hans"


def _present_purpose(purpose, names: dict[str, str]):
    language = _language()
    purpose.display_title = purpose.title.get(language) or purpose.title.get("en", purpose.code)
    purpose.display_interest = purpose.legitimate_interest.get(language, "")
    purpose.display_notice = purpose.notice.get(language, "")
    basis = LAWFUL_BASIS_NAMES.get(purpose.lawful_basis)
    purpose.display_lawful_basis = _(basis) if basis else purpose.lawful_basis
    purpose.approver_name = names.get(purpose.approved_by, purpose.approved_by)
    purpose.display_fields = term_list(purpose.fields)
    purpose.display_dimensions = term_list(purpose.dimensions)
    purpose.display_measures = term_list(purpose.measures)
    return purpose


def _officer_names(actor_ids) -> dict[str, str]:
    """officer:<pk> -> username, for showing who approved what (officers, not consumers)."""
    pks = [
        int(value.split(":", 1)[1]) for value in actor_ids if value and value.startswith("officer:") and value.split(":", 1)[1].isdigit()
    ]
    users = get_user_model().objects.filter(pk__in=pks).values_list("pk", "username")
    return {f"officer:{pk}": username for pk, username in users}


# --- Home -------------------------------------------------------------------------------------


@require_GET
@officer_required
def home(request):
    return render(
        request,
        "console/home.html",
        {
            "tree_size": selectors.tree_size_of_log(),
            "checkpoint": selectors.audit_checkpoint_latest(),
            "drafts": Purpose.objects.filter(status=Purpose.DRAFT).count(),
            "last_run": AuditVerificationRun.objects.first(),
            "pending": selectors.audit_pending_count(),
        },
    )


# --- Purposes ---------------------------------------------------------------------------------


@require_GET
@officer_required
def purposes(request):
    rows = list(Purpose.objects.order_by("code", "-version"))
    names = _officer_names(purpose.approved_by for purpose in rows)
    rows = [_present_purpose(purpose, names) for purpose in rows]
    groups = [
        (_("Waiting for approval"), [p for p in rows if p.status == Purpose.DRAFT]),
        (_("Approved"), [p for p in rows if p.status == Purpose.APPROVED]),
        (_("Retired"), [p for p in rows if p.status == Purpose.RETIRED]),
    ]
    return render(request, "console/purposes.html", {"groups": groups, "names": names})


def _purpose(code: str, version: int):
    try:
        return purpose_get(code=code, version=version)
    except NotFound:
        raise Http404 from None


@require_http_methods(["GET", "POST"])
@officer_required
def purpose_detail(request, code: str, version: int):
    purpose = _purpose(code, version)
    errors: dict[str, str] = {}
    # Empty, never prefilled from the published file: the officer writes the assessment in
    # their own words (the file's text is in one language and was not theirs to vouch for).
    impact = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "approve":
                impact = request.POST.get("impact_assessment", "")
                purpose_approve(purpose=purpose, actor=request.actor, impact_assessment=impact)
                messages.success(
                    request,
                    _("Approved %(code)s version %(version)s. Consumers can now be asked for consent to it.")
                    % {"code": code, "version": version},
                )
                return redirect("compliance:purpose", code=code, version=version)
            if action == "retire":
                if request.POST.get("confirm") != "yes":
                    errors["confirm"] = _("Tick the box to confirm: retiring stops all processing for this purpose version.")
                else:
                    purpose_retire(purpose=purpose, actor=request.actor)
                    messages.success(request, _("Retired %(code)s version %(version)s.") % {"code": code, "version": version})
                    return redirect("compliance:purpose", code=code, version=version)
            else:
                errors["action"] = _("Unknown action.")
        except DomainError as error:
            field = error.details.get("field", "action")
            errors[field] = (
                _("A personal-information impact assessment summary of at least 20 characters is required (PIPL Art. 55-56).")
                if field == "impact_assessment"
                else error.message
            )
        purpose.refresh_from_db()
    _present_purpose(purpose, _officer_names([purpose.approved_by]))
    lapse = diff = None
    if purpose.status == Purpose.DRAFT:
        lapse = consent_lapse_on_approval(draft=purpose)
        if lapse.current is not None:
            diff = purpose_diff(current=lapse.current, draft=purpose)
    return render(
        request,
        "console/purpose_detail.html",
        {"purpose": purpose, "errors": errors, "impact": impact, "lapse": lapse, "diff": diff},
        status=400 if errors else 200,
    )


# --- The audit browser -----------------------------------------------------------------------------


def _int(request, name: str) -> int | None:
    raw = (request.GET.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise DomainError(f"{name}: must be a whole number", details={"field": name})
    return int(raw)


def _browser_params(params):
    """The console's one Action box: a known action is matched exactly, anything else
    (``consent.``, ``release``) as a prefix, as the API's ``action_prefix``."""
    params = params.copy()
    action = (params.get("action") or "").strip()
    if action and action not in KNOWN_ACTIONS and not params.get("action_prefix"):
        params["action_prefix"] = action
        params.pop("action")
    return params


@require_GET
@officer_required
def audit_browser(request):
    error = None
    page = None
    try:
        filters = selectors.audit_filter_parse(_browser_params(request.GET))
        page = selectors.audit_event_page(filters=filters, before=_int(request, "before"), after=_int(request, "after"), size=PAGE_SIZE)
        query = filters.as_query()
        for event in page.events:
            event.sentence = event_sentence(event)
            event.raw = json.dumps(event_export_line(event), ensure_ascii=False, sort_keys=True, indent=1)
    except DomainError as exc:
        error, query = _error_text(exc), {}
    base = request.GET.copy()
    for name in ("before", "after"):
        base.pop(name, None)
    export_query = base.urlencode()
    return render(
        request,
        "console/audit_browser.html",
        {
            "page": page,
            "error": error,
            "query": request.GET,
            "filtered": bool(query),
            "actor_kinds": selectors.ACTOR_KINDS,
            "outcomes": selectors.OUTCOMES,
            "known_actions": KNOWN_ACTIONS,
            "older_url": f"?{base.urlencode()}&before={page.next_before}" if page and page.next_before else None,
            "newer_url": f"?{base.urlencode()}&after={page.newer_after}" if page and page.newer_after else None,
            "export_url": reverse("api:audit-export") + (f"?{_browser_params(base).urlencode()}" if export_query else ""),
            "subject": query.get("subject"),
            "action_text": request.GET.get("action") or request.GET.get("action_prefix") or "",
            "zone": selectors.filter_zone().key,
        },
        status=400 if error else 200,
    )


def _person_of(event) -> str | None:
    """The pseudonym of the person an event is by or about, if any."""
    if event.actor_kind == "consumer" and event.actor_id:
        return event.actor_id
    if event.target.startswith("consumer:"):
        return event.target.removeprefix("consumer:")
    subject = event.details.get("subject") if isinstance(event.details, dict) else None
    return subject if isinstance(subject, str) else None


@require_GET
@officer_required
def audit_event(request, seq: int):
    try:
        event = selectors.audit_event_get(seq=seq)
    except NotFound:
        raise Http404 from None
    head = selectors.tree_size_of_log()
    return render(
        request,
        "console/audit_event.html",
        {
            "event": event,
            "sentence": event_sentence(event),
            "person": _person_of(event),
            "details": json.dumps(event.details, indent=2, ensure_ascii=False, sort_keys=True),
            "hashed_time": format_time(event.time),
            "line": json.dumps(event_export_line(event), ensure_ascii=False, sort_keys=True),
            "previous": seq - 1 if seq > 1 else None,
            "next": seq + 1 if seq < head else None,
            "checkpoint": selectors.audit_checkpoint_latest(),
        },
    )


@require_GET
@officer_required
def audit_event_proof(request, seq: int):
    """The inclusion proof of one event against the latest checkpoint, as a file."""
    try:
        proof = selectors.audit_inclusion_proof(seq=seq)
    except DomainError:
        raise Http404 from None
    response = JsonResponse(proof, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="audit-proof-{seq}-of-{proof["tree_size"]}.json"'
    return response


# --- Verification -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@officer_required
def verify(request):
    if request.method == "POST":
        run = services.audit_verification_request(actor=request.actor)
        return redirect("compliance:verify-run", run_id=run.pk)
    runs = list(AuditVerificationRun.objects.all()[:20])
    return render(request, "console/verify.html", {"runs": runs, "names": _officer_names(run.requested_by for run in runs)})


def _verify_reason(result: dict) -> str:
    """The reason a run stopped, in the page's language: its template translated and
    filled with its parameters (runs stored before templates were kept show their text)."""
    template = result.get("reason_template")
    if template in reasons.TEMPLATES:
        return _(template) % result.get("reason_params", {})
    return result.get("reason") or ""


@require_GET
@officer_required
def verify_run(request, run_id: int):
    run = AuditVerificationRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404
    names = _officer_names([run.requested_by])
    return render(
        request,
        "console/verify_run.html",
        {"run": run, "requested_by": names.get(run.requested_by, run.requested_by), "reason": _verify_reason(run.result)},
    )


# --- Handing the log to an outside auditor ---------------------------------------------------------------


@require_GET
@officer_required
def auditor(request):
    checkpoints = Paginator(selectors.audit_checkpoints(), 20).get_page(request.GET.get("page"))
    return render(request, "console/auditor.html", {"checkpoint": selectors.audit_checkpoint_latest(), "checkpoints": checkpoints})


@require_GET
@officer_required
def checkpoint_download(request, checkpoint_id: int):
    checkpoint = selectors.audit_checkpoints().filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise Http404
    response = JsonResponse(checkpoint.envelope(), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="audit-checkpoint-{checkpoint.tree_size}.json"'
    return response


@require_POST
@officer_required
def checkpoint_sign(request):
    checkpoint, created = services.audit_checkpoint_sign()
    if created:
        messages.success(request, _("Signed a checkpoint for %(size)s events.") % {"size": checkpoint.tree_size})
    else:
        messages.info(
            request,
            _("The log did not grow since the latest checkpoint; it still vouches for all %(size)s events.")
            % {"size": checkpoint.tree_size},
        )
    return redirect("compliance:auditor")


# --- Reports -------------------------------------------------------------------------------------------


REPORTS = [
    ("consent", gettext_noop("Consent grants and withdrawals")),
    ("releases", gettext_noop("Releases register")),
    ("budget", gettext_noop("Budget ledger")),
    ("refusals", gettext_noop("Refused and blocked attempts")),
    ("retention", gettext_noop("Retention purges and erasures")),
    ("requests", gettext_noop("Data-subject requests")),
]
BUCKETS = {"day": gettext_noop("day"), "week": gettext_noop("week"), "month": gettext_noop("month")}


@require_GET
@officer_required
def reports_index(request):
    return render(request, "console/reports.html", {"reports": [(slug, _(title)) for slug, title in REPORTS]})


SERIES_NAMES = {
    "granted": gettext_noop("Granted"),
    "withdrawn": gettext_noop("Withdrawn"),
    "expired": gettext_noop("Ended by the service (lapsed or retired)"),
    "consent_required": gettext_noop("No consent (intake)"),
    "not_necessary": gettext_noop("Field not necessary (intake)"),
    "cross_access_blocked": gettext_noop("Cross-platform access blocked"),
    "budget_exhausted": gettext_noop("Budget exhausted (release)"),
    "retention": gettext_noop("Retention purge"),
    "erasure_withdrawal": gettext_noop("Erasure after withdrawal"),
    "erasure_account": gettext_noop("Erasure of an account"),
    "export": gettext_noop("Export"),
    "account_erasure": gettext_noop("Account erasure"),
    "withdrawal_erasure": gettext_noop("Erasure after withdrawal"),
    "intake": gettext_noop("Signals refused at intake"),
    "cross_access": gettext_noop("Cross-platform access blocked"),
    "release": gettext_noop("Releases refused"),
    "consent": gettext_noop("Consent changes refused"),
    "link": gettext_noop("Link codes refused"),
    "login": gettext_noop("Portal logins refused"),
    "token": gettext_noop("API tokens refused"),
    "passkey": gettext_noop("Passkey sign-ins refused"),
    "signup": gettext_noop("Sign-ups refused"),
    "recovery": gettext_noop("Recovery codes and password changes refused"),
    "access": gettext_noop("Requests denied (401, 403, CSRF)"),
    "lockout": gettext_noop("Lockouts"),
    "cap": gettext_noop("Period cap"),
    "allocated": gettext_noop("Allocated"),
    "spent": gettext_noop("Spent"),
}


def _series(chart: reports.Chartable, *, only_seen: bool = False) -> list[charts.Series]:
    """The chart's lines; with ``only_seen``, those with anything in the range (all of them
    when none has): twelve flat lines at 0 hide the few that matter, and their columns made
    the numbers table wider than the page."""
    names = [name for name, values in chart.series.items() if not only_seen or any(values)] or list(chart.series)
    return [charts.Series(label=_(SERIES_NAMES.get(name, name)), values=list(chart.series[name])) for name in names]


@require_GET
@officer_required
def report(request, slug: str):
    titles = dict(REPORTS)
    if slug not in titles:
        raise Http404
    try:
        period = reports.report_period_parse(request.GET)
    except DomainError as error:
        return render(request, "console/report_error.html", {"title": _(titles[slug]), "error": _error_text(error)}, status=400)
    context = {
        "slug": slug,
        "title": _(titles[slug]),
        "period": period,
        "bucket": _(BUCKETS[period.bucket]),
        "period_since": period.since.isoformat(),
        "period_until": period.until.isoformat(),
    }
    if slug == "consent":
        results = reports.consent_report(period=period)
        context["sections"] = [
            {
                "heading": code,
                "chart": charts.grouped_bars(
                    title=_("Consent changes for %(purpose)s") % {"purpose": code},
                    description=_("Grants, withdrawals and consents the service ended per %(bucket)s")
                    % {"bucket": _(BUCKETS[period.bucket])},
                    categories=chart.labels,
                    groups=_series(chart),
                    value_label="",
                ),
                "totals": chart.totals,
            }
            for code, chart in results.items()
        ]
    elif slug == "releases":
        chart = reports.releases_register(period=period)
        context.update(
            chart=charts.stacked_bars(
                title=_("ε spent by releases"),
                description=_("Sum of ε of completed releases per purpose and %(bucket)s") % {"bucket": _(BUCKETS[period.bucket])},
                categories=chart.labels,
                stacks=_series(chart),
                value_label="ε",
            ),
            rows=chart.rows,
            totals=chart.totals,
        )
    elif slug == "budget":
        chart = reports.budget_ledger()
        context.update(
            chart=charts.grouped_bars(
                title=_("Privacy budget per purpose and period"),
                description=_("Cap, allocated and spent ε"),
                categories=chart.labels,
                groups=_series(chart),
                value_label="ε",
                x_label=_("Purpose and period"),
            )
            if chart.rows
            else None,
            rows=chart.rows,
            over_allocated=chart.totals["over_allocated"],
            period=None,
        )
    elif slug == "refusals":
        chart = reports.refusals_report(period=period)
        context.update(
            chart=charts.lines_with_band(
                title=_("Refused and blocked attempts"),
                description=_("Counts per %(bucket)s of the kinds with any in this range; the table below lists every kind.")
                % {"bucket": _(BUCKETS[period.bucket])},
                x_labels=chart.labels,
                series=_series(chart, only_seen=True),
                value_label="",
            ),
            totals={_(SERIES_NAMES[family]): sum(codes.values()) for family, codes in chart.totals.items()},
            codes=[(_(SERIES_NAMES[row["family"]]), row["code"], row["count"]) for row in chart.rows],
        )
    elif slug == "retention":
        chart = reports.retention_report(period=period)
        context.update(
            chart=charts.stacked_bars(
                title=_("Signals deleted"),
                description=_("Signals deleted by retention purges and erasures per %(bucket)s") % {"bucket": _(BUCKETS[period.bucket])},
                categories=chart.labels,
                stacks=_series(chart),
                value_label="",
            ),
            rows=chart.rows,
            totals={_(SERIES_NAMES[name]): value for name, value in chart.totals.items()},
            kinds=SERIES_NAMES,
        )
    else:
        chart = reports.subject_requests_report(period=period)
        context.update(
            chart=charts.stacked_bars(
                title=_("Data-subject requests"),
                description=_("Exports and erasures per %(bucket)s") % {"bucket": _(BUCKETS[period.bucket])},
                categories=chart.labels,
                stacks=_series(chart),
                value_label="",
            ),
            rows=chart.rows,
            totals=chart.totals,
            kinds=SERIES_NAMES,
        )
    return render(request, f"console/report_{slug}.html", context)


@require_GET
@officer_required
def report_download(request, slug: str, fmt: str):
    """The report as CSV or as a signed JSON document (tools/verify_report.py); the
    same period as the page."""
    if slug not in dict(REPORTS):
        raise Http404
    try:
        period = reports.report_period_parse(request.GET)
    except DomainError as error:
        return render(request, "console/report_error.html", {"title": _(dict(REPORTS)[slug]), "error": _error_text(error)}, status=400)
    stamp = "all" if slug == "budget" else f"{period.since.isoformat()}-{period.until.isoformat()}"
    if fmt == "json":
        document = exports.report_export_json(slug=slug, period=period, actor=request.actor)
        response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8")
    else:
        text = exports.report_export_csv(slug=slug, period=period, actor=request.actor)
        # A byte-order mark so that spreadsheet programs read the Chinese text as UTF-8.
        response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="report-{slug}-{stamp}.{fmt}"'
    return response


# --- Record of processing activities --------------------------------------------------------------------


@require_GET
@officer_required
def processing_records(request):
    document = ropa.processing_records()
    names = _officer_names(item["impact_assessment"]["approved_by"] for item in document["activities"])
    return render(request, "console/ropa.html", {"document": document, "names": names})


@require_GET
@officer_required
def processing_records_download(request, fmt: str):
    document = ropa.processing_records()
    stamp = document["generated_at"][:10]
    if fmt == "json":
        response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8")
    else:
        # A byte-order mark so that spreadsheet programs read the Chinese text as UTF-8.
        response = HttpResponse("\ufeff" + ropa.processing_records_csv(document), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="record-of-processing-{stamp}.{fmt}"'
    return response
