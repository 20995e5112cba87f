"""PUT/GET/DELETE /api/v1/callback: one callback per manufacturer, its own only, and the URL
rules that keep the service from being pointed at its own network."""

from __future__ import annotations

import socket

import pytest

from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from clearinghouse.notices.models import Callback, Notice
from tests.notices.test_delivery import ended_job, register

URL = "https://chairco.example/clearinghouse/notices?token=s3cret"


def test_a_manufacturer_registers_reads_replaces_and_removes_its_callback(manufacturer):
    client = manufacturer.client()
    assert client.get("/api/v1/callback").status_code == 404
    created = client.put("/api/v1/callback", {"url": URL}, format="json")
    assert created.status_code == 201 and created.json()["url"] == URL
    assert client.get("/api/v1/callback").json()["url"] == URL
    replaced = client.put("/api/v1/callback", {"url": "https://hooks.chairco.example/n"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["url"] == "https://hooks.chairco.example/n"
    assert Callback.objects.count() == 1
    assert client.delete("/api/v1/callback").status_code == 204
    assert client.get("/api/v1/callback").status_code == 404
    assert client.delete("/api/v1/callback").status_code == 404
    events = AuditEvent.objects.filter(action__in=[AuditAction.CALLBACK_SET, AuditAction.CALLBACK_REMOVED]).order_by("id")
    assert [(e.action, e.actor_kind, e.details["host"]) for e in events] == [
        (AuditAction.CALLBACK_SET, "manufacturer", "chairco.example"),
        (AuditAction.CALLBACK_SET, "manufacturer", "hooks.chairco.example"),
        (AuditAction.CALLBACK_REMOVED, "manufacturer", "hooks.chairco.example"),
    ]
    # The path's secret never reaches the audit log, which is never deleted.
    assert all("s3cret" not in str(e.details) for e in events)


def test_another_manufacturer_can_neither_see_nor_change_your_callback_or_notices(world, make_manufacturer, dead_url):
    mine = world.manufacturer.client()
    register(mine, dead_url)
    notice = Notice.objects.get(job_id=ended_job(mine))
    theirs = make_manufacturer("otherco", ["furniture"]).client()
    assert theirs.get("/api/v1/callback").status_code == 404
    assert theirs.delete("/api/v1/callback").status_code == 404
    assert theirs.put("/api/v1/callback", {"url": "https://otherco.example/n"}, format="json").status_code == 201
    assert mine.get("/api/v1/callback").json()["url"] == dead_url  # theirs is their own
    foreign = theirs.get(f"/api/v1/notices/{notice.pk}")
    missing = theirs.get("/api/v1/notices/5f0c6b8e-2d0a-4c53-9d4e-7d1c1f6a0b11")
    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()
    assert theirs.get("/api/v1/notices").json()["count"] == 0
    assert mine.get(f"/api/v1/notices/{notice.pk}").status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"url": "http://chairco.example/n"}, "url", "https"),
        ({"url": "ftp://chairco.example/n"}, "url", "https"),
        ({"url": "https://user:pass@chairco.example/n"}, "url", "password"),
        ({"url": "https://token@chairco.example/n"}, "url", "user name"),
        ({"url": "https://chairco.example/n#part"}, "url", "fragment"),
        ({"url": "https:///n"}, "url", "no host"),
        ({"url": "https://chairco.example:99999/n"}, "url", "valid URL"),
        ({"url": "https://chair co.example/n"}, "url", "spaces"),
        ({"url": "https://2130706433/n"}, "url", "host name"),  # 127.0.0.1 in disguise
        ({"url": "https://0x7f.1/n"}, "url", "host name"),
        ({"url": "https://0.0.0.0/n"}, "url", "public address"),
        ({"url": "https://chairco.example/" + "a" * 2100}, "url", "longer than"),
        ({"url": 42}, "url", "URL string"),
        ({}, "url", "URL string"),
        ({"url": URL, "secret": "x"}, "secret", "Unknown field"),
        (["https://chairco.example/n"], "url", "JSON object"),
    ],
)
def test_bad_callbacks_are_refused_with_400_naming_the_field(manufacturer, body, field, says):
    response = manufacturer.client().put("/api/v1/callback", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"]["field"] == field and says in error["message"], error
    assert not Callback.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/n",
        "https://127.0.0.1/n",
        "http://localhost:9000/n",
        "https://[::1]/n",
        "https://10.1.2.3/n",
        "https://192.168.0.10/n",
        "https://169.254.169.254/latest/meta-data",  # the cloud's metadata service
        "https://[fe80::1]/n",
        "https://[::ffff:10.0.0.1]/n",
        "https://100.64.0.1/n",
    ],
)
def test_in_production_private_and_loopback_addresses_are_refused(manufacturer, settings, url):
    settings.CH_NOTICE_ALLOW_LOOPBACK = False
    settings.CH_NOTICE_REFUSE_PRIVATE = True
    response = manufacturer.client().put("/api/v1/callback", {"url": url}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["field"] == "url"


def test_an_allow_listed_private_network_may_be_used_over_https(manufacturer, settings):
    import ipaddress

    settings.CH_NOTICE_ALLOW_LOOPBACK = False
    settings.CH_NOTICE_REFUSE_PRIVATE = True
    settings.CH_NOTICE_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    client = manufacturer.client()
    assert client.put("/api/v1/callback", {"url": "https://10.20.1.5/n"}, format="json").status_code == 201
    assert client.put("/api/v1/callback", {"url": "https://10.21.1.5/n"}, format="json").status_code == 400
    assert client.put("/api/v1/callback", {"url": "http://10.20.1.5/n"}, format="json").status_code == 400
    assert client.put("/api/v1/callback", {"url": "https://chairco.example/n"}, format="json").status_code == 200


def test_in_production_a_name_that_resolves_to_a_private_address_is_refused_at_once(manufacturer, settings, monkeypatch):
    from clearinghouse.notices import destinations

    addresses = {"intranet.chairco.example": "10.0.0.5", "hooks.chairco.example": "93.184.215.14"}
    looked_up = []

    def resolve(host, port, *args, **kwargs):
        looked_up.append((host, port))
        if host not in addresses:
            raise socket.gaierror("no such name")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addresses[host], port))]

    monkeypatch.setattr(destinations.socket, "getaddrinfo", resolve)
    client = manufacturer.client()
    assert client.put("/api/v1/callback", {"url": "https://hooks.chairco.example/n"}, format="json").status_code == 201
    assert looked_up == []  # outside production names are not looked up
    settings.CH_NOTICE_ALLOW_LOOPBACK = False
    settings.CH_NOTICE_REFUSE_PRIVATE = True
    refused = client.put("/api/v1/callback", {"url": "https://intranet.chairco.example:8443/n"}, format="json")
    assert refused.status_code == 400 and "intranet.chairco.example resolves to one" in refused.json()["error"]["message"]
    assert client.put("/api/v1/callback", {"url": "https://hooks.chairco.example/n"}, format="json").status_code == 200
    # Not resolvable yet: accepted, and every attempt checks the address it reaches.
    assert client.put("/api/v1/callback", {"url": "https://soon.chairco.example/n"}, format="json").status_code == 200
    assert looked_up == [("intranet.chairco.example", 8443), ("hooks.chairco.example", 443), ("soon.chairco.example", 443)]
