from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "clearinghouse.api"
    label = "api"

    def ready(self) -> None:
        from clearinghouse.api import schema  # noqa: F401  (registers the OpenAPI extensions)
