from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "clearinghouse.workbench"
    label = "workbench"
