from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand
from consent.purposes import purpose_file_read, purpose_publish


class Command(ServiceCommand):
    help = (
        "Publish a purpose version from a JSON file (see consent/purposes/). It starts as a draft; "
        "--approve approves it at once with the file's impact_assessment (for the operator's own test set-ups)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--approve", action="store_true")

    def handle(self, *args, file, approve, **options):
        purpose, created = purpose_publish(document=purpose_file_read(file), actor=Actor.operator(), approve=approve)
        verb = "Published" if created else "Already published:"
        self.stdout.write(f"{verb} {purpose.code} version {purpose.version} ({purpose.status}).")
