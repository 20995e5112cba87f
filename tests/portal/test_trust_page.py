"""The trust page before login (issue 14): who runs the service, how it works, whom to
contact and complain to, and the latest signed checkpoint with the last verification."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from clearinghouse.audit.selectors import audit_chain_verify
from clearinghouse.audit.services import audit_checkpoint_sign, audit_verification_record
from clearinghouse.core.actors import Actor

pytestmark = pytest.mark.django_db

OPERATOR = {
    "name": "示例数据服务有限公司",
    "address": "上海市浦东新区示例路 88 号",
    "contact": "hello@operator.example.cn",
    "protection_officer": "王晓明",
    "protection_officer_contact": "pio@operator.example.cn",
    "complaints_contact": "complaints@operator.example.cn",
    "regulator_contact": "https://www.12377.cn · 12377",
}


@pytest.fixture
def operator(settings):
    settings.CH_OPERATOR = OPERATOR
    return OPERATOR


def test_a_first_time_visitor_finds_who_runs_it_and_whom_to_contact(operator):
    login = Client().get(reverse("portal:login")).content.decode()
    assert 'href="/about/"' in login  # in the menu before login
    response = Client().get(reverse("portal:trust"))
    html = response.content.decode()
    assert response.status_code == 200
    for value in operator.values():
        assert value in html
    assert "个人信息保护负责人" in html and "第五十二条" in html
    assert "怎样投诉" in html and "国家互联网信息办公室" in html
    assert "没有人在这里买卖你的数据" in html
    assert len(re.findall(r"<li>", html.split('id="how"')[1].split("</section>")[0])) == 5  # five sentences


def test_the_name_cannot_be_read_as_a_data_exchange():
    html = Client().get(reverse("portal:trust")).content.decode()
    brand = re.search(r'<a class="brand"[^>]*>(.*?)<span>', html, re.S).group(1)
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert brand == "数据授权中心"
    for text in (brand, title):
        assert "交换" not in text and "交易" not in text


def test_the_operators_name_is_in_the_pages_language(settings):
    # The demo defaults: the Chinese page carries no English word of the English name.
    chinese = Client().get(reverse("portal:trust")).content.decode()
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("portal:trust")).content.decode()
    assert "数据授权中心（演示运营方）" in chinese and "Clearinghouse (demo operator)" in english
    named = re.search(r'id="operator".*?<dd>(.*?)</dd>', chinese, re.S).group(1)
    assert named == "数据授权中心（演示运营方）"
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", chinese, flags=re.S)
    # (lower-case "clearinghouse" is the demo contact addresses' domain, not the name)
    assert not {"Clearinghouse", "operator"} & set(re.findall(r"[A-Za-z]+", visible))
    assert "数据授权中心（演示运营方）" not in english
    # A deployment's own two names (CH_CONTROLLER_NAME, CH_CONTROLLER_NAME_ZH).
    settings.CH_OPERATOR = settings.CH_OPERATOR | {"names": {"en": "Example Data Services Ltd", "zh-hans": "示例数据服务有限公司"}}
    chinese = Client().get(reverse("portal:trust")).content.decode()
    assert "示例数据服务有限公司" in chinese and "Example Data Services" not in chinese
    assert "Example Data Services Ltd" in Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("portal:trust")).content.decode()


def test_in_english(operator):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    html = client.get(reverse("portal:trust")).content.decode()
    assert "Person responsible for personal-information protection" in html and operator["protection_officer"] in html
    assert "nobody buys or sells your data here" in html


def test_shows_the_latest_checkpoint_and_the_last_verification(consumer_a):
    html = Client().get(reverse("portal:trust")).content.decode()
    assert "还没有签过检查点" in html and "整份日志还没有校验过" in html
    checkpoint, _ = audit_checkpoint_sign(force=True)
    audit_verification_record(actor=Actor.operator(), result=audit_chain_verify(workers=1))
    html = Client().get(reverse("portal:trust")).content.decode()
    assert f"共 {checkpoint.tree_size} 条事件" in html
    assert checkpoint.signature in html and checkpoint.root_hash in html
    assert "：完好。" in html


def test_the_demos_address_and_officer_are_in_the_pages_language(settings):
    # The demo defaults (no CH_OPERATOR_ADDRESS, no CH_PROTECTION_OFFICER_NAME).
    assert settings.CH_OPERATOR["address"] == "1 Example Road, Shanghai (demo)"
    assert settings.CH_OPERATOR["protection_officer"] == "Example Officer (demo)"
    chinese = Client().get(reverse("portal:trust")).content.decode()
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("portal:trust")).content.decode()
    address = re.search(r'id="operator".*?<dd>.*?</dd>.*?<dd>(.*?)</dd>', chinese, re.S).group(1)
    officer = re.search(r'id="protection-officer".*?<dd>(.*?)</dd>', chinese, re.S).group(1)
    assert (address, officer) == ("上海市示例路 1 号（演示）", "示例负责人（演示）")
    assert "1 Example Road, Shanghai (demo)" in english and "Example Officer (demo)" in english
    assert "示例路" not in english and "示例负责人" not in english
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", chinese, flags=re.S)
    assert not {"Example", "Road", "Shanghai", "Officer", "demo"} & set(re.findall(r"[A-Za-z]+", visible))
    # A deployment's own address and officer are shown as given, on either page.
    settings.CH_OPERATOR = settings.CH_OPERATOR | {"address": "1 Example Road, Shanghai", "protection_officer": "Wang Xiaoming"}
    for client in (Client(), Client(HTTP_ACCEPT_LANGUAGE="en")):
        html = client.get(reverse("portal:trust")).content.decode()
        assert "1 Example Road, Shanghai" in html and "Wang Xiaoming" in html and "示例路" not in html
