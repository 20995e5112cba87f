from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "clearinghouse.releases"
    label = "releases"
