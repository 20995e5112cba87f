from clearinghouse.accounts.services import party_key_revoke
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Revoke every API key of a platform or manufacturer at once."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        count = party_key_revoke(slug=slug, actor=Actor.operator())
        self.stdout.write(f"Revoked {count} key(s) of {slug}.")
