from __future__ import annotations

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("panels/<slug:name>/", views.panel, name="panel"),
    path("problems/<int:pk>/", views.problem_detail, name="problem"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("agents/<str:name>/", views.agent_detail, name="agent"),
    path("events/", views.event_tail, name="events"),
    path("services/", views.services, name="services"),
]
