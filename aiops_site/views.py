"""Site-wide views: health for load balancers and the operator's landing page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from aiops_site.health import build_health_report


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    report = build_health_report()
    return JsonResponse(report, status=200 if report["healthy"] else 503)


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "overview.html", {"health": build_health_report()})
