from clearinghouse.accounts.lockout import login_unlock
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Lift the sign-in lock of a username and/or a client address (audited as auth.unlocked)."

    def add_arguments(self, parser):
        parser.add_argument("--username")
        parser.add_argument("--address")

    def handle(self, *args, username=None, address=None, **options):
        if not username and not address:
            self.stderr.write("Give --username, --address or both.")
            raise SystemExit(2)
        found = login_unlock(username=username, address=address, actor=Actor.operator())
        self.stderr.write("Unlocked." if found else "There was no lock; any failure counts were cleared.")
