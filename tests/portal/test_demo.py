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
