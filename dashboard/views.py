"""Dashboard pages. Thin: each view gathers a context (``panels``/``queries``) and renders.

Every page needs a login. Views that answer htmx requests with a partial vary on
``HX-Request`` so caches keep the two answers apart.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from agents.health import build_health_report
from agents.models import Agent
from dashboard import incidents, queries
from dashboard.panels import OVERVIEW_TEMPLATE, PANELS, decide_urls, panel_context, run_model
from dashboard.roles import can_approve
from knowledge import services as knowledge
from knowledge.models import Incident, Problem


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    context = {
        **panel_context(),
        "health": build_health_report(),
        "can_approve": can_approve(request.user),
    }
    return render(request, OVERVIEW_TEMPLATE, context)


@login_required
@require_GET
def panel(request: HttpRequest, name: str) -> HttpResponse:
    """One panel alone (the fragment the WebSocket pushes), for htmx or a plain reload."""
    if name not in PANELS:
        raise Http404("no such panel")
    context = {**panel_context([name]), "can_approve": can_approve(request.user)}
    return render(request, f"{OVERVIEW_TEMPLATE}#{name}", context)


@login_required
@require_GET
def problem_detail(request: HttpRequest, pk: int) -> HttpResponse:
    problem = get_object_or_404(Problem, pk=pk)
    return render(request, "dashboard/problem.html", queries.problem_detail(problem))


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = run_model()
    if model is None:
        raise Http404("remediation is not installed")
    run = get_object_or_404(model.objects.select_related("rule", "diagnosis__problem"), pk=pk)
    context = {**queries.run_detail(run), "can_approve": can_approve(request.user)}
    context["decide_urls"] = decide_urls(run.pk) if run.status == "awaiting_approval" else None
    return render(request, "dashboard/run.html", context)


@login_required
@require_GET
def agent_detail(request: HttpRequest, name: str) -> HttpResponse:
    agent = get_object_or_404(Agent, name=name)
    return render(request, "dashboard/agent.html", queries.agent_detail(agent))


@login_required
@require_GET
def event_tail(request: HttpRequest) -> HttpResponse:
    event_type = request.GET.get("type", "").strip()
    service = request.GET.get("service", "").strip()
    # The tail refreshes itself every few seconds from the streams (Redis); only the full
    # page reads the database, for the filter's service list.
    context = queries.event_tail(event_type=event_type, service=service)
    if request.htmx:
        response = render(request, "dashboard/events.html#tail", context)
    else:
        context["services"] = queries.service_names()
        response = render(request, "dashboard/events.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_GET
def services(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/services.html", queries.services_detail())


def _incident(pk: int) -> Incident:
    return get_object_or_404(Incident.objects.select_related("diagnosis__problem"), pk=pk)


@login_required
@require_GET
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    context = incidents.incident_detail(_incident(pk), can_act=can_approve(request.user))
    return render(request, "dashboard/incident.html", context)


@login_required
@require_GET
def incident_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's live part alone: fetched when a pushed ``incident.*`` event says so."""
    context = incidents.incident_detail(_incident(pk), can_act=can_approve(request.user))
    response = render(request, "dashboard/incident.html#live", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _require_operator(request: HttpRequest) -> None:
    if not can_approve(request.user):
        raise PermissionDenied("operators acknowledge and resolve incidents")


@login_required
@require_POST
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    knowledge.acknowledge(_incident(pk), request.user)
    return redirect("dashboard:incident", pk=pk)


@login_required
@require_POST
def incident_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    _require_operator(request)
    note = request.POST.get("note", "").strip()[:480]
    knowledge.resolve(_incident(pk), actor=request.user, note=note or "resolved by hand")
    return redirect("dashboard:incident", pk=pk)
