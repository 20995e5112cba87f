"""manage.py create_manufacturer_user: a workbench login for one manufacturer, audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from clearinghouse.accounts.models import ManufacturerStaff
from clearinghouse.audit.actions import AuditAction
from clearinghouse.audit.models import AuditEvent
from tests.workbench.conftest import PASSWORD


def test_the_command_creates_a_staff_login_from_a_password_file(manufacturer, tmp_path, capsys):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    call_command("create_manufacturer_user", manufacturer.slug, "wei", "--password-file", str(secret))
    staff = ManufacturerStaff.objects.get(user__username="wei")
    assert staff.manufacturer == manufacturer.obj
    assert authenticate(username="wei", password=PASSWORD) == staff.user
    event = AuditEvent.objects.get(action=AuditAction.MANUFACTURER_STAFF_CREATED)
    assert event.target == f"user:{staff.user.pk}" and event.details == {"manufacturer": manufacturer.slug}
    assert "wei" not in str(event.details)  # no username in the log
    assert "/workbench/login/" in capsys.readouterr().err


def test_the_command_prompts_twice_for_the_password(manufacturer, monkeypatch):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("create_manufacturer_user", manufacturer.slug, "lin")
    assert ManufacturerStaff.objects.filter(user__username="lin").exists()
    answers = iter([PASSWORD, PASSWORD + "x"])
    with pytest.raises(CommandError, match="differ"):
        call_command("create_manufacturer_user", manufacturer.slug, "lin2")


@pytest.mark.parametrize(
    ("slug", "username", "password", "message"),
    [
        ("nobody", "wei", PASSWORD, "no manufacturer"),
        (None, "a", PASSWORD, "username"),
        (None, "wei", "short", "password"),
        (None, "taken", PASSWORD, "taken"),
    ],
)
def test_bad_inputs_stop_the_command_with_a_message_and_create_nothing(
    manufacturer, make_consumer, tmp_path, slug, username, password, message
):
    make_consumer("taken")
    secret = tmp_path / "password"
    secret.write_text(password)
    with pytest.raises(CommandError, match=message) as error:
        call_command("create_manufacturer_user", slug or manufacturer.slug, username, "--password-file", str(secret))
    assert error.value.returncode == 2
    assert not ManufacturerStaff.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.MANUFACTURER_STAFF_CREATED).exists()


def test_an_unreadable_password_file_is_an_error(manufacturer, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("create_manufacturer_user", manufacturer.slug, "wei", "--password-file", str(tmp_path / "missing"))
