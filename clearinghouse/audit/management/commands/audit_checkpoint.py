import json
from pathlib import Path

from clearinghouse.audit.services import audit_checkpoint_sign
from clearinghouse.audit.witnessing import audit_checkpoint_cosign
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Seal pending audit events and sign a checkpoint (tree size, root hash, time, key id) now; print it as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="sign a new checkpoint even if the log did not grow")
        parser.add_argument("--output", help="also write the signed checkpoint to this file (for an auditor)")
        parser.add_argument(
            "--cosign",
            action="store_true",
            help="then offer it to the witnesses of CH_AUDIT_WITNESSES now and wait for their answers (the service otherwise "
            "does this in a background job)",
        )

    def handle(self, *args, **options):
        checkpoint, created = audit_checkpoint_sign(force=options["force"])
        document = json.dumps(checkpoint.envelope(), indent=2)
        if options["output"]:
            Path(options["output"]).write_text(document + "\n", encoding="utf-8")
        self.stdout.write(document)
        if not created:
            self.stderr.write("the log did not grow since the latest checkpoint; it is shown above (use --force to sign anew)")
        if options["cosign"]:
            for witness, outcome in audit_checkpoint_cosign(checkpoint_id=checkpoint.pk).items():
                self.stderr.write(f"witness {witness}: {outcome}")
