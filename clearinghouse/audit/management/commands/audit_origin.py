from pathlib import Path

from clearinghouse.audit.services import audit_origin_line
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Print this log's origin and checkpoints public key as ORIGIN=BASE64: the line a witness pins "
        "(witness serve --log, or --log-file for the file --output writes). Hand it to a witness's operator "
        "through a channel other than this service."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", help="also write the line to this file (public: no secret in it)")

    def handle(self, *args, **options):
        line = audit_origin_line()
        if options["output"]:
            path = Path(options["output"])
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(line + "\n", encoding="utf-8")
            temporary.replace(path)
        self.stdout.write(line)
