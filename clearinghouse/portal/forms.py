from __future__ import annotations

import math

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from clearinghouse.accounts.lockout import login_attempt, login_lock_remaining
from clearinghouse.api.addresses import client_address
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.services import audit_record
from clearinghouse.core.actors import Actor
from clearinghouse.core.errors import TooManyRequests

# Django 5.2 changed this message id and its zh_Hans catalogue has not caught up; listing it
# here puts it in the portal's catalogue (which LOCALE_PATHS gives precedence).
_DJANGO_MESSAGES_MISSING_IN_ZH_HANS = [
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        "min_length",
    ),
]

AGE_14_OR_OVER = "14-or-over"
AGE_UNDER_14 = "under-14"


def throttle_params(seconds: int | None = None) -> dict:
    seconds = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS if seconds is None else seconds
    return {"minutes": max(1, math.ceil(seconds / 60))}


class LoginForm(AuthenticationForm):
    """Django's login form under the lockout policy every door shares (accounts.lockout):
    a locked username or address is refused before the password is checked."""

    error_messages = {
        "invalid_login": _("The username or password is not right. Check them and try again."),
        "inactive": _("This account is closed."),
        "throttled": _(
            "Too many failed attempts. For your safety, logging in to this account is paused for %(minutes)s minutes. Try again later."
        ),
    }

    channel = "portal"
    # Seconds until a locked attempt may be tried again, or None.
    retry_after: int | None = None

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # No autofocus: it skips the page's heading and skip link for screen-reader users.
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_attempt(
                    username=username, password=password, address=client_address(self.request), channel=self.channel
                )
            except TooManyRequests as locked:
                self.retry_after = locked.details["retry_after_seconds"]
                raise ValidationError(
                    self.error_messages["throttled"], code="throttled", params=throttle_params(self.retry_after)
                ) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class SignupForm(forms.Form):
    # BaseForm's cache of errors (None until validated), which without_input sets; the stubs leave it out.
    _errors: ErrorDict | None

    username = forms.CharField(
        label=_("Choose a username"),
        min_length=3,
        max_length=150,
        validators=[User.username_validator],
        help_text=_("3 to 150 characters: letters, digits and @ . + - _ . Do not use your phone number or real name."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    password1 = forms.CharField(
        label=_("Choose a password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html,
    )
    password2 = forms.CharField(
        label=_("Type the password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    age = forms.ChoiceField(
        label=_("Are you 14 or older?"),
        choices=[(AGE_14_OR_OVER, _("I am 14 or older")), (AGE_UNDER_14, _("I am under 14"))],
        widget=forms.RadioSelect,
        help_text=_(
            "Chinese law (PIPL Art. 31) needs a parent's or guardian's consent for anyone under 14, which this service cannot collect."
        ),
        error_messages={"required": _("Please tell us whether you are 14 or older.")},
    )

    def clean_age(self):
        age = self.cleaned_data["age"]
        if age != AGE_14_OR_OVER:
            raise ValidationError(
                _(
                    "Sorry, you cannot open an account on your own if you are under 14. Chinese law (PIPL Art. 31) "
                    "needs a parent's or guardian's consent, which this service cannot collect. No account was created "
                    "and nothing you typed was kept."
                ),
                code="under_14",
            )
        return age

    def without_input(self) -> SignupForm:
        """This form again with the under-14 refusal only and every field empty: the refusal
        says nothing typed was kept, so the page must not show the username (or the choice)
        back. The other complaints no longer matter to someone who may not sign up."""
        blank = SignupForm(data={})
        # Set directly: validating the empty data would add "required" to every field.
        blank._errors = ErrorDict(age=self.errors["age"])
        blank.cleaned_data = {}
        return blank

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords are different."))
        elif password1:
            try:
                password_validation.validate_password(password1, User(username=cleaned.get("username") or ""))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class ConsentChangeForm(forms.Form):
    purpose = forms.SlugField(max_length=64)
    platform = forms.SlugField(max_length=64)
    action = forms.ChoiceField(choices=[("grant", "grant"), ("withdraw", "withdraw")])
    version = forms.IntegerField(required=False, min_value=1)
    notice_digest = forms.RegexField(r"^[0-9a-f]{64}$", required=False)


class LinkCodeForm(forms.Form):
    platform = forms.SlugField(max_length=64)


class EraseConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("So that nobody else at this device can erase your account."),
    )
    understood = forms.BooleanField(
        label=_("I understand that my account and my data will be erased and this cannot be undone."),
        required=True,
        error_messages={"required": _("Tick this box to confirm.")},
    )

    def __init__(self, *args, user, request=None, password_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request
        if not password_required:
            # Right after a passkey login: the passkey just proved it is them (they may
            # have forgotten the password, which must not stand between them and erasure).
            del self.fields["password"]

    def clean_password(self):
        # The same lockout as every login door: a borrowed, logged-in device is not a free
        # password oracle.
        password = self.cleaned_data["password"]
        try:
            user = login_attempt(
                username=self.user.get_username(), password=password, address=client_address(self.request), channel="portal-erase"
            )
        except TooManyRequests as locked:
            raise ValidationError(
                LoginForm.error_messages["throttled"], code="throttled", params=throttle_params(locked.details["retry_after_seconds"])
            ) from None
        if user is None or user.pk != self.user.pk:
            raise ValidationError(_("That is not your password."), code="wrong_password")
        return password


# --- Recovery, password change (issue 14) ---------------------------------------------------


def _new_password_fields(form: forms.Form) -> None:
    form.fields["new_password1"] = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html,
    )
    form.fields["new_password2"] = forms.CharField(
        label=_("Type the new password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


def _new_password_clean(form: forms.Form, cleaned: dict, user: User) -> None:
    password1, password2 = cleaned.get("new_password1"), cleaned.get("new_password2")
    if password1 and password2 and password1 != password2:
        form.add_error("new_password2", _("The two passwords are different."))
    elif password1:
        try:
            password_validation.validate_password(password1, user)
        except ValidationError as error:
            form.add_error("new_password1", error)


class RecoverForm(forms.Form):
    """Forgot the password: username, one recovery code and a new password. The code is
    checked by the service (accounts.recovery); this form checks the throttle and the new
    password so that a typo in the password never spends a code."""

    username = forms.CharField(
        label=_("Your username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}),
    )
    code = forms.CharField(
        label=_("One of your recovery codes"),
        max_length=40,
        help_text=_("Like ABCD-EFGH-JKMN. Each code works once."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false"}),
    )

    throttled = False

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        _new_password_fields(self)

    def clean(self):
        cleaned = super().clean()
        username = cleaned.get("username") or ""
        remaining = login_lock_remaining(username=username, address=client_address(self.request)) if username else None
        if remaining is not None:
            self.throttled = True
            audit_record(
                actor=Actor.anonymous(),
                action=AuditAction.AUTH_RECOVERY_REFUSED,
                outcome="denied",
                details={"channel": "portal", "reason": "throttled"},
            )
            raise ValidationError(LoginForm.error_messages["throttled"], code="throttled", params=throttle_params(remaining))
        _new_password_clean(self, cleaned, User(username=username))
        return cleaned

    def refused(self, message) -> RecoverForm:
        """An empty form carrying only ``message``: nothing the person typed is shown back."""
        blank = RecoverForm(data={}, request=self.request)
        # Set directly: validating the empty data would add "required" to every field.
        blank._errors = ErrorDict({"__all__": blank.error_class([message])})  # type: ignore[attr-defined]
        blank.cleaned_data = {}
        return blank


class PasswordChangeForm(forms.Form):
    """Change the password while logged in. The current password is asked unless the
    person logged in with a passkey moments ago (``current_required=False``): someone who
    forgot the password and came back with a passkey can then set a new one."""

    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, current_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if not current_required:
            del self.fields["current_password"]
        _new_password_fields(self)

    def clean_current_password(self):
        password = self.cleaned_data["current_password"]
        username = self.user.get_username()
        try:
            confirmed = login_attempt(username=username, password=password, address="", channel="portal-password")
        except TooManyRequests as locked:
            raise ValidationError(
                LoginForm.error_messages["throttled"], code="throttled", params=throttle_params(locked.details["retry_after_seconds"])
            ) from None
        if confirmed is None or confirmed.pk != self.user.pk:
            raise ValidationError(_("That is not your current password."), code="wrong_password")
        return password

    def clean(self):
        cleaned = super().clean()
        _new_password_clean(self, cleaned, self.user)
        return cleaned


class ConfirmItIsYouForm(forms.Form):
    """The current password, before something only the account's owner may do (a new set
    of recovery codes). Not asked right after a passkey login."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, request=None, password_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request
        if not password_required:
            del self.fields["password"]

    clean_password = EraseConfirmForm.clean_password
