from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clearinghouse.accounts import api as accounts_api
from clearinghouse.api import public
from clearinghouse.audit import api as audit_api
from clearinghouse.consent import api as consent_api
from clearinghouse.intake import api as intake_api
from clearinghouse.notices import api as notices_api
from clearinghouse.releases import api as releases_api
from clearinghouse.reports import api as reports_api
from clearinghouse.subjects import api as subjects_api
from clearinghouse.trends import api as trends_api

# The JSON API: every app's HTTP module, under one namespace ("api:<name>"), whose names
# are the keys of clearinghouse.api.permissions.PERMISSION_TABLE.
api_urlpatterns = [
    path("consumers", accounts_api.ConsumerRegisterView.as_view(), name="consumers"),
    path("auth/token", accounts_api.TokenView.as_view(), name="auth-token"),
    path("auth/unlock", accounts_api.LoginUnlockView.as_view(), name="auth-unlock"),
    path("keys", public.KeysView.as_view(), name="keys"),
    path("me", subjects_api.MeView.as_view(), name="me"),
    path("me/export", subjects_api.MeExportView.as_view(), name="me-export"),
    path("me/erasure-certificates", subjects_api.MeCertificatesView.as_view(), name="me-erasure-certificates"),
    path(
        "me/erasure-certificates/<uuid:certificate_id>",
        subjects_api.MeCertificateDetailView.as_view(),
        name="me-erasure-certificate-detail",
    ),
    path("me/purposes", consent_api.MePurposesView.as_view(), name="me-purposes"),
    path("me/consents", consent_api.MeConsentsView.as_view(), name="me-consents"),
    path("me/consents/history", consent_api.MeConsentHistoryView.as_view(), name="me-consent-history"),
    path("me/receipts/<uuid:receipt_id>/proof", audit_api.MeReceiptProofView.as_view(), name="me-receipt-proof"),
    path("me/links", accounts_api.MeLinksView.as_view(), name="me-links"),
    path("me/links/<slug:platform>", accounts_api.MeLinkDetailView.as_view(), name="me-link-detail"),
    path("me/privacy-loss", releases_api.MePrivacyLossView.as_view(), name="me-privacy-loss"),
    path("catalog", releases_api.CatalogView.as_view(), name="catalog"),
    path("trends", trends_api.TrendsView.as_view(), name="trends"),
    path("trends/plan", trends_api.TrendPlanView.as_view(), name="trend-plan"),
    path("trends/<uuid:trend_id>", trends_api.TrendDetailView.as_view(), name="trend-detail"),
    path("releases", releases_api.ReleasesView.as_view(), name="releases"),
    path("releases/plan", releases_api.ReleasePlanView.as_view(), name="release-plan"),
    path("releases/<uuid:release_id>", releases_api.ReleaseDetailView.as_view(), name="release-detail"),
    path("budget", releases_api.BudgetView.as_view(), name="budget"),
    path("reports", reports_api.ReportsView.as_view(), name="reports"),
    path("reports/plan", reports_api.ReportPlanView.as_view(), name="report-plan"),
    path("reports/<uuid:report_id>", reports_api.ReportDetailView.as_view(), name="report-detail"),
    path("callback", notices_api.CallbackView.as_view(), name="callback"),
    path("notices", notices_api.NoticesView.as_view(), name="notices"),
    path("notices/<uuid:notice_id>", notices_api.NoticeDetailView.as_view(), name="notice-detail"),
    path("notices/<uuid:notice_id>/resend", notices_api.NoticeResendView.as_view(), name="notice-resend"),
    path("platform/links", accounts_api.PlatformLinksView.as_view(), name="platform-links"),
    path(
        "platform/subjects/<str:subject_ref>/consent",
        consent_api.PlatformSubjectConsentView.as_view(),
        name="platform-subject-consent",
    ),
    path("platform/signals", intake_api.PlatformSignalsView.as_view(), name="platform-signals"),
    path("platform/batches", intake_api.PlatformBatchesView.as_view(), name="platform-batches"),
    path("platform/batches/<str:batch>", intake_api.PlatformBatchDetailView.as_view(), name="platform-batch-detail"),
    path("audit/events", audit_api.AuditEventsView.as_view(), name="audit-events"),
    path("audit/events/<int:seq>", audit_api.AuditEventDetailView.as_view(), name="audit-event-detail"),
    path("audit/verify", audit_api.AuditVerifyView.as_view(), name="audit-verify"),
    path("audit/export", audit_api.AuditExportView.as_view(), name="audit-export"),
    path("audit/checkpoints", audit_api.CheckpointsView.as_view(), name="audit-checkpoints"),
    path("audit/checkpoints/latest", audit_api.CheckpointLatestView.as_view(), name="audit-checkpoint-latest"),
    path("audit/proofs/inclusion", audit_api.InclusionProofView.as_view(), name="audit-inclusion-proof"),
    path("audit/proofs/consistency", audit_api.ConsistencyProofView.as_view(), name="audit-consistency-proof"),
    # The static tile view (C2SP tlog-tiles), issue 15.
    path("audit/tlog/checkpoint", audit_api.TlogCheckpointView.as_view(), name="audit-tlog-checkpoint"),
    path("audit/tlog/tile/entries/<path:path>", audit_api.TlogEntriesView.as_view(), name="audit-tlog-entries"),
    path("audit/tlog/tile/<path:path>", audit_api.TlogTileView.as_view(), name="audit-tlog-tile"),
]

urlpatterns = [
    path("api/v1/", include((api_urlpatterns, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", public.HealthzView.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("compliance/", include("clearinghouse.console.urls")),
    path("workbench/", include("clearinghouse.workbench.urls")),
    path("", include("clearinghouse.portal.urls")),
]

handler404 = "clearinghouse.api.handlers.not_found"
handler500 = "clearinghouse.api.handlers.server_error"
