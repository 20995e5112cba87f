import signal

from clearinghouse.audit.services import audit_sealer_require_postgresql, audit_sealer_run
from clearinghouse.core.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Run the dedicated audit sealer (for CH_AUDIT_SEALER=process; needs PostgreSQL): gives every event that was "
        "committed unsealed its place in the chain. Stops cleanly on SIGTERM or SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--idle-seconds", type=float, default=0.02, help="how long to sleep when nothing waits to be sealed")

    def handle(self, *args, **options):
        audit_sealer_require_postgresql()  # before saying it runs
        stopping = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write("audit sealer running")
        sealed = audit_sealer_run(stop=lambda: bool(stopping), idle_seconds=options["idle_seconds"])
        self.stdout.write(f"audit sealer stopped after sealing {sealed} events")
