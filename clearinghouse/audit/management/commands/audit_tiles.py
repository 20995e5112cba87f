from pathlib import Path

from clearinghouse.audit.tiles import tiles_write
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Write the log as static tiles (C2SP tlog-tiles: checkpoint, tile/<L>/<N>, tile/entries/<N>) under a directory, "
        "for an auditor to mirror and verify offline with tools/audit_verify.py tiles. Re-running adds only what is new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="directory to write (created if missing)")

    def handle(self, *args, output, **options):
        directory = Path(output)
        directory.mkdir(parents=True, exist_ok=True)
        checkpoint, written = tiles_write(directory=directory)
        self.stdout.write(f"wrote {written} files for the checkpoint of {checkpoint.tree_size} events under {directory}")
