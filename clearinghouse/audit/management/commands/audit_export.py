import sys

from clearinghouse.audit.selectors import EventFilter, audit_export_lines
from clearinghouse.audit.services import audit_export_start
from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Write the sealed audit log as JSON Lines (verifiable offline with tools/audit_verify.py)."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--tree-size", type=int, help="export events 1..N, e.g. the size of the checkpoint you hand over")

    def handle(self, *args, **options):
        upto = audit_export_start(actor=Actor.operator(), filters={}, tree_size=options["tree_size"])
        target = open(options["output"], "wb") if options["output"] else sys.stdout.buffer  # noqa: SIM115 (closed below, unless stdout)
        try:
            for line in audit_export_lines(filters=EventFilter(), upto=upto):
                target.write(line)
        finally:
            if options["output"]:
                target.close()
        if options["output"]:
            self.stderr.write(f"wrote events 1..{upto} to {options['output']}")
