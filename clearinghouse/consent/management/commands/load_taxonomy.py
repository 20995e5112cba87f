from clearinghouse.consent.taxonomy import DEFAULT_TAXONOMY_FILE, taxonomy_file_read, taxonomy_load
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Load (or update) the public taxonomy from a JSON file; terms are never deleted, only deactivated."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(DEFAULT_TAXONOMY_FILE))

    def handle(self, *args, file, **options):
        result = taxonomy_load(document=taxonomy_file_read(file), actor=Actor.operator())
        self.stdout.write(f"Taxonomy {result['version']} loaded: {result['created']} new terms, {result['deactivated']} deactivated.")
