from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "clearinghouse.intake"
    label = "intake"

    def ready(self):
        from clearinghouse.accounts.selectors import EXPORT_SECTIONS
        from clearinghouse.accounts.services import CONSUMER_ERASURE_HOOKS
        from clearinghouse.core.demo import DEMO_EXTENSIONS
        from clearinghouse.intake.demo import intake_demo_extend
        from clearinghouse.intake.erasure import consumer_signals_erase, erasure_request
        from clearinghouse.intake.selectors import consumer_intake_export
        from consent.services import WITHDRAWAL_HOOKS

        for registry, hook in (
            (WITHDRAWAL_HOOKS, erasure_request),
            (CONSUMER_ERASURE_HOOKS, consumer_signals_erase),
            (EXPORT_SECTIONS, consumer_intake_export),
            (DEMO_EXTENSIONS, intake_demo_extend),
        ):
            if hook not in registry:
                registry.append(hook)
