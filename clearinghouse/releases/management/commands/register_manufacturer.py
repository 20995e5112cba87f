from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand
from clearinghouse.releases.recipients import manufacturer_register


class Command(ServiceCommand):
    help = "Register a manufacturer with the category sectors it may query, and print its API key once."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--sectors", required=True, help="comma-separated category prefixes, e.g. furniture,food/bird-nest")

    def handle(self, *args, slug, name, sectors, **options):
        sector_list = [s.strip() for s in sectors.split(",") if s.strip()]
        manufacturer, key = manufacturer_register(slug=slug, name=name, sectors=sector_list, actor=Actor.operator())
        self.stderr.write(f"Registered manufacturer {manufacturer.slug}. Its API key follows; it is shown only this once.")
        self.stdout.write(key)
