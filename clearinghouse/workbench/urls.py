from django.urls import path

from clearinghouse.workbench import views

app_name = "workbench"

# The manufacturers' workbench, for their staff (accounts.ManufacturerStaff). Mounted at
# /workbench/. Every page acts for the logged-in person's own manufacturer only.
urlpatterns = [
    path("", views.catalogue, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("ask/", views.ask, name="ask"),
    path("ask/plan.json", views.plan_json, name="plan-json"),
    path("jobs/", views.history, name="jobs"),
    path("jobs/<uuid:job_id>/", views.job, name="job"),
    path("jobs/<uuid:job_id>.csv", views.job_csv, name="job-csv"),
    path("jobs/<uuid:job_id>.json", views.job_json, name="job-json"),
    path("budget/", views.budget, name="budget"),
]
