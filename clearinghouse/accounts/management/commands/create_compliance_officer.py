import os
import secrets

from clearinghouse.accounts.services import compliance_officer_create
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Create a compliance officer (member of the compliance group). The password is taken from "
        "CH_OFFICER_PASSWORD, or generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        password = os.environ.get("CH_OFFICER_PASSWORD") or secrets.token_urlsafe(18)
        compliance_officer_create(username=username, password=password, actor=Actor.operator())
        self.stderr.write(f"Created compliance officer {username}.")
        if not os.environ.get("CH_OFFICER_PASSWORD"):
            self.stderr.write("Generated password (shown only this once):")
            self.stdout.write(password)
