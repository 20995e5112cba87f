"""The consumer portal. Views translate between HTTP and the services and selectors;
the decisions (who may see what, what a consent means) live there."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from functools import wraps
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clearinghouse.accounts import recovery as account_recovery
from clearinghouse.accounts import selectors as account_selectors
from clearinghouse.accounts import services as account_services
from clearinghouse.accounts.models import Platform
from clearinghouse.api.actors import request_actor
from clearinghouse.api.addresses import client_address
from clearinghouse.audit import selectors as audit_selectors
from clearinghouse.audit.denials import denial_record
from clearinghouse.consent import selectors as consent_selectors
from clearinghouse.consent.models import ConsentEvent
from clearinghouse.consent.services import ConsentRequest, consent_change, consent_withdraw_all
from clearinghouse.core.crypto import published_keys
from clearinghouse.core.errors import Conflict, DomainError, Invalid, NotFound, TooManyRequests
from clearinghouse.core.operator import controller_name
from clearinghouse.intake import selectors as intake_selectors
from clearinghouse.portal import presentation as words
from clearinghouse.portal import selectors as portal_selectors
from clearinghouse.portal.forms import ConsentChangeForm, EraseConfirmForm, LinkCodeForm, LoginForm, SignupForm
from clearinghouse.releases.selectors import privacy_loss_statement
from clearinghouse.subjects import services as subject_services

# --- Access --------------------------------------------------------------------------------


def _officer_home() -> str | None:
    try:
        return reverse("compliance:home")
    except NoReverseMatch:
        return None


def _staff_home(user) -> str | None:
    """A manufacturer's staff member who came to the portal goes to the workbench."""
    if account_selectors.manufacturer_of_staff(user=user) is None:
        return None
    try:
        return reverse("workbench:home")
    except NoReverseMatch:
        return None


def consumer_required(view):
    """Anonymous people go to the login page; a logged-in person who is not a consumer
    (a compliance officer, an operator) is sent to their own console or told plainly
    that these pages are for consumers. ``request.consumer`` is the caller's own row and
    every query below is scoped to it."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return auth_views.redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        actor = request_actor(request)
        if actor.kind != "consumer":
            home = _officer_home() if actor.kind == "compliance" else _staff_home(request.user)
            if home:
                return redirect(home)
            denial_record(request=request, reason="forbidden", status=403)
            return render(request, "portal/not_consumer.html", status=403)
        consumer = account_selectors.consumer_for_user(user=request.user)
        if consumer is None:
            logout(request)
            return auth_views.redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        request.consumer = consumer
        return view(request, *args, **kwargs)

    return wrapper


# When this session logged in with a passkey (epoch seconds): for a few minutes after, the
# password is not asked again before erasure, a password change or new recovery codes (the
# person may have come back with a passkey precisely because they forgot it).
PASSKEY_AT_KEY = "portal_passkey_at"
PASSKEY_FRESH_SECONDS = 10 * 60


def passkey_login_is_fresh(request) -> bool:
    at = request.session.get(PASSKEY_AT_KEY)
    return isinstance(at, int | float) and 0 <= time.time() - at <= PASSKEY_FRESH_SECONDS


# --- Sign up, log in, log out --------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {"session_minutes": settings.SESSION_COOKIE_AGE // 60}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response

    def get_default_redirect_url(self):
        if request_actor(self.request).kind == "compliance" and _officer_home():
            return _officer_home()
        return _staff_home(self.request.user) or super().get_default_redirect_url()


class LogoutView(auth_views.LogoutView):
    # Django's LogoutView accepts POST only, so a link or an image cannot log anyone out.
    pass


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.consumer_register(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                age_confirmed=True,
                channel="portal",
                address=client_address(request),
            )
        except TooManyRequests as error:
            form.add_error(None, _("Too many tries with usernames that are taken. Please wait a few minutes and try again."))
            response = render(request, "portal/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(error.details["retry_after_seconds"])
            return response
        except Conflict as error:
            if error.code != "username_taken":
                raise
            form.add_error("username", _("This username is taken. Please choose another."))
        except Invalid as error:
            form.add_error(error.details.get("field") if error.details.get("field") in form.fields else None, error.message)
        else:
            user = authenticate(request, username=form.cleaned_data["username"], password=form.cleaned_data["password1"])
            login(request, user)
            messages.success(
                request,
                _("Welcome! Your account is ready. Nothing is shared until you say so: every switch starts off."),
            )
            # First stop: the recovery codes, shown once. We hold no phone or e-mail, so
            # these (or a passkey) are how a forgotten password is survived.
            request.session["portal_fresh_recovery_codes"] = account_recovery.recovery_codes_issue(
                consumer=account_selectors.consumer_for_user(user=user), channel="portal"
            )
            return HttpResponseRedirect(reverse("portal:recovery-codes") + "?welcome=1")
    if form.has_error("age", code="under_14"):
        form = form.without_input()
    return render(request, "portal/signup.html", {"form": form}, status=400 if form.errors else 200)


# --- Dashboard and consent -----------------------------------------------------------------


@require_GET
@consumer_required
def dashboard(request):
    language = words.page_language()
    grid = portal_selectors.home_grid(consumer=request.consumer, language=language)
    done = _own_event(request, request.GET["done"], missing_ok=True) if request.GET.get("done") else None
    return render(
        request,
        "portal/dashboard.html",
        {
            "grid": grid,
            "unlinked_names": words.word_list([platform.name for platform in grid.unlinked]),
            "withdrawn_all": _withdrawn_all_take(request, language),
            "done": done,
            "done_title": words.in_language(done.purpose.title, language) if done else "",
        },
    )


_CONSENT_ERRORS = {
    "notice_changed": gettext_lazy(
        "A new version of this purpose was approved since this page was shown. Please read it and choose again."
    ),
    "purpose_not_approved": gettext_lazy("This purpose is no longer open for consent. Nothing was changed."),
}


@require_POST
@consumer_required
def consent_update(request):
    form = ConsentChangeForm(request.POST)
    if not form.is_valid():
        raise Http404()
    data = form.cleaned_data
    anchor = f"#purpose-{data['purpose']}"
    try:
        event = consent_change(
            consumer=request.consumer,
            request=ConsentRequest(
                purpose_code=data["purpose"],
                platform_slug=data["platform"],
                action=data["action"],
                version=data["version"],
                notice_digest=data["notice_digest"] or None,
                language=words.page_language(),
            ),
            channel="portal",
            actor=request_actor(request),
        )
    except DomainError as error:
        if error.code in ("unknown_purpose", "unknown_platform"):
            raise Http404() from None
        messages.error(request, str(_CONSENT_ERRORS.get(error.code, error.message)))
        return HttpResponseRedirect(reverse("portal:dashboard") + anchor)
    return HttpResponseRedirect(f"{reverse('portal:dashboard')}?done={event.receipt_id}{anchor}")


# Receipt ids of a "withdraw everything", kept for one display on the dashboard.
_WITHDRAWN_ALL_KEY = "portal_withdrawn_all"


@require_POST
@consumer_required
def consent_withdraw_everything(request):
    """One action ends every consent still given, with one signed receipt per consent."""
    events = consent_withdraw_all(consumer=request.consumer, channel="portal", actor=request_actor(request), language=words.page_language())
    request.session[_WITHDRAWN_ALL_KEY] = [str(event.receipt_id) for event in events]
    return HttpResponseRedirect(reverse("portal:dashboard") + "#withdrawn-all")


def _withdrawn_all_take(request, language: str) -> list[dict] | None:
    ids = request.session.pop(_WITHDRAWN_ALL_KEY, None)
    if not isinstance(ids, list):
        return None
    events = ConsentEvent.objects.select_related("purpose", "platform").filter(consumer=request.consumer, receipt_id__in=ids)
    return [
        {"event": event, "title": words.in_language(event.purpose.title, language)}
        for event in sorted(events, key=lambda e: (e.purpose.code, e.platform.name))
    ]


def _own_event(request, receipt_id: str, *, missing_ok: bool = False) -> ConsentEvent | None:
    """One of the caller's own consent events; anyone else's answers exactly like a
    receipt that does not exist."""
    try:
        receipt_uuid = UUID(str(receipt_id))
    except ValueError:
        receipt_uuid = None
    event = (
        ConsentEvent.objects.select_related("purpose", "platform").filter(consumer=request.consumer, receipt_id=receipt_uuid).first()
        if receipt_uuid
        else None
    )
    if event is None and not missing_ok:
        raise Http404()
    return event


@require_GET
@consumer_required
def history(request):
    language = words.page_language()
    events = list(reversed(consent_selectors.consent_events_list(consumer=request.consumer)))
    rows = [
        {
            "event": event,
            "title": words.in_language(event.purpose.title, language),
            "granted": event.action == ConsentEvent.GRANT,
        }
        for event in events
    ]
    return render(request, "portal/history.html", {"rows": rows})


_RECEIPT_STATES = {
    "granted": gettext_lazy("You allowed it"),
    "withdrawn": gettext_lazy("You withdrew it"),
    "expired": gettext_lazy("Ended by the service"),
}
_ENDED_BECAUSE = {
    ConsentEvent.PURPOSE_RETIRED: gettext_lazy("the purpose was retired"),
    ConsentEvent.PURPOSE_SUPERSEDED: gettext_lazy("a new version replaced it"),
}


@require_GET
@consumer_required
def receipt_page(request, receipt_id):
    """A receipt for people: printable, in the page's language, and checked in the browser
    against the published key (WebCrypto Ed25519; no Python needed)."""
    event = _own_event(request, receipt_id)
    payload = event.receipt["payload"]
    language = words.page_language()
    ended = payload.get("ended_because") or {}
    try:
        audit = audit_selectors.audit_receipt_status(subject=str(event.consumer.pseudonym), receipt_id=str(event.receipt_id))
    except DomainError:
        audit = None  # a receipt from before the log recorded receipt ids
    return render(
        request,
        "portal/receipt.html",
        {
            "event": event,
            "payload": payload,
            "state": _RECEIPT_STATES.get(payload.get("state"), payload.get("state")),
            "ended_because": _ENDED_BECAUSE.get(ended.get("code"), ""),
            "title": words.in_language(event.purpose.title, language),
            "fields": [words.field_label(code) for code in payload.get("data_categories", [])],
            "sectors": words.word_list([words.sector_label(code) for code in payload.get("recipients", {}).get("sectors", [])]),
            "issued_at": words.parse_moment(payload.get("issued_at")),
            "keys_url": reverse("api:keys"),
            "qr": words.signed_qr_svg(event.receipt, id_field="receipt_id"),
            "audit": audit,
            "audit_event": payload.get("audit_event") or {},
        },
    )


@require_GET
@consumer_required
def receipt_download(request, receipt_id):
    event = _own_event(request, receipt_id)
    body = json.dumps(event.receipt, ensure_ascii=False, indent=2, sort_keys=True)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{event.receipt_id}.json"'
    return response


@require_GET
@consumer_required
def receipt_proof_download(request, receipt_id):
    """Proof that the audit log records this receipt (issue 15): the audit event's
    inclusion proof against a (witnessed) checkpoint, for tools/audit_verify.py."""
    event = _own_event(request, receipt_id)
    try:
        proof = audit_selectors.audit_receipt_proof(subject=str(event.consumer.pseudonym), receipt_id=str(event.receipt_id))
    except DomainError as error:
        retry_after = parse_datetime(error.details.get("retry_after") or "")
        if retry_after is None:
            messages.info(request, _("The audit log does not cover this receipt yet; try again later."))
        else:
            messages.info(
                request,
                _("No witnessed checkpoint of the audit log covers this receipt yet. Come back after %(time)s.")
                % {"time": date_format(timezone.localtime(retry_after), "DATETIME_FORMAT")},
            )
        return redirect("portal:receipt-page", receipt_id=event.receipt_id)
    response = HttpResponse(json.dumps(proof, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consent-receipt-{event.receipt_id}-audit-proof.json"'
    return response


@require_GET
def trust(request):
    """Before login: who runs the service, how it works, whom to contact and complain to,
    and the latest signed audit checkpoint with the log's last verification."""
    checkpoint = audit_selectors.audit_checkpoint_latest()
    verification = audit_selectors.audit_last_verification()
    return render(
        request,
        "portal/trust.html",
        {
            "operator": words.operator_in_language(settings.CH_OPERATOR),
            "operator_name": controller_name(language=words.page_language(), details=settings.CH_OPERATOR),
            "checkpoint": checkpoint,
            "checkpoint_json": json.dumps(checkpoint.envelope(), ensure_ascii=False, indent=2, sort_keys=True) if checkpoint else "",
            "verification": verification,
            "verification_ok": verification is not None and verification.outcome == "ok",
            "verification_checked": (verification.details or {}).get("checked") if verification else None,
            "session_minutes": settings.SESSION_COOKIE_AGE // 60,
        },
    )


@require_GET
def verify(request):
    keys = [key for key in published_keys() if key["use"] == "receipts"]
    return render(request, "portal/verify.html", {"keys": keys, "keys_url": request.build_absolute_uri(reverse("api:keys"))})


# --- Platforms -----------------------------------------------------------------------------


# The session key holding a freshly issued link code until the platforms page has shown it
# once. The code is a credential, so it never travels in a URL.
_ISSUED_CODE_KEY = "portal_issued_link_code"


def _issued_code_take(request) -> dict | None:
    """The code issued just before this request, removed from the session as it is read so
    that a reload or the back button never shows it again."""
    issued = request.session.pop(_ISSUED_CODE_KEY, None)
    if not isinstance(issued, dict):
        return None
    expires_at = words.parse_moment(issued.get("expires_at"))
    platform = Platform.objects.filter(slug=issued.get("platform")).first()
    if platform is None or expires_at is None or expires_at <= timezone.now():
        return None
    return {"code": issued.get("code"), "expires_at": expires_at, "platform": platform}


def _platforms_context(consumer, *, issued=None) -> dict:
    links = {link.platform_id: link for link in account_selectors.consumer_links_list(consumer=consumer)}
    platforms = [{"platform": platform, "link": links.get(platform.id)} for platform in Platform.objects.order_by("name")]
    return {"platforms": platforms, "issued": issued, "code_minutes": int(settings.LINK_CODE_TTL.total_seconds() // 60)}


@require_GET
@consumer_required
def platforms(request):
    issued = _issued_code_take(request)
    response = render(request, "portal/platforms.html", _platforms_context(request.consumer, issued=issued))
    if issued:
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@consumer_required
def link_code(request):
    if request.method == "GET":
        # Someone reloading or bookmarking the address of the old form post: the page they
        # want is the list, and a GET must not issue (and so invalidate) a code.
        return redirect("portal:platforms")
    form = LinkCodeForm(request.POST)
    if not form.is_valid():
        raise Http404()
    try:
        code, expires_at = account_services.link_code_issue(
            consumer=request.consumer, platform_slug=form.cleaned_data["platform"], actor=request_actor(request)
        )
    except Invalid:
        raise Http404() from None
    # Post/redirect/get: reloading the page that shows the code must not post again (that
    # would issue a new code and void this one). The code waits in the server-side session
    # for one display; it is stored elsewhere only as a hash.
    request.session[_ISSUED_CODE_KEY] = {
        "code": code,
        "platform": form.cleaned_data["platform"],
        "expires_at": expires_at.isoformat(),
    }
    return HttpResponseRedirect(reverse("portal:platforms") + "#issued")


@require_POST
@consumer_required
def link_remove(request, platform_slug):
    try:
        account_services.platform_link_delete(consumer=request.consumer, platform_slug=platform_slug, actor=request_actor(request))
    except NotFound:
        raise Http404() from None
    platform = Platform.objects.get(slug=platform_slug)
    messages.success(
        request,
        _(
            "%(platform)s is no longer linked: it can no longer send us anything about you. Your consents are unchanged; "
            "withdraw them on “My consents” if you also want the data it already sent deleted."
        )
        % {"platform": platform.name},
    )
    return redirect("portal:platforms")


# --- Privacy loss --------------------------------------------------------------------------

MEASURE_LABELS = {
    "consumers": gettext_lazy("how many people"),
    "signals": gettext_lazy("how many actions"),
    "sum_value": gettext_lazy("total score"),
    "mean_value": gettext_lazy("average score"),
    "top_k": gettext_lazy("most wanted features"),
}


def _privacy_statement(consumer) -> dict:
    return privacy_loss_statement(consumer=consumer)


@require_GET
@consumer_required
def privacy_loss(request):
    statement = _privacy_statement(request.consumer)
    language = words.page_language()
    window_days = int(statement.get("window_days") or 365)
    now = timezone.now()
    window_start = now - timedelta(days=window_days)
    titles = {item["purpose"]: words.in_language(item.get("title"), language) for item in statement["purposes"]}
    described = portal_selectors.charge_descriptions(release_ids=[c["release_id"] for c in statement["charges"]], language=language)
    charges = sorted(
        (
            {
                "release_id": charge["release_id"],
                "purpose": titles.get(charge["purpose"], charge["purpose"]),
                "purpose_code": charge["purpose"],
                "manufacturer": charge["manufacturer"],  # the statement already names it
                # What was asked, in plain words (releases.wording); the bare measure only
                # for a job that can no longer be read.
                "measure": described.get(charge["release_id"])
                or (str(MEASURE_LABELS[charge["measure"]]) if charge["measure"] in MEASURE_LABELS else charge["measure"]),
                "epsilon": words.decimal_or_zero(charge["epsilon"]),
                "epsilon_text": words.epsilon_text(charge["epsilon"]),
                "charged_at": words.parse_moment(charge["charged_at"]),
            }
            for charge in statement["charges"]
        ),
        key=lambda c: (c["charged_at"] or now, str(c["release_id"])),
    )
    per_purpose: dict[str, list] = defaultdict(list)
    for charge in charges:
        if charge["charged_at"] and charge["charged_at"] >= window_start:
            per_purpose[charge["purpose_code"]].append(charge)
    series, purposes = [], []
    for item in statement["purposes"]:
        cap = words.decimal_or_zero(item["cap"])
        spent = words.decimal_or_zero(item["spent_in_window"])
        running, points = Decimal(0), []
        for charge in per_purpose.get(item["purpose"], []):
            running += charge["epsilon"]
            points.append((charge["charged_at"], running))
        series.append(words.ChartSeries(label=titles[item["purpose"]], cap=cap, points=points))
        purposes.append(
            {
                "title": titles[item["purpose"]],
                "cap": words.epsilon_text(cap),
                "spent": words.epsilon_text(spent),
                "remaining": words.epsilon_text(item["remaining"]),
                "percent": int(min(spent / cap, Decimal(1)) * 100) if cap else 0,
            }
        )
    chart = words.privacy_loss_chart(series=series, window_days=window_days, now=now) if purposes else None
    return render(
        request,
        "portal/privacy_loss.html",
        {
            "window_days": window_days,
            "purposes": purposes,
            "charges": list(reversed(charges)),
            "total": words.epsilon_text(statement.get("total_epsilon")),
            "chart": chart,
        },
    )


# --- My data -------------------------------------------------------------------------------


@require_GET
@consumer_required
def my_data(request):
    language = words.page_language()
    return render(
        request,
        "portal/my_data.html",
        {
            "joined": request.consumer.created_at,
            "holdings": portal_selectors.my_data_holdings(consumer=request.consumer, language=language),
            "certificates": [
                portal_selectors.certificate_view(envelope=erasure.certificate, language=language)
                for erasure in intake_selectors.consumer_certificates_list(consumer=request.consumer)
            ],
            "timeline": portal_selectors.timeline_list(consumer=request.consumer, language=language),
        },
    )


def _certificate_response(envelope: dict) -> HttpResponse:
    body = json.dumps(envelope, ensure_ascii=False, indent=2, sort_keys=True)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="erasure-certificate-{envelope["payload"]["certificate_id"]}.json"'
    response["Cache-Control"] = "no-store"
    return response


def _own_certificate(request, certificate_id) -> dict:
    try:
        envelope = intake_selectors.consumer_certificate_get(consumer=request.consumer, certificate_id=certificate_id).certificate
    except NotFound:
        raise Http404() from None
    if envelope is None:
        raise Http404()
    return envelope


@require_GET
@consumer_required
def certificate_page(request, certificate_id):
    """An erasure certificate for people: printable, in the page's language, with a QR
    code and checked in the browser against the published key, like a receipt."""
    envelope = _own_certificate(request, certificate_id)
    context = portal_selectors.certificate_view(envelope=envelope, language=words.page_language())
    return render(
        request,
        "portal/certificate.html",
        {
            "certificate": context,
            "download_url": reverse("portal:certificate", args=[envelope["payload"]["certificate_id"]]),
            "keys_url": reverse("api:keys"),
        },
    )


@require_GET
@consumer_required
def certificate_download(request, certificate_id):
    return _certificate_response(_own_certificate(request, certificate_id))


@require_GET
@consumer_required
def export(request):
    document = subject_services.consumer_export_issue(consumer=request.consumer, actor=request_actor(request), channel="portal")
    body = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="clearinghouse-my-data-{stamp}.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@consumer_required
def erase(request):
    form = EraseConfirmForm(request.POST or None, user=request.user, request=request, password_required=not passkey_login_is_fresh(request))
    if request.method == "POST" and form.is_valid():
        erased = subject_services.consumer_erase(
            consumer=request.consumer, actor=request_actor(request), channel="portal", language=words.page_language()
        )
        logout(request)
        # The certificate waits in the new, anonymous session for the goodbye page: with the
        # account gone, nothing else could fetch it.
        request.session[_ERASURE_CERTIFICATE_KEY] = erased["certificate"]
        return redirect("portal:erased")
    locked = form.has_error("password", code="throttled")
    return render(request, "portal/erase.html", {"form": form}, status=429 if locked else 400 if form.errors else 200)


_ERASURE_CERTIFICATE_KEY = "portal_erasure_certificate"


@require_GET
def erased(request):
    envelope = request.session.get(_ERASURE_CERTIFICATE_KEY)
    certificate = (
        portal_selectors.certificate_view(envelope=envelope, language=words.page_language()) if isinstance(envelope, dict) else None
    )
    response = render(
        request,
        "portal/erased.html",
        {"certificate": certificate, "download_url": reverse("portal:erased-certificate"), "keys_url": reverse("api:keys")},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def erased_certificate_download(request):
    envelope = request.session.get(_ERASURE_CERTIFICATE_KEY)
    if not isinstance(envelope, dict):
        raise Http404()
    return _certificate_response(envelope)


def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW: a plain explanation instead of Django's technical page.
    The API keeps DRF's JSON error (it enforces CSRF itself for session-authenticated calls)."""
    denial_record(request=request, reason="csrf", status=403)
    return render(request, "portal/csrf_failure.html", status=403)
