"""Approve / reject endpoints (POST, CSRF, login, permission). The engine decides; these
views only translate its answers to HTTP: 403 without the permission, 409 when the run is
no longer awaiting a decision."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from remediation import engine
from remediation.models import RemediationRun


def _answer(run: RemediationRun) -> JsonResponse:
    return JsonResponse({"run": run.pk, "status": run.status})


@login_required
@require_POST
def approve(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(RemediationRun, pk=run_id)
    try:
        run = engine.approve(run, request.user)
    except engine.ApprovalError as exc:
        return JsonResponse({"run": run.pk, "error": str(exc)}, status=409)
    return _answer(run)


@login_required
@require_POST
def reject(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(RemediationRun, pk=run_id)
    try:
        run = engine.reject(run, request.user, request.POST.get("reason", "")[:500])
    except engine.ApprovalError as exc:
        return JsonResponse({"run": run.pk, "error": str(exc)}, status=409)
    return _answer(run)
