from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "clearinghouse.portal"
    label = "portal"
