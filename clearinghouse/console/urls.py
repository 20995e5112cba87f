from django.urls import path

from clearinghouse.console import views

app_name = "compliance"

# The compliance console, for members of the compliance group. Mounted at /compliance/.
urlpatterns = [
    path("", views.home, name="home"),
    path("purposes/", views.purposes, name="purposes"),
    path("purposes/<slug:code>/<int:version>/", views.purpose_detail, name="purpose"),
    path("audit/", views.audit_browser, name="audit"),
    path("audit/<int:seq>/", views.audit_event, name="event"),
    path("audit/<int:seq>/proof.json", views.audit_event_proof, name="event-proof"),
    path("verify/", views.verify, name="verify"),
    path("verify/<int:run_id>/", views.verify_run, name="verify-run"),
    path("auditor/", views.auditor, name="auditor"),
    path("auditor/checkpoints/<int:checkpoint_id>.json", views.checkpoint_download, name="checkpoint"),
    path("auditor/sign/", views.checkpoint_sign, name="checkpoint-sign"),
    path("reports/", views.reports_index, name="reports"),
    path("reports/<slug:slug>/", views.report, name="report"),
    path("reports/<slug:slug>/download.csv", views.report_download, {"fmt": "csv"}, name="report-csv"),
    path("reports/<slug:slug>/download.json", views.report_download, {"fmt": "json"}, name="report-json"),
    path("processing-records/", views.processing_records, name="ropa"),
    path("processing-records/download.json", views.processing_records_download, {"fmt": "json"}, name="ropa-json"),
    path("processing-records/download.csv", views.processing_records_download, {"fmt": "csv"}, name="ropa-csv"),
]
