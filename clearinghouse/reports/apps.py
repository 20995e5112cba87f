from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "clearinghouse.reports"
    label = "reports"
