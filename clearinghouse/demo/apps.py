from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "clearinghouse.demo"
    label = "demo"
