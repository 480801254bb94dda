from __future__ import annotations

from django.urls import path

from remediation import views

app_name = "remediation"

urlpatterns = [
    path("runs/<int:run_id>/approve", views.approve, name="approve"),
    path("runs/<int:run_id>/reject", views.reject, name="reject"),
]
