"""make run shows a workbench login for every demo manufacturer, and it works."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.test import Client

from clearinghouse.accounts.models import ManufacturerStaff
from clearinghouse.demo.parties import DEMO_MANUFACTURERS


def test_seed_demo_prints_one_working_workbench_login_per_manufacturer(db, capsys):
    call_command("seed_demo", "--consumers", "0", "--signals", "0")
    call_command("seed_demo", "--consumers", "0", "--signals", "0")  # idempotent: no second login
    out = capsys.readouterr().out
    assert ManufacturerStaff.objects.count() == len(DEMO_MANUFACTURERS)
    for slug, _name, _sectors in DEMO_MANUFACTURERS:
        assert ManufacturerStaff.objects.get(user__username=f"{slug}-analyst").manufacturer.slug == slug
    found = re.findall(r"workbench (ergochair-analyst) / (\S+)", out)
    assert found, out
    username, password = found[-1]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = client.post("/workbench/login/", {"username": username, "password": password})
    assert response.status_code == 302 and response["Location"] == "/workbench/"
    assert "ErgoChair" in client.get("/workbench/").content.decode()
