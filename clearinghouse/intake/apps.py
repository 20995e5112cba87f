from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "clearinghouse.intake"
    label = "intake"

    def ready(self) -> None:
        from clearinghouse.consent.signals import consent_withdrawn
        from clearinghouse.intake.erasure import erasure_request

        consent_withdrawn.connect(erasure_request, dispatch_uid="intake.erasure_request")
