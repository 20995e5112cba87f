from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "clearinghouse.releases"
    label = "releases"

    def ready(self):
        from clearinghouse.core.demo import DEMO_EXTENSIONS
        from clearinghouse.releases.demo import demo_budgets

        if demo_budgets not in DEMO_EXTENSIONS:
            DEMO_EXTENSIONS.append(demo_budgets)

        from clearinghouse.accounts.selectors import EXPORT_SECTIONS
        from clearinghouse.releases.selectors import privacy_ledger_export

        if privacy_ledger_export not in EXPORT_SECTIONS:
            EXPORT_SECTIONS.append(privacy_ledger_export)
