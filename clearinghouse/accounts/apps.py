from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "clearinghouse.accounts"
    label = "accounts"

    def ready(self) -> None:
        from clearinghouse.accounts import schema  # noqa: F401  (registers the OpenAPI extensions)
