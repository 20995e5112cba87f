from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "clearinghouse.subjects"
    label = "subjects"
