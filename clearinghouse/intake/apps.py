from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "clearinghouse.intake"
    label = "intake"
