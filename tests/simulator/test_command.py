"""``manage.py simulate``: runs the simulator for a while, reports, stops."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from agents.models import Service
from simulator.deployment import SERVICES
from simulator.models import FaultInjection
from tests.simulator.conftest import events


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """The command takes over SIGINT/SIGTERM to stop cleanly; give them back to pytest."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_aiops_settings", "keep_signal_handlers")
def test_simulate_runs_for_its_duration_and_stops() -> None:
    out = StringIO()
    call_command("simulate", "--redis", "--duration", "3", "--seed", "3", stdout=out)
    text = out.getvalue()
    assert "control API at http://127.0.0.1:" in text
    assert text.rstrip().endswith("Simulator stopped.")

    requests = events("api.request")
    assert len(requests) >= 5
    assert {e.source for e in requests} == {"bookmarks"}
    assert events("import.started")  # the first import starts right away
    services = Service.objects.filter(name__in=SERVICES)
    assert sorted(s.name for s in services) == sorted(SERVICES)
    control_url = services.get(name="search").control_url
    with pytest.raises(httpx.ConnectError):  # stop() took the control API down with it
        httpx.get(f"{control_url}/control/health", timeout=2)
    assert not FaultInjection.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_aiops_settings", "keep_signal_handlers")
def test_simulate_injects_the_scenario_it_is_given() -> None:
    out = StringIO()
    call_command(
        "simulate", "--redis", "--duration", "1", "--seed", "4",
        "--scenario", "redis_outage", "--after", "0", stdout=out,
    )  # fmt: skip
    assert "Injected redis_outage." in out.getvalue()
    row = FaultInjection.objects.get()
    assert (row.scenario, row.root_cause, row.run_label) == (
        "redis_outage", "session_store_down", "manual",
    )  # fmt: skip


def test_simulate_without_token_or_redis_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIOPS_SIMULATOR_TOKEN", raising=False)
    with pytest.raises(CommandError, match="a token is needed .*--token.*--redis"):
        call_command("simulate", "--duration", "1")


def test_simulate_refuses_an_unknown_scenario() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        call_command("simulate", "--redis", "--scenario", "nope")
