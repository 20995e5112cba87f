from clearinghouse.consent.models import Purpose
from clearinghouse.consent.purposes import purpose_file_read, purpose_get, purpose_publish
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand
from clearinghouse.core.errors import NotFound


class Command(ServiceCommand):
    help = (
        "Publish a purpose version from a JSON file (see clearinghouse/consent/purposes/). It starts as a draft; "
        "--approve approves it at once with the file's impact_assessment (for the operator's own test set-ups)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--approve", action="store_true")

    def handle(self, *args, file, approve, **options):
        document = purpose_file_read(file)
        status_before = _status_of(document)
        purpose, created = purpose_publish(document=document, actor=Actor.operator(), approve=approve)
        name = f"{purpose.code} version {purpose.version}"
        if created:
            self.stdout.write(f"Published {name} ({purpose.status}).")
        elif status_before == Purpose.DRAFT and purpose.status == Purpose.APPROVED:
            self.stdout.write(f"Approved {name} (was a draft); an earlier approved version of {purpose.code}, if any, is retired.")
        else:
            self.stdout.write(f"Already published: {name} ({purpose.status}); nothing changed.")


def _status_of(document) -> str | None:
    """The status of the version the file describes, before publishing, if it exists."""
    code, version = (document.get("code"), document.get("version")) if isinstance(document, dict) else (None, None)
    if not isinstance(code, str) or not isinstance(version, int) or isinstance(version, bool):
        return None  # purpose_publish refuses the file and says why
    try:
        return purpose_get(code=code, version=version).status
    except NotFound:
        return None
