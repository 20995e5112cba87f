import getpass
from pathlib import Path

from django.core.management.base import CommandError

from clearinghouse.accounts.services import manufacturer_user_create
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Create a login for the web workbench (/workbench/) for a person who works for one manufacturer. "
        "The password is asked for twice, or read from --password-file (its first line). The manufacturer's "
        "API key is not touched: it stays for machines."
    )

    def add_arguments(self, parser):
        parser.add_argument("manufacturer", help="the manufacturer's slug, e.g. ergochair")
        parser.add_argument("username")
        parser.add_argument("--password-file", type=Path, help="read the password from the first line of this file")

    def handle(self, *args, manufacturer, username, password_file=None, **options):
        if password_file is not None:
            try:
                lines = password_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read the password file: {exc}", returncode=2) from None
            password = lines[0] if lines else ""
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("the two passwords differ", returncode=2)
        manufacturer_user_create(
            manufacturer_slug=manufacturer, username=username, password=password, actor=Actor.operator("create_manufacturer_user")
        )
        self.stderr.write(f"Created workbench login {username} for manufacturer {manufacturer}: sign in at /workbench/login/.")
