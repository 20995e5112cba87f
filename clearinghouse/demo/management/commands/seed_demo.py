from clearinghouse.core.commands import ServiceCommand
from clearinghouse.demo.world import demo_seed


class Command(ServiceCommand):
    help = "Build (idempotently) a believable synthetic demo world."

    def add_arguments(self, parser):
        parser.add_argument("--consumers", type=int, default=300, help="synthetic consumers (default 300)")
        parser.add_argument("--signals", type=int, default=20_000, help="synthetic signals (default 20,000)")
        parser.add_argument("--seed", default="clearinghouse-demo", help="seed of the deterministic generator")

    def handle(self, *args, **options):
        if options["consumers"] < 0 or options["signals"] < 0:
            self.stderr.write("--consumers and --signals must not be negative")
            raise SystemExit(2)
        demo_seed(options=options, log=self.stdout.write)
