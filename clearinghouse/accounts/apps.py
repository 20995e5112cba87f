from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "clearinghouse.accounts"
    label = "accounts"

    def ready(self) -> None:
        from clearinghouse.accounts import schema  # noqa: F401  (registers the OpenAPI extensions)
        from clearinghouse.accounts.power import power_receivers_connect

        power_receivers_connect()
