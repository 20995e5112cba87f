"""Language done right (issue 14): the first visit follows Accept-Language (any Chinese, or
nothing we have, gives Chinese), the switch is remembered, the product's words win over
Django's, and the portal says 你 throughout."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),  # the first language we have
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-hans"),
        ("zh-TW,zh;q=0.9", "zh-hans"),  # any Chinese
        ("zh-HK,en;q=0.9", "zh-hans"),
        ("en;q=0.5,zh-CN", "zh-hans"),  # by quality, not by order
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,de;q=0.9", "zh-hans"),  # nothing we have
        ("", "zh-hans"),
        ("*", "zh-hans"),
    ],
)
def test_first_visit_follows_accept_language(accept, expected):
    html = Client(HTTP_ACCEPT_LANGUAGE=accept).get(reverse("portal:login")).content.decode()
    assert ('<html lang="en">' if expected == "en" else '<html lang="zh-Hans">') in html, accept


def test_the_switch_wins_over_the_browser_and_is_remembered_for_a_year():
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US")
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/login/"})
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans" and int(cookie["max-age"]) >= 365 * 24 * 3600
    assert "<h1>登录</h1>" in client.get(reverse("portal:login")).content.decode()


def test_the_api_still_falls_back_to_english():
    response = Client(HTTP_ACCEPT_LANGUAGE="fr-FR").get("/api/v1/me/consents")
    assert response.json()["error"]["message"].isascii()


def _entries(po: Path):
    """(msgid, msgstr) of the catalogue's singular entries without context."""
    entries, msgid, msgstr, key, skip = [], None, None, None, False
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith(("msgctxt", "msgid_plural")):
            skip = True
        if line.startswith("msgid "):
            msgid, key = ast.literal_eval(line[6:]), "id"
        elif line.startswith("msgstr "):
            msgstr, key = ast.literal_eval(line[7:]), "str"
        elif line.startswith('"') and key == "id":
            msgid += ast.literal_eval(line)
        elif line.startswith('"') and key == "str":
            msgstr += ast.literal_eval(line)
        elif not line.strip():
            if msgid and msgstr and not skip:
                entries.append((msgid, msgstr))
            msgid, msgstr, key, skip = None, None, None, False
    return entries


def test_the_products_words_win_over_djangos():
    """Every product msgid reads as its own catalogue says (密钥, not Django admin's 键;
    筛选, not 过滤器), with the portal's catalogue first where both define one."""
    seen: set[str] = set()
    wrong = []
    with translation.override("zh-hans"):
        for app in ("portal", "console"):
            for msgid, msgstr in _entries(ROOT / "clearinghouse" / app / "locale/zh_Hans/LC_MESSAGES/django.po"):
                if msgid in seen:
                    continue
                seen.add(msgid)
                if translation.gettext(msgid) != msgstr:
                    wrong.append((app, msgid, translation.gettext(msgid), msgstr))
        assert translation.gettext("Key") == "密钥" and translation.gettext("Filter") == "筛选"
    assert wrong == []


def test_every_product_catalogue_says_ni_not_nin():
    for app in ("portal", "console"):
        strings = [msgstr for _msgid, msgstr in _entries(ROOT / "clearinghouse" / app / "locale/zh_Hans/LC_MESSAGES/django.po")]
        assert [s for s in strings if "您" in s] == [], app


def test_pages_and_their_errors_say_ni(consumer_a, officer):
    anonymous = Client()
    pages = [anonymous.get(reverse(name)) for name in ("portal:login", "portal:signup", "portal:recover", "portal:verify")]
    pages.append(anonymous.post(reverse("portal:signup"), {"username": "x", "password1": "123", "password2": "456"}))
    pages.append(anonymous.post(reverse("portal:login"), {"username": consumer_a.username, "password": "nope-nope-1"}))
    officer_client = Client()
    officer_client.force_login(officer.consumer)
    pages.append(officer_client.get(reverse("portal:dashboard"), follow=True))
    consumer = Client()
    consumer.force_login(consumer_a.consumer.user)
    pages.append(consumer.get("/compliance/"))
    for name in ("portal:settings", "portal:my-data", "portal:erase"):
        pages.append(consumer.get(reverse(name)))
    for page in pages:
        assert "您" not in page.content.decode(), page.request["PATH_INFO"]
