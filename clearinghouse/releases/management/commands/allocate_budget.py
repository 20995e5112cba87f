from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand
from clearinghouse.releases.budgets import budget_allocate, budget_over_cap
from clearinghouse.releases.plans import epsilon_text


class Command(ServiceCommand):
    help = (
        "Set a manufacturer's ε allocation for a purpose and period (default: this month; it carries over to later months). "
        "Refuses allocations whose sum over all manufacturers passes the purpose's cap, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("manufacturer", help="manufacturer slug")
        parser.add_argument("purpose", help="purpose code")
        parser.add_argument("--epsilon", required=True, help="ε for the period, e.g. 5 or 2.5")
        parser.add_argument("--period", default=None, help="month YYYY-MM (default: the current month)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="allocate even if all allocations together pass the purpose's cap (recorded and flagged in the audit log)",
        )

    def handle(self, *args, manufacturer, purpose, epsilon, period, force, **options):
        allocation = budget_allocate(
            manufacturer_slug=manufacturer, purpose_code=purpose, epsilon=epsilon, period=period, actor=Actor.operator(), force=force
        )
        self.stdout.write(
            f"{manufacturer} may spend {epsilon_text(allocation.allocated)} ε on {purpose} in {allocation.period} "
            f"({epsilon_text(allocation.spent)} already spent or reserved)."
        )
        over = budget_over_cap(purpose_code=allocation.purpose_code, period=allocation.period)
        if over:
            self.stderr.write(
                f"Warning: allocations for {purpose} in {allocation.period} add up to {over['total']} ε, more than its cap of "
                f"{over['cap']} ε. Recorded and flagged in the audit log; the cap still limits what releases can spend."
            )
