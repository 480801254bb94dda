"""Top-level URLs. Each app keeps its own ``urls.py``; names are namespaced."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from agents.ingest.api import api
from aiops_site import views

urlpatterns = [
    path("", include("dashboard.urls")),
    path("health", views.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", views.metrics, name="prometheus-django-metrics"),
    path("remediation/", include("remediation.urls")),
]
