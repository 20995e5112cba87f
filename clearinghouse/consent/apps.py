from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "clearinghouse.consent"
    label = "consent"
