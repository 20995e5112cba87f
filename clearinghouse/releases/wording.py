"""A job (release, report or trend) in plain words, the one place that says what was asked.

The portal's privacy-loss statement and timeline and the console's releases register all
describe a job through ``job_describe``, so a person and an officer read the same
sentence, e.g. "ErgoChair asked how many people showed interest in office chairs, by
feature and by age band". Everything named comes from the job's own request (measure,
dimensions, filters, a report's marginals, a trend's weekly series); nothing about any
person is in it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from clearinghouse.consent.taxonomy import TaxonomyIndex, taxonomy_index
from clearinghouse.core.errors import Invalid
from clearinghouse.releases.models import Release

_DIMENSIONS = {
    "category": gettext_lazy("kind of product"),
    "attribute": gettext_lazy("feature"),
    "signal": gettext_lazy("what people did"),
    "age_band": gettext_lazy("age band"),
    "region": gettext_lazy("province"),
    "week": gettext_lazy("week"),
}


def _language_code(language: str) -> str:
    return "en" if language.startswith("en") else "zh-hans"


def _label(index: TaxonomyIndex | None, term_id: int | None, code: str, language: str) -> str:
    if index is None or term_id is None:
        return code
    labels = index.labels.get(term_id) or {}
    label = labels.get(language) or labels.get("zh-hans") or next(iter(labels.values()), code)
    # Taxonomy labels are headings ("Office chair"); inside an English sentence they are
    # common nouns ("in office chair").
    return label[:1].lower() + label[1:] if language == "en" and label[1:2].islower() else label


def _join(items: list[str], language: str) -> str:
    if language == "zh-hans":
        return "、".join(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " " + _("and") + " " + items[-1]


def _measure(measure: str, k: int | None) -> str:
    phrases = {
        "consumers": _("how many people showed interest"),
        "signals": _("how many times people showed interest"),
        "sum_value": _("the total score people gave"),
        "mean_value": _("the average score people gave"),
    }
    if measure == "top_k":
        return ngettext("which feature people want most", "which %(k)s features people want most", k or 1) % {"k": k or 1}
    return phrases.get(measure, measure)


def _dimensions(dimensions: list[str], language: str) -> str:
    return _join([str(_DIMENSIONS.get(d, d)) for d in dimensions], language)


def _day(text: str) -> str:
    try:
        return date_format(date.fromisoformat(text), "DATE_FORMAT")
    except (TypeError, ValueError):
        return str(text)


def _filters(filters: dict, index: TaxonomyIndex | None, language: str) -> tuple[str, list[str]]:
    """The topic (the category asked about) and the other conditions, in words."""
    topic = ""
    category = filters.get("category")
    if category:
        term = index.categories.get(category) if index else None
        topic = _(" in %(category)s") % {"category": _label(index, term, category, language)}
    extra = []
    if filters.get("signals"):
        kinds = [_label(index, index.signals.get(code) if index else None, code, language) for code in filters["signals"]]
        extra.append(_("counting only: %(kinds)s") % {"kinds": _join(kinds, language)})
    since, until = filters.get("since"), filters.get("until")
    if since and until:
        extra.append(_("from %(since)s to %(until)s") % {"since": _day(since), "until": _day(until)})
    elif since:
        extra.append(_("from %(since)s on") % {"since": _day(since)})
    elif until:
        extra.append(_("up to %(until)s") % {"until": _day(until)})
    return topic, extra


def _index() -> TaxonomyIndex | None:
    try:
        return taxonomy_index()
    except Invalid:
        return None


def job_describe(*, release: Release, language: str) -> str:
    """What the job asked, in one sentence in ``language`` ("en" or "zh-hans")."""
    language = _language_code(language)
    with translation.override(language):
        index = _index()
        what = _measure(release.measure, release.k)
        topic, extra = _filters(release.filters or {}, index, language)
        names = {"manufacturer": release.manufacturer.name, "what": what, "topic": topic}
        spec = release.spec or {}
        if release.kind == Release.REPORT:
            tables = [
                _("by %(dimensions)s") % {"dimensions": _dimensions(list(marginal), language)} if marginal else _("in total")
                for marginal in spec.get("marginals", [])
            ]
            count = len(tables)
            sentence = ngettext(
                "%(manufacturer)s asked for a report of %(what)s%(topic)s, in %(count)s table: %(tables)s",
                "%(manufacturer)s asked for a report of %(what)s%(topic)s, in %(count)s tables: %(tables)s",
                count,
            ) % (names | {"count": count, "tables": _("; ").join(tables)})
        elif release.kind == Release.TREND:
            weeks = int(spec.get("weeks") or 0)
            sentence = ngettext(
                "%(manufacturer)s asked %(what)s%(topic)s, week by week over %(weeks)s week",
                "%(manufacturer)s asked %(what)s%(topic)s, week by week over %(weeks)s weeks",
                weeks,
            ) % (names | {"weeks": weeks})
            if spec.get("by"):
                sentence += _(", one line per %(dimension)s") % {"dimension": _dimensions([spec["by"]], language)}
            forecast = int(spec.get("forecast_weeks") or 0)
            if forecast:
                sentence += ngettext(", with a forecast of %(weeks)s more week", ", with a forecast of %(weeks)s more weeks", forecast) % {
                    "weeks": forecast
                }
        else:
            sentence = _("%(manufacturer)s asked %(what)s%(topic)s") % names
            dimensions = list(release.group_by or [])
            if dimensions:
                sentence += _(", by %(dimensions)s") % {"dimensions": _dimensions(dimensions, language)}
        for condition in extra:
            sentence += _("; %(condition)s") % {"condition": condition}
        return sentence


def epsilon_words(value) -> str:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal(0)
    return number_format(amount.quantize(Decimal("0.01")), decimal_pos=2)


def charge_describe(*, release: Release, language: str, epsilon=None, reach_only: bool = False) -> str:
    """A job as one person's privacy-loss line: what was asked and what it used of theirs
    (``epsilon``: what this person was charged, the job's ε unless given; ``reach_only``:
    they were only counted among the people left out at their limit, releases/reach.py)."""
    language = _language_code(language)
    description = job_describe(release=release, language=language)
    amount = epsilon_words(release.epsilon if epsilon is None else epsilon)
    with translation.override(language):
        if reach_only:
            return _("%(job)s — you were only counted as someone at their limit, which used ε %(epsilon)s of yours") % {
                "job": description,
                "epsilon": amount,
            }
        return _("%(job)s — used ε %(epsilon)s of yours") % {"job": description, "epsilon": amount}
