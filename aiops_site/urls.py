"""Top-level URLs. Each app keeps its own ``urls.py``; names are namespaced."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from aiops_site import views
from aiops_site.api import api

# The navigation sidebar repeats the admin index and the breadcrumbs, and at 1280 px it took
# 280 px from every changelist: with the filter column beside it the table had ~630 px, and
# "Last seen" scrolled out of sight. Changelists get the width instead.
admin.site.enable_nav_sidebar = False
# Whose admin this is, on every page and tab (not "Django administration").
admin.site.site_header = "AI-Ops Core administration"
admin.site.site_title = "AI-Ops Core admin"

urlpatterns = [
    path("", include("dashboard.urls")),
    path("health", views.health, name="health"),
    # Browsers ask for /favicon.ico whatever the page links; send them to the real icon.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", views.metrics, name="prometheus-django-metrics"),
    path("remediation/", include("remediation.urls")),
]
