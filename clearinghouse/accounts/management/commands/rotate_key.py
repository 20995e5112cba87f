from clearinghouse.accounts.services import party_key_rotate
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Revoke every API key of a platform or manufacturer and print one new key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        key = party_key_rotate(slug=slug, actor=Actor.operator())
        self.stderr.write(f"Rotated the key of {slug}; the old key stopped working. The new key follows, shown only this once.")
        self.stdout.write(key)
