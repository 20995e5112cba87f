from django.apps import AppConfig


class ChartsConfig(AppConfig):
    # An app only so that Django finds its template and its translations; it has no models.
    name = "clearinghouse.charts"
    label = "charts"
