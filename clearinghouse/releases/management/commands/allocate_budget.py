from clearinghouse.core.actors import Actor
from clearinghouse.core.commands import ServiceCommand
from clearinghouse.releases.budgets import budget_allocate
from clearinghouse.releases.plans import epsilon_text


class Command(ServiceCommand):
    help = "Set a manufacturer's ε allocation for a purpose and period (default: this month; it carries over to later months)."

    def add_arguments(self, parser):
        parser.add_argument("manufacturer", help="manufacturer slug")
        parser.add_argument("purpose", help="purpose code")
        parser.add_argument("--epsilon", required=True, help="ε for the period, e.g. 5 or 2.5")
        parser.add_argument("--period", default=None, help="month YYYY-MM (default: the current month)")

    def handle(self, *args, manufacturer, purpose, epsilon, period, **options):
        allocation = budget_allocate(
            manufacturer_slug=manufacturer, purpose_code=purpose, epsilon=epsilon, period=period, actor=Actor.operator()
        )
        self.stdout.write(
            f"{manufacturer} may spend {epsilon_text(allocation.allocated)} ε on {purpose} in {allocation.period} "
            f"({epsilon_text(allocation.spent)} already spent or reserved)."
        )
