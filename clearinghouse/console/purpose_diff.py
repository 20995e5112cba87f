"""What changes when an officer approves a purpose version: every field an officer judges
(data, dimensions, measures, bounds, caps, recipients, retention, notice text in both
languages) of the draft against the currently approved version, in the page's language.

The purposes and the count of consents that lapse come from clearinghouse.consent; this
module only lays them side by side.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from clearinghouse.consent.models import Purpose

# Signal fields, release dimensions and measures in words (console catalogue).
TERM_NAMES = {
    "category": gettext_noop("product category"),
    "attribute": gettext_noop("product feature"),
    "signal": gettext_noop("what the person did (view, wishlist, cart, purchase, rating, survey)"),
    "value": gettext_noop("score"),
    "age_band": gettext_noop("age band"),
    "region": gettext_noop("province"),
    "occurred_at": gettext_noop("time of the action"),
    "week": gettext_noop("week"),
    "consumers": gettext_noop("number of people"),
    "signals": gettext_noop("number of actions"),
    "sum_value": gettext_noop("sum of scores"),
    "mean_value": gettext_noop("mean score"),
    "top_k": gettext_noop("most wanted features (top k)"),
}


def term_name(code: str) -> str:
    name = TERM_NAMES.get(code)
    return _(name) if name else code


def term_list(codes) -> list[str]:
    return [term_name(code) for code in codes]


@dataclass
class DiffRow:
    label: str
    old: str
    new: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    text_diff: SafeString | None = None

    @property
    def changed(self) -> bool:
        return self.old != self.new


_TOKEN = re.compile(r"[A-Za-z0-9'’-]+|\s+|.", re.DOTALL)


def text_diff(old: str, new: str) -> SafeString:
    """Word by word in English, character by character in Chinese: removed text in <del>,
    added text in <ins> (screen readers announce both)."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(parts).replace("\n", "<br>"))


def _list_row(label: str, old: list[str], new: list[str], name=term_name) -> DiffRow:
    return DiffRow(
        label=label,
        old=", ".join(name(code) for code in old),
        new=", ".join(name(code) for code in new),
        added=[name(code) for code in new if code not in old],
        removed=[name(code) for code in old if code not in new],
    )


def _text_row(label: str, old: str, new: str) -> DiffRow:
    return DiffRow(label=label, old=old, new=new, text_diff=text_diff(old, new) if old != new else None)


def _bounds(purpose: Purpose) -> str:
    if purpose.value_min is None:
        return "—"
    return f"{purpose.value_min} – {purpose.value_max}"


def _epsilon(value) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def purpose_diff(*, current: Purpose, draft: Purpose) -> list[DiffRow]:
    """Every field, in a fixed order; rows with ``changed`` False are shown as unchanged."""

    def same(label: str, old, new) -> DiffRow:
        return DiffRow(label=label, old=str(old), new=str(new))

    rows = [
        _text_row(_("Title (Chinese)"), current.title.get("zh-hans", ""), draft.title.get("zh-hans", "")),
        _text_row(_("Title (English)"), current.title.get("en", ""), draft.title.get("en", "")),
        _list_row(_("Data collected"), current.fields, draft.fields),
        _list_row(_("Release dimensions"), current.dimensions, draft.dimensions),
        _list_row(_("Measures"), current.measures, draft.measures),
        same(_("Score bounds"), _bounds(current), _bounds(draft)),
        _text_row(_("Score meaning (Chinese)"), current.value_meaning.get("zh-hans", ""), draft.value_meaning.get("zh-hans", "")),
        _text_row(_("Score meaning (English)"), current.value_meaning.get("en", ""), draft.value_meaning.get("en", "")),
        same(_("ε per release at most"), _epsilon(current.max_epsilon_per_release), _epsilon(draft.max_epsilon_per_release)),
        same(_("ε per period, all manufacturers"), _epsilon(current.period_epsilon_cap), _epsilon(draft.period_epsilon_cap)),
        same(_("ε per consumer over 365 days"), _epsilon(current.consumer_epsilon_cap), _epsilon(draft.consumer_epsilon_cap)),
        same(_("Cells one person may add to"), current.max_cells_per_consumer, draft.max_cells_per_consumer),
        same(_("Signals one person may add per cell"), current.max_signals_per_cell, draft.max_signals_per_cell),
        _list_row(_("Recipients (manufacturers' sectors)"), current.recipient_sectors, draft.recipient_sectors, name=str),
        same(_("Retention (days)"), current.retention_days, draft.retention_days),
        same(_("Lawful basis"), current.lawful_basis, draft.lawful_basis),
        _text_row(
            _("Legitimate interest (Chinese)"), current.legitimate_interest.get("zh-hans", ""), draft.legitimate_interest.get("zh-hans", "")
        ),
        _text_row(_("Legitimate interest (English)"), current.legitimate_interest.get("en", ""), draft.legitimate_interest.get("en", "")),
        _text_row(_("Notice (Chinese)"), current.notice.get("zh-hans", ""), draft.notice.get("zh-hans", "")),
        _text_row(_("Notice (English)"), current.notice.get("en", ""), draft.notice.get("en", "")),
    ]
    return rows
