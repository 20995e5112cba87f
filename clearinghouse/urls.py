from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clearinghouse.core.api import HealthzView

urlpatterns = [
    path("api/v1/", include("clearinghouse.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("compliance/", include("clearinghouse.audit.console_urls")),
    path("", include("clearinghouse.portal.urls")),
]

handler404 = "clearinghouse.core.views.not_found"
handler500 = "clearinghouse.core.views.server_error"
