from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "clearinghouse.console"
    label = "console"
