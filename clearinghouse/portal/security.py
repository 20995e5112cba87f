"""Portal pages for getting back in without personal data (issue 14): recovery codes,
password change, passkeys. The decisions live in accounts.recovery and accounts.passkeys;
these views translate HTTP, keep the WebAuthn challenge in the server-side session and
show a fresh set of codes exactly once (post/redirect/get, never in a URL)."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clearinghouse.accounts import passkeys as passkey_services
from clearinghouse.accounts import recovery as recovery_services
from clearinghouse.accounts.lockout import login_failure_count, login_lock_remaining, login_success_count
from clearinghouse.core.errors import Invalid, NotFound
from clearinghouse.portal.forms import ConfirmItIsYouForm, PasswordChangeForm, RecoverForm, client_address
from clearinghouse.portal.views import PASSKEY_AT_KEY, consumer_required, passkey_login_is_fresh

# A fresh set of recovery codes waits here for its one display.
_FRESH_CODES_KEY = "portal_fresh_recovery_codes"
_CHALLENGE_KEY = "portal_webauthn_challenge"
# The project's one backend (case-insensitive usernames): a session names it.
_BACKEND = "clearinghouse.accounts.backends.UsernameModelBackend"


def recovery_codes_issue_and_show(request, consumer) -> HttpResponse:
    """Issue a set, keep it in the session for one display and send the browser there."""
    request.session[_FRESH_CODES_KEY] = recovery_services.recovery_codes_issue(consumer=consumer, channel="portal")
    return redirect("portal:recovery-codes")


# --- Recovery codes --------------------------------------------------------------------------


@require_GET
@consumer_required
def recovery_codes(request):
    codes = request.session.pop(_FRESH_CODES_KEY, None)
    if not isinstance(codes, list):
        return redirect(reverse("portal:settings") + "#recovery")
    response = render(
        request,
        "portal/recovery_codes.html",
        {"codes": codes, "username": request.user.get_username(), "first_time": request.GET.get("welcome") == "1"},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@consumer_required
def recovery_codes_regenerate(request):
    form = ConfirmItIsYouForm(request.POST, user=request.user, request=request, password_required=not passkey_login_is_fresh(request))
    if not form.is_valid():
        return _settings_page(request, confirm_form=form, status=400)
    return recovery_codes_issue_and_show(request, request.consumer)


@require_http_methods(["GET", "POST"])
def recover(request):
    """Forgot the password: a recovery code sets a new one and logs the person in."""
    form = RecoverForm(request.POST or None, request=request)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = recovery_services.recovery_code_redeem(
                    username=data["username"], code=data["code"], new_password=data["new_password1"], channel="portal"
                )
            except Invalid as error:
                login_failure_count(username=data["username"], address=client_address(request), channel="portal-recover")
                message = (
                    _("The username or recovery code is not right. Check them and try again.")
                    if error.code == "invalid_recovery_code"
                    else error.message
                )
                form = form.refused(message)
            else:
                login_success_count(username=data["username"], address=client_address(request))
                login(request, user, backend=_BACKEND)
                left = recovery_services.recovery_codes_left(user=user)
                messages.success(
                    request,
                    _(
                        "You are back in and your new password is set. That recovery code is now used up; "
                        "%(left)s codes are left. You can make a new set in Settings."
                    )
                    % {"left": left},
                )
                return redirect("portal:settings")
        elif form.throttled:
            form = form.refused(form.non_field_errors()[0])
            status = 429
        else:
            # A problem with the new password: the code was not checked (nor spent), and is
            # not shown back either.
            form.data = form.data.copy()
            form.data["code"] = ""
        status = status if status != 200 else 400
    response = render(request, "portal/recover.html", {"form": form}, status=status)
    response["Cache-Control"] = "no-store"
    return response


# --- Settings and password ------------------------------------------------------------------


def _settings_page(request, *, password_form=None, confirm_form=None, status=200):
    fresh = passkey_login_is_fresh(request)
    password_form = password_form or PasswordChangeForm(user=request.user, current_required=not fresh)
    confirm_form = confirm_form or ConfirmItIsYouForm(user=request.user, request=request, password_required=not fresh)
    return render(
        request,
        "portal/settings.html",
        {
            "password_form": password_form,
            "confirm_form": confirm_form,
            "codes_left": recovery_services.recovery_codes_left(user=request.user),
            "passkeys": passkey_services.passkeys_list(user=request.user),
            "passkey_fresh": fresh,
        },
        status=status,
    )


@require_GET
@consumer_required
def settings_page(request):
    return _settings_page(request)


@require_POST
@consumer_required
def password_change(request):
    fresh = passkey_login_is_fresh(request)
    form = PasswordChangeForm(request.POST, user=request.user, current_required=not fresh)
    if not form.is_valid():
        if form.has_error("current_password"):
            reason = "throttled" if form.has_error("current_password", code="throttled") else "wrong_password"
            recovery_services.password_change_refuse(consumer=request.consumer, reason=reason)
        # Nothing typed is shown back: password fields never are.
        return _settings_page(request, password_form=form, status=400)
    user = recovery_services.password_change(
        consumer=request.consumer, new_password=form.cleaned_data["new_password1"], proof="passkey" if fresh else "password"
    )
    # Stay logged in here; every other browser logged in as this person is logged out.
    update_session_auth_hash(request, user)
    messages.success(request, _("Your password is changed. Other browsers where you were logged in have been logged out."))
    return redirect("portal:settings")


# --- Passkeys -------------------------------------------------------------------------------


def _relying_party(request) -> passkey_services.RelyingParty:
    host = request.get_host().rsplit(":", 1)[0] if not request.get_host().startswith("[") else request.get_host()
    rp_id = settings.CH_WEBAUTHN_RP_ID or host
    origin = f"{request.scheme}://{request.get_host()}"
    return passkey_services.RelyingParty(id=rp_id, name=str(_("Clearinghouse")), origin=origin)


def _challenge_take(request, purpose: str) -> bytes | None:
    stored = request.session.pop(_CHALLENGE_KEY, None)
    if not isinstance(stored, dict) or stored.get("purpose") != purpose:
        return None
    if time.time() - stored.get("at", 0) > 300:
        return None
    return bytes.fromhex(stored.get("challenge", ""))


def _challenge_keep(request, purpose: str, challenge: bytes) -> None:
    request.session[_CHALLENGE_KEY] = {"purpose": purpose, "challenge": challenge.hex(), "at": time.time()}


def _credential_body(request) -> tuple[str, str]:
    try:
        body = json.loads(request.body or b"{}")
        credential = body["credential"]
    except (ValueError, KeyError, TypeError):
        return "", ""
    name = body.get("name") if isinstance(body.get("name"), str) else ""
    return json.dumps(credential), name


def _refused(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"ok": False, "message": message}, status=status)


@require_POST
@consumer_required
def passkey_register_options(request):
    options, challenge = passkey_services.passkey_registration_begin(consumer=request.consumer, rp=_relying_party(request))
    _challenge_keep(request, "register", challenge)
    return HttpResponse(options, content_type="application/json")


@require_POST
@consumer_required
def passkey_register(request):
    challenge = _challenge_take(request, "register")
    credential, name = _credential_body(request)
    if challenge is None or not credential:
        return _refused(_("That took too long or the page was old. Please try again."))
    try:
        passkey_services.passkey_registration_finish(
            consumer=request.consumer, rp=_relying_party(request), challenge=challenge, credential=credential, name=name
        )
    except Invalid:
        return _refused(_("The passkey was not accepted. Nothing was saved. Please try again."))
    messages.success(request, _("Your passkey is saved. Next time you can log in with it, without your password."))
    return JsonResponse({"ok": True, "next": reverse("portal:settings") + "#passkeys"})


@require_POST
def passkey_login_options(request):
    options, challenge = passkey_services.passkey_login_begin(rp=_relying_party(request))
    _challenge_keep(request, "login", challenge)
    return HttpResponse(options, content_type="application/json")


@require_POST
def passkey_login(request):
    address = client_address(request)
    # Throttled per address (there is no username to count): a tight count of its own for
    # passkey failures from this address, and the address count shared with password logins.
    throttle_name = f"passkey-login:{address}"
    if login_lock_remaining(username=throttle_name, address=address) is not None:
        return _refused(_("Too many failed attempts. Please wait a few minutes and try again."), status=429)
    challenge = _challenge_take(request, "login")
    credential, _name = _credential_body(request)
    if challenge is None or not credential:
        return _refused(_("That took too long or the page was old. Please try again."))
    try:
        user = passkey_services.passkey_login_finish(rp=_relying_party(request), challenge=challenge, credential=credential)
    except Invalid:
        login_failure_count(username=throttle_name, address=address, channel="portal-passkey")
        return _refused(_("This passkey was not accepted. Log in with your password or a recovery code instead."))
    login(request, user, backend=_BACKEND)
    request.session[PASSKEY_AT_KEY] = int(time.time())
    return JsonResponse({"ok": True, "next": reverse("portal:dashboard")})


@require_POST
@consumer_required
def passkey_remove(request, passkey_id: int):
    try:
        passkey_services.passkey_delete(consumer=request.consumer, passkey_id=passkey_id)
    except NotFound:
        raise Http404() from None
    messages.success(request, _("The passkey is removed. It can no longer be used to log in."))
    return redirect(reverse("portal:settings") + "#passkeys")
