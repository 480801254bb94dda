"""Site-wide views: health for load balancers, Prometheus metrics (the overview lives in
``dashboard``)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
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


def may_scrape(request: HttpRequest) -> bool:
    """A scraper from ``METRICS_ALLOWED_NETWORKS``, or one with ``METRICS_BEARER_TOKEN``."""
    token = settings.METRICS_BEARER_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        client in ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.METRICS_ALLOWED_NETWORKS
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition (django-prometheus), with the mesh gauges read fresh, then the
    scrape-time figures (a separate registry: multiprocess mode exports only files)."""
    if not may_scrape(request):
        return HttpResponseForbidden(
            "metrics are served to METRICS_ALLOWED_NETWORKS or with METRICS_BEARER_TOKEN\n",
            content_type="text/plain",
        )
    refresh_mesh_gauges()
    response = ExportToDjangoView(request)
    response.write(generate_latest(SCRAPE_REGISTRY))
    return response
