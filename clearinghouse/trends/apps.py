from django.apps import AppConfig


class TrendsConfig(AppConfig):
    name = "clearinghouse.trends"
    label = "trends"
