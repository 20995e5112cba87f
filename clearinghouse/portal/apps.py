from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "clearinghouse.portal"
    label = "portal"

    def ready(self) -> None:
        from clearinghouse.core.demo import DEMO_EXTENSIONS
        from clearinghouse.portal.demo import demo_consumer_links

        if demo_consumer_links not in DEMO_EXTENSIONS:
            DEMO_EXTENSIONS.append(demo_consumer_links)
