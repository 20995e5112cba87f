from clearinghouse.accounts.services import platform_register
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Register a platform and print its API key (shown once, stored only as a hash)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)

    def handle(self, *args, slug, name, **options):
        platform, key = platform_register(slug=slug, name=name, actor=Actor.operator())
        self.stderr.write(f"Registered platform {platform.slug}. Its API key follows; it is shown only this once.")
        self.stdout.write(key)
