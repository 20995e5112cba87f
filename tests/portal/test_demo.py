import pytest
from django.core.management import call_command

from clearinghouse.accounts.models import PlatformLink

pytestmark = pytest.mark.django_db


def test_seed_demo_links_the_demo_consumer_to_two_platforms_once(capsys):
    call_command("seed_demo", "--consumers", "0", "--signals", "0")
    call_command("seed_demo", "--consumers", "0", "--signals", "0")
    links = PlatformLink.objects.filter(consumer__user__username="demo").order_by("platform__slug")
    assert [link.platform.slug for link in links] == ["livebuy", "maomall"]
    assert capsys.readouterr().out.count("demo consumer linked to") == 2


def test_demo_names_read_naturally_in_chinese_and_in_english():
    """The demo platforms are named by their brand in its two scripts only; in Chinese a
    name is set off from the text around it by spaces, and lists end with "。"."""
    from django.conf import settings
    from django.test import Client

    from clearinghouse.accounts.models import Manufacturer, Platform

    call_command("seed_demo", "--consumers", "0", "--signals", "0")
    names = list(Platform.objects.values_list("name", flat=True)) + list(Manufacturer.objects.values_list("name", flat=True))
    assert names and not [name for name in names if "(" in name]

    client = Client()
    client.force_login(PlatformLink.objects.filter(consumer__user__username="demo").first().consumer.user)
    chinese = client.get("/").content.decode()
    assert '<th scope="col">直播购 LiveBuy</th>' in chinese
    assert "尚未关联：短视频小店 ClipShop。" in chinese
    assert "(e-commerce)" not in chinese and "(live-stream shop)" not in chinese

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get("/").content.decode()
    assert '<th scope="col">直播购 LiveBuy</th>' in english and "Not asked yet" in english
    assert "Not linked yet: 短视频小店 ClipShop." in english
