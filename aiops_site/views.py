"""Site-wide views: health for load balancers, Prometheus metrics (the overview lives in
``dashboard``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import generate_latest

from agents.health import build_health_report
from agents.metrics import refresh_mesh_gauges
from aiops_site.scrape_metrics import SCRAPE_REGISTRY


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    report = build_health_report()
    return JsonResponse(report, status=200 if report["healthy"] else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition (django-prometheus), with the mesh gauges read fresh, then the
    scrape-time figures (a separate registry: multiprocess mode exports only files)."""
    refresh_mesh_gauges()
    response = ExportToDjangoView(request)
    response.write(generate_latest(SCRAPE_REGISTRY))
    return response
