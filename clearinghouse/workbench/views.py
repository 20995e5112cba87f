"""The manufacturers' workbench: server-rendered pages for a manufacturer's staff.

Views translate between HTTP and the same services and selectors the JSON API calls: the
catalogue (releases.selectors.catalog_for), the free plans (releases.preview,
reports.selectors, trends.selectors), the requests that reserve and queue a job
(releases/reports/trends services, audited there) and the reads of one's own jobs
(releases.services.release_read, which answers another manufacturer's job as 404 and
audits the attempt). Every page acts for ``request.manufacturer``, the logged-in
person's own manufacturer, and nothing else.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clearinghouse.accounts import selectors as account_selectors
from clearinghouse.audit.denials import denial_record
from clearinghouse.core.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from clearinghouse.releases import selectors as release_selectors
from clearinghouse.releases.budgets import period_of
from clearinghouse.releases.preview import release_plan_request
from clearinghouse.releases.services import release_read, release_request
from clearinghouse.reports.selectors import report_plan_preview
from clearinghouse.reports.services import report_request
from clearinghouse.trends.selectors import trend_plan_preview
from clearinghouse.trends.services import trend_request
from clearinghouse.workbench import presentation as words
from clearinghouse.workbench.forms import LoginForm, QuestionForm

PAGE_SIZE = 25


def staff_required(view):
    """Anonymous people go to the workbench's login; a logged-in person who does not work
    for a manufacturer (a consumer, an officer) is refused (403) and the refusal recorded."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return auth_views.redirect_to_login(request.get_full_path(), reverse("workbench:login"))
        manufacturer = account_selectors.manufacturer_of_staff(user=request.user)
        if manufacturer is None:
            denial_record(request=request, reason="forbidden", status=403)
            return render(request, "workbench/forbidden.html", status=403)
        request.manufacturer = manufacturer
        request.staff_actor = account_selectors.staff_actor(user=request.user, manufacturer=manufacturer)
        return view(request, *args, **kwargs)

    return wrapper


class LoginView(auth_views.LoginView):
    template_name = "workbench/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("workbench:home")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    # POST only (Django's default): a link or an image cannot log anyone out.
    def get_default_redirect_url(self):
        return reverse("workbench:login")


def _catalogue(request) -> list[dict[str, Any]]:
    return words.catalogue_entries(release_selectors.catalog_for(manufacturer=request.manufacturer))


# --- The catalogue --------------------------------------------------------------------------


@require_GET
@staff_required
def catalogue(request):
    return render(
        request,
        "workbench/catalogue.html",
        {"manufacturer": request.manufacturer, "entries": _catalogue(request), "period": words.month_words(period_of())},
    )


# --- Asking: plan for free, then run ---------------------------------------------------------

PLANNERS = {
    "release": lambda manufacturer, body: release_plan_request(manufacturer=manufacturer, body=body),
    "report": lambda manufacturer, body: report_plan_preview(manufacturer=manufacturer, body=body),
    "trend": lambda manufacturer, body: trend_plan_preview(manufacturer=manufacturer, body=body),
}
REQUESTS = {"release": release_request, "report": report_request, "trend": trend_request}


def _planned(request, form: QuestionForm, entries) -> words.PlanSummary | None:
    """The free plan of the form's question, or None with the service's refusal shown on
    the form. Spends, reserves and records nothing."""
    if not form.is_valid():
        return None
    kind = form.cleaned_data["kind"]
    try:
        plan = PLANNERS[kind](request.manufacturer, form.request_body())
    except Invalid as error:
        _refuse(form, error)
        return None
    except NotFound as error:
        _refuse(form, error, at="purpose")
        return None
    return words.plan_summary(kind=kind, plan=plan, labels=words.labels_of(entries))


def _refuse(form: QuestionForm, error: DomainError, *, at: str | None = None, above_form: bool = False) -> None:
    """Show a service's refusal on the form in the page's language (never its English
    ``message``): at the form's field it names, else at ``at``, or above the form."""
    field = form.field_for(error.details.get("field"))
    message = words.refusal_words(
        error,
        limits=form.entry["limits"] if form.entry else None,
        field=field,
        label=str(form.fields[field].label) if field else None,
    )
    form.add_error(None if above_form else field or form.field_for(at), message)


def _ask_page(request, form: QuestionForm, plan, *, status: int = 200):
    return render(
        request,
        "workbench/ask.html",
        {"form": form, "plan": plan, "kind": form.chosen_kind, "entry": form.entry},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_required
def ask(request):
    entries = _catalogue(request)
    if request.method == "GET":
        form = QuestionForm(request.GET or None, entries=entries, words=words.words())
        plan = _planned(request, form, entries) if request.GET else None
        return _ask_page(request, form, plan, status=200 if plan or not request.GET else 400)
    form = QuestionForm(request.POST, entries=entries, words=words.words())
    plan = _planned(request, form, entries)
    if plan is None:
        return _ask_page(request, form, None, status=400)
    if request.POST.get("action") != "run":
        return _ask_page(request, form, plan)
    kind = form.cleaned_data["kind"]
    try:
        job, created = REQUESTS[kind](manufacturer=request.manufacturer, body=form.request_body(), actor=request.staff_actor)
    except Invalid as error:
        _refuse(form, error)
        return _ask_page(request, form, plan, status=400)
    except Conflict as error:
        _refuse(form, error, above_form=True)
        return _ask_page(request, form, plan, status=409)
    except Unavailable as error:
        _refuse(form, error, above_form=True)
        return _ask_page(request, form, plan, status=503)
    if created:
        messages.success(request, _("Queued. Its budget is reserved; this page shows the answer when it is ready."))
    else:
        messages.info(request, _("You asked exactly this earlier this period: here is that answer, and nothing more was spent."))
    return redirect("workbench:job", job_id=job.id)


@require_POST
@staff_required
def plan_json(request):
    """The plan of the form as it stands, for the page's script (same session, CSRF): the
    summary and the plan's fragment of HTML, which the script swaps in."""
    entries = _catalogue(request)
    form = QuestionForm(request.POST, entries=entries, words=words.words())
    plan = _planned(request, form, entries)
    html = render_to_string("workbench/_plan.html", {"plan": plan, "form": form}, request=request)
    body: dict[str, Any] = {"ok": plan is not None, "html": html}
    if plan is not None:
        body["plan"] = plan.as_dict()
    else:
        body["errors"] = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
    return JsonResponse(body, status=200 if plan is not None else 400)


# --- Results --------------------------------------------------------------------------------


def _own_job(request, job_id):
    try:
        job = release_read(manufacturer=request.manufacturer, release_id=job_id, actor=request.staff_actor)
    except NotFound:
        raise Http404 from None
    return release_selectors.release_visible(job)


def _result(request, job) -> tuple[dict[str, Any] | None, list[words.ResultTable]]:
    if job.status != "done" or not job.result:
        return None, []
    payload = job.result["payload"]
    labels = words.labels_of(release_selectors.catalog_for(manufacturer=request.manufacturer))
    return payload, words.result_tables(payload=payload, labels=labels)


def _charted(job, tables: list[words.ResultTable]) -> list[words.ResultTable]:
    return words.tables_charted(tables=tables, value_label=str(words.MEASURE_AXIS.get(job.measure, job.measure)))


@require_GET
@staff_required
def job(request, job_id):
    job = _own_job(request, job_id)
    payload, tables = _result(request, job)
    titles = {entry["purpose"]: entry["display_title"] for entry in _catalogue(request)}
    return render(
        request,
        "workbench/job.html",
        {
            "job": job,
            "kind_words": words.KIND_WORDS.get(job.kind, job.kind),
            "status_words": words.STATUS_WORDS.get(job.status, job.status),
            "measure_words": words.MEASURE_WORDS.get(job.measure, job.measure),
            "payload": payload,
            "snapshot_at": parse_datetime(payload["snapshot_at"]) if payload and payload.get("snapshot_at") else None,
            "purpose_title": titles.get(job.purpose_code, job.purpose_code),
            "tables": _charted(job, tables),
            "privacy": words.privacy_words(payload) if payload else "",
            "reach": words.reach_words(payload) if payload else "",
            "envelope": job.result if payload else None,
            "keys_url": reverse("api:keys"),
            "waiting": job.status in ("queued", "running"),
        },
    )


@require_GET
@staff_required
def job_csv(request, job_id):
    job = _own_job(request, job_id)
    if job.status != "done" or not job.result:
        raise Http404
    response = HttpResponse(words.result_csv(payload=job.result["payload"]), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.kind}-{job.id}.csv"'
    return response


@require_GET
@staff_required
def job_json(request, job_id):
    """The signed document exactly as stored: {payload, signature, key_id, alg}."""
    job = _own_job(request, job_id)
    if job.status != "done" or not job.result:
        raise Http404
    response = HttpResponse(json.dumps(job.result, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{job.kind}-{job.id}.json"'
    return response


# --- History and budget -------------------------------------------------------------------


@require_GET
@staff_required
def history(request):
    page = Paginator(release_selectors.jobs_for(manufacturer=request.manufacturer), PAGE_SIZE).get_page(request.GET.get("page"))
    jobs = [release_selectors.release_visible(job) for job in page.object_list]
    rows = [
        {
            "job": job,
            "kind": words.KIND_WORDS.get(job.kind, job.kind),
            "status": words.STATUS_WORDS.get(job.status, job.status),
            "measure": words.MEASURE_WORDS.get(job.measure, job.measure),
        }
        for job in jobs
    ]
    return render(request, "workbench/history.html", {"rows": rows, "page": page})


@require_GET
@staff_required
def budget(request):
    overview = release_selectors.budget_overview(manufacturer=request.manufacturer)
    period = overview["period"]
    titles = {entry["purpose"]: entry["display_title"] for entry in _catalogue(request)}
    jobs = list(release_selectors.jobs_for(manufacturer=request.manufacturer, period=period))
    days = words.period_days(period)
    purposes = []
    for row in overview["budgets"]:
        if row["period"] != period:
            continue
        mine = [job for job in jobs if job.purpose_code == row["purpose"]]
        spent = words.spending_by_day(jobs=mine, days=days)
        title = titles.get(row["purpose"], row["purpose"])
        purposes.append(
            {
                "row": row,
                "title": title,
                "chart": words.budget_chart(title=title, days=days, spent=spent, allocated=Decimal(row["allocated"])),
                "days": [{"day": day, "spent": words.figure(total)} for day, total in zip(days, spent, strict=True)],
                "spent": spent,
                "jobs": [
                    # As visible: a done job reads "being computed" until its visible time.
                    {"job": job, "kind": words.KIND_WORDS.get(job.kind, job.kind), "status": words.STATUS_WORDS.get(job.status, job.status)}
                    for job in (release_selectors.release_visible(job) for job in sorted(mine, key=lambda job: job.created_at))
                ],
            }
        )
    earlier = [
        row | {"title": titles.get(row["purpose"], row["purpose"]), "month": words.month_words(row["period"])}
        for row in overview["budgets"]
        if row["period"] != period
    ]
    return render(
        request,
        "workbench/budget.html",
        {"period": words.month_words(period), "purposes": purposes, "earlier": earlier, "days": days},
    )
