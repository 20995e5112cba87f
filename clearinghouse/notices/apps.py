from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "clearinghouse.notices"
    label = "notices"

    def ready(self) -> None:
        from clearinghouse.notices.services import notice_record
        from clearinghouse.releases.signals import job_ended

        job_ended.connect(notice_record, dispatch_uid="notices.notice_record")
