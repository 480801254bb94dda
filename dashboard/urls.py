from __future__ import annotations

from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("panels/<slug:name>/", views.panel, name="panel"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident"),
    path("incidents/<int:pk>/live/", views.incident_live, name="incident-live"),
    path(
        "incidents/<int:pk>/acknowledge/", views.incident_acknowledge, name="incident-acknowledge"
    ),
    path("incidents/<int:pk>/resolve/", views.incident_resolve, name="incident-resolve"),
    path("problems/<int:pk>/", views.problem_detail, name="problem"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("agents/<str:name>/", views.agent_detail, name="agent"),
    path("events/", views.event_tail, name="events"),
    path("services/", views.services, name="services"),
]
