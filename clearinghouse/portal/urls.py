from django.urls import path
from django.views.generic import TemplateView

app_name = "portal"

# The consumer portal and compliance console are built on this namespace.
urlpatterns = [
    path("", TemplateView.as_view(template_name="portal/home.html"), name="dashboard"),
    path("login/", TemplateView.as_view(template_name="portal/home.html"), name="login"),
]
