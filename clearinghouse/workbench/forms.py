"""The workbench's forms: the login (under the one lockout) and the question builder.

The question form only collects what a person picks and turns it into the same request
body the JSON API takes; every rule about what may be asked (measures, dimensions, ε,
cells, budgets) stays in the services that plan and queue it, which name the field at
fault."""

from __future__ import annotations

import math
from datetime import timedelta
from itertools import combinations
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _

from clearinghouse.accounts.lockout import login_attempt
from clearinghouse.api.addresses import client_address
from clearinghouse.core.errors import TooManyRequests

KIND_REPORT, KIND_RELEASE, KIND_TREND = "report", "release", "trend"
KINDS = [
    (KIND_REPORT, _("Report: several tables answered together, for one price")),
    (KIND_RELEASE, _("Single table: one measure, optionally a ranking or an average")),
    (KIND_TREND, _("Trend: weekly figures with a forecast")),
]
# Reports and trends count; a single table may also sum, average or rank.
KIND_MEASURES: dict[str, tuple[str, ...]] = {KIND_REPORT: ("consumers", "signals"), KIND_TREND: ("consumers", "signals")}
SPEND_EPSILON, SPEND_ACCURACY = "epsilon", "accuracy"
# Service error fields → the form field the person fixes.
ERROR_FIELDS = {
    "purpose": "purpose",
    "measure": "measure",
    "group_by": "dimensions",
    "marginals": "tables",
    "by": "by",
    "filters.category": "category",
    "filters.since": "since",
    "filters.until": "until",
    "filters": "since",
    "epsilon": "epsilon",
    "accuracy": "half_width",
    "accuracy.half_width": "half_width",
    "k": "k",
    "forecast_weeks": "forecast_weeks",
}


def _throttle_minutes(seconds: int | None) -> int:
    seconds = settings.CH_LOGIN_FAILURE_WINDOW_SECONDS if seconds is None else seconds
    return max(1, math.ceil(seconds / 60))


class LoginForm(AuthenticationForm):
    """Django's login form with the password checked by ``accounts.lockout.login_attempt``
    (channel ``workbench``): a locked username or address is refused before any hashing."""

    error_messages = {
        "invalid_login": _("The username or password is not right. Check them and try again."),
        "inactive": _("This account is closed."),
        "throttled": _("Too many failed attempts: signing in to this account is paused for %(minutes)s minutes. Try again later."),
    }
    retry_after: int | None = None

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_attempt(
                    username=username, password=password, address=client_address(self.request), channel="workbench"
                )
            except TooManyRequests as locked:
                self.retry_after = locked.details["retry_after_seconds"]
                raise ValidationError(
                    self.error_messages["throttled"], code="throttled", params={"minutes": _throttle_minutes(self.retry_after)}
                ) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


def _table_code(dimensions: tuple[str, ...]) -> str:
    return "+".join(dimensions)


class QuestionForm(forms.Form):
    """One question to the clearinghouse. ``entries`` is the manufacturer's catalogue
    (releases.selectors.catalog_for); ``words`` names dimensions and measures in the
    page's language. Choices follow the chosen purpose and kind; a choice left over from
    another purpose falls back to that purpose's first, so switching purpose never
    strands the person on an error."""

    kind = forms.ChoiceField(label=_("What kind of answer"), choices=KINDS, widget=forms.RadioSelect)
    purpose = forms.ChoiceField(label=_("Purpose"))
    measure = forms.ChoiceField(label=_("What to count"))
    dimensions = forms.MultipleChoiceField(
        label=_("Split by"), required=False, widget=forms.CheckboxSelectMultiple, help_text=_("Each combination is one cell.")
    )
    tables = forms.MultipleChoiceField(
        label=_("Tables"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Every table you tick is answered from one measurement, so they agree with each other."),
    )
    by = forms.ChoiceField(label=_("One line per"), required=False)
    category = forms.ChoiceField(label=_("Product category"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    k = forms.IntegerField(label=_("How many to rank (top k)"), required=False, min_value=1, max_value=100)
    forecast_weeks = forms.IntegerField(label=_("Weeks to forecast"), required=False, min_value=0, max_value=26, initial=4)
    spend = forms.ChoiceField(
        label=_("How precise"),
        choices=[
            (SPEND_EPSILON, _("I choose the privacy cost ε")),
            (SPEND_ACCURACY, _("I choose the precision ±; spend the least ε that gives it")),
        ],
        widget=forms.RadioSelect,
        initial=SPEND_EPSILON,
    )
    epsilon = forms.CharField(label=_("Privacy cost ε"), required=False, max_length=16, initial="0.5")
    half_width = forms.CharField(label=_("Precision ± (confidence 95%)"), required=False, max_length=16)

    def __init__(self, data=None, *, entries: list[dict[str, Any]], words: dict[str, dict[str, str]]):
        self.entries = {entry["purpose"]: entry for entry in entries}
        source = dict(data.items()) if data is not None else {}
        lists = {name: data.getlist(name) for name in ("dimensions", "tables")} if data is not None else {}
        kind = str(source.get("kind")) if source.get("kind") in dict(KINDS) else KIND_REPORT
        purpose_code = str(source.get("purpose")) if source.get("purpose") in self.entries else next(iter(self.entries), "")
        entry = self.entries.get(purpose_code)
        self.entry = entry
        self.chosen_kind = kind
        measures = [m for m in (entry["measures"] if entry else []) if m in KIND_MEASURES.get(kind, (m,))]
        dims = [d for d in (entry["dimensions"] if entry else []) if d != "week"]
        table_choices: list[tuple[str, ...]] = [(d,) for d in dims] + list(combinations(dims, 2))
        categories = entry["domains"].get("category", []) if entry else []
        self.has_dates = entry is not None and "since" in entry["filters"]
        default_tables = [t for t in ("attribute", "age_band", "attribute+age_band") if t in {_table_code(c) for c in table_choices}]
        default_dimensions = ["attribute"] if "attribute" in dims else []
        if data is not None:
            # A leftover from another purpose or kind becomes this one's default.
            source["kind"], source["purpose"] = kind, purpose_code
            if source.get("measure") not in measures and measures:
                source["measure"] = measures[0]
            lists["dimensions"] = [d for d in lists.get("dimensions", []) if d in dims]
            lists["tables"] = [t for t in lists.get("tables", []) if t in {_table_code(c) for c in table_choices}]
            # The page was drawn for another kind or purpose, so its boxes for this one were
            # not on it: start this one from its defaults rather than from nothing.
            if source.get("shown") != f"{kind}:{purpose_code}":
                lists["dimensions"] = lists["dimensions"] or default_dimensions
                lists["tables"] = lists["tables"] or default_tables
            if source.get("by") not in dims:
                source["by"] = ""
            if source.get("category") not in {c["code"] for c in categories}:
                source["category"] = ""
            bound = MultiValueDict({key: [value] for key, value in source.items()})
            for name, values in lists.items():
                bound.setlist(name, values)
            source_data = bound
        else:
            source_data = None
        super().__init__(
            source_data,
            initial={
                "kind": kind,
                "purpose": purpose_code,
                "spend": SPEND_EPSILON,
                "epsilon": "0.5",
                "forecast_weeks": 4,
                "tables": default_tables,
                "dimensions": default_dimensions,
                "category": categories[0]["code"] if categories else "",
                # Trends need a span of whole weeks: the last twelve by default.
                "since": timezone.localdate() - timedelta(weeks=12),
                "until": timezone.localdate(),
            },
        )
        dimension_words, measure_words = words["dimensions"], words["measures"]
        choice = self._choice_field
        choice("purpose").choices = [(code, shown["display_title"]) for code, shown in self.entries.items()]
        choice("measure").choices = [(m, measure_words.get(m, m)) for m in measures]
        choice("dimensions").choices = [(d, dimension_words.get(d, d)) for d in dims]
        choice("tables").choices = [(_table_code(c), " × ".join(dimension_words.get(d, d) for d in c)) for c in table_choices]
        choice("by").choices = [("", _("a single line (no split)"))] + [(d, dimension_words.get(d, d)) for d in dims if d != "category"]
        choice("category").choices = [("", _("every category you may query"))] + [(c["code"], c["display"]) for c in categories]

    @property
    def shown(self) -> str:
        """What the page is drawn for (a hidden field): a change of it brings defaults."""
        return f"{self.chosen_kind}:{self.entry['purpose'] if self.entry else ''}"

    def _choice_field(self, name: str) -> forms.ChoiceField:
        return cast(forms.ChoiceField, self.fields[name])

    def request_body(self) -> dict[str, Any]:
        """The request as the API takes it (POST /api/v1/{releases,reports,trends})."""
        data = self.cleaned_data
        kind = data["kind"]
        body: dict[str, Any] = {"purpose": data["purpose"], "measure": data["measure"]}
        filters: dict[str, Any] = {}
        if data.get("category"):
            filters["category"] = data["category"]
        if data.get("since") and (self.has_dates or kind == KIND_TREND):
            filters["since"] = data["since"].isoformat()
        if data.get("until") and (self.has_dates or kind == KIND_TREND):
            filters["until"] = data["until"].isoformat()
        if kind == KIND_TREND or filters:
            body["filters"] = filters
        if kind == KIND_RELEASE:
            body["group_by"] = list(data.get("dimensions") or [])
            if data["measure"] == "top_k":
                body["k"] = data.get("k") or 3
        elif kind == KIND_REPORT:
            body["marginals"] = [table.split("+") for table in data.get("tables") or []]
        else:
            if data.get("by"):
                body["by"] = data["by"]
            body["forecast_weeks"] = data.get("forecast_weeks") or 0
        if data.get("spend") == SPEND_ACCURACY:
            accuracy: dict[str, Any] = {"half_width": (data.get("half_width") or "").strip()}
            if kind == KIND_TREND:
                accuracy["of"] = "weekly"
            body["accuracy"] = accuracy
        else:
            body["epsilon"] = (data.get("epsilon") or "").strip()
        return body

    def field_for(self, service_field: str | None) -> str | None:
        """The field of this form a service's refusal names (``details["field"]``), if it is
        on the form; a marginal's index ("marginals[1]") names the tables."""
        name = ERROR_FIELDS.get((service_field or "").split("[", 1)[0])
        return name if name in self.fields else None
