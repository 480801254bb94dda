"""`make run` keeps the terminal for people: the start banner and a line per incident and
approval, while every process's full log lands in var/log/. One real stack, simulator
included, run for a while; plus the narrator's lines and supervisord's config on their own."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis

from agents.events import Event, system_event
from agents.system_events import IncidentChanged, RunChanged
from aiops_site import embedded, supervision
from aiops_site.narration import follow, line
from tests.incidents.conftest import open_incident
from tests.site.test_stack import ROOT, _free_port, _stack_env, _wait_for_health

WATCH_SECONDS = 75  # past the simulator's 60 s warm-up: its first fault is injected


def opened(incident: int = 7, **fields) -> Event:
    return changed("opened", incident, **fields)


def changed(change: str, incident: int, **fields) -> Event:
    payload = IncidentChanged(**{
        "incident": incident, "diagnosis": 3, "service": "import-worker",
        "title": "Import worker memory leak", "severity": "critical", "state": "diagnosed",
        **fields,
    })  # fmt: skip
    return system_event(f"incident.{change}", payload, source="knowledge", severity="warning")


def test_the_narrator_says_what_happened_in_one_line_with_a_link():
    text = line(opened(), "http://ops:8000")

    assert "INCIDENT OPENED" in text and "#7 Import worker memory leak on import-worker" in text
    assert text.endswith("(critical)  http://ops:8000/incidents/7/")
    assert "\n" not in text


@pytest.mark.django_db
def test_an_approval_without_an_incident_links_to_its_run():
    payload = RunChanged(
        run=42, rule=1, diagnosis=999999, status="awaiting_approval", service="bookmarks",
        instance="web-1", action="restart_service", risk="high", confidence=0.9,
    )  # fmt: skip
    event = system_event("remediation.awaiting_approval", payload, instance="remediation")

    text = line(event, "http://ops:8000")

    assert "APPROVAL NEEDED    Restart service on bookmarks/web-1 (high risk)" in text
    assert "restart_service" not in text
    assert text.endswith("http://ops:8000/runs/42/")


def approval(action: str, diagnosis: int = 999999) -> Event:
    payload = RunChanged(
        run=42, rule=1, diagnosis=diagnosis, status="awaiting_approval", service="bookmarks",
        action=action, risk="medium", confidence=0.9,
    )  # fmt: skip
    return system_event("remediation.awaiting_approval", payload, instance="remediation")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "title"),
    [
        ("clear_cache", "Clear cache"),
        ("retry_with_smaller_batch", "Retry with a smaller batch"),
        ("purge_old_sessions", "Purge old sessions"),  # no longer registered: words, no code
    ],
)
def test_an_approval_names_the_action_by_its_title_like_the_pages(action, title):
    text = line(approval(action), "http://ops:8000")

    assert f"APPROVAL NEEDED    {title} on bookmarks (medium risk)" in text
    assert action not in text


@pytest.mark.django_db
def test_an_approval_of_an_incident_names_the_incident_and_links_to_it():
    incident = open_incident()

    text = line(approval("clear_cache", incident.diagnosis_id), "http://ops:8000")

    assert f"APPROVAL NEEDED    #{incident.pk} Clear cache on bookmarks (medium risk)" in text
    assert text.endswith(f"http://ops:8000/incidents/{incident.pk}/")


def test_titles_and_reasons_are_told_in_words_without_tokens_dicts_or_second_lines():
    event = changed(
        "reopened", 9, title="HTMLParseError: HTMLParseError: bad tag <*> at line <*>",
        reason="Needs a human: “Clear cache” did not fix it (HTTPStatusError: "
        "{'status': 503, 'detail': 'upstream <*>'}\nTraceback (most recent call last): ...)",
    )  # fmt: skip

    text = line(event, "http://ops:8000")

    assert "#9 HTMLParseError: bad tag … at line … on import-worker (critical): Needs a" in text
    assert "(HTTPStatusError: ('status': 503, 'detail': 'upstream …') Traceback" in text
    assert not any(raw in text for raw in ("<*>", "{", "}", "\n"))
    assert text.endswith("http://ops:8000/incidents/9/")


def test_a_long_reason_is_cut_with_an_ellipsis_and_a_blank_one_is_left_out():
    long = changed("resolved", 5, reason="Fixed by “Clear cache”: " + "no new occurrences " * 20)
    blank = changed("resolved", 6, reason="  ")

    said = line(long, "http://ops:8000").split("(critical): ")[1]
    assert said.endswith("…  http://ops:8000/incidents/5/")
    assert len(said.removesuffix("  http://ops:8000/incidents/5/")) <= 120
    assert line(blank, "http://ops:8000").endswith("(critical)  http://ops:8000/incidents/6/")


def test_the_narrator_follows_only_new_narrated_events(clean_redis):
    client = clean_redis
    client.xadd("events:incident.opened", {"e": opened(1).to_json()})  # before: not narrated
    seen: list[Event] = []
    reader = threading.Thread(
        target=lambda: seen.extend(
            e for _, e in zip(range(2), follow(client, block_ms=200), strict=False)
        ),
        daemon=True,
    )
    reader.start()
    time.sleep(0.5)
    client.xadd("events:incident.note", {"e": opened(2).to_json()})  # not a narrated type
    client.xadd("events:incident.opened", {"e": opened(3).to_json()})
    client.xadd("events:incident.opened", {"e": opened(4).to_json()})
    reader.join(timeout=10)

    assert [e.payload["incident"] for e in seen] == [3, 4]


def test_only_the_narrator_writes_to_the_terminal(tmp_path):
    config = supervision.write_config(
        tmp_path, {"web": ["python", "-V"], "narrate": ["python", "-V"]}, str(tmp_path)
    ).read_text()

    web, narrate = config.split("[program:web]")[1].split("[program:narrate]")
    assert f"stdout_logfile={tmp_path / 'log' / 'web.log'}" in web
    assert "stdout_logfile=/dev/stdout" in narrate and "/dev/stdout" not in web
    assert f"logfile={tmp_path / 'log' / 'supervisord.log'}" in config.split("[program")[0]


def test_make_run_keeps_the_terminal_short_and_logs_everything_to_var_log():
    base = Path(tempfile.mkdtemp(prefix="aiops-quiet-"))
    base.chmod(0o755)  # the embedded PostgreSQL's own user must reach its data
    var_dir = base / "var"
    port = _free_port()
    output: list[str] = []
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port)],
        cwd=ROOT, env=_stack_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    threading.Thread(target=lambda: output.extend(runner.stdout), daemon=True).start()
    try:
        _wait_for_health(f"http://127.0.0.1:{port}/health", runner, timeout=150)
        started = time.monotonic()
        stack_redis = redis.Redis(port=int((var_dir / "redis" / "port").read_text()))
        # The narrator reads from "now" once it is up: announce until its line shows.
        while not any("#77" in o for o in output) and time.monotonic() - started < 60:
            stack_redis.xadd("events:incident.opened", {"e": opened(77).to_json()})
            time.sleep(3)
        time.sleep(max(0.0, WATCH_SECONDS - (time.monotonic() - started)))
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        embedded.stop_servers(var_dir)
        logs = {p.name: p.read_text(errors="replace") for p in (var_dir / "log").glob("*.log")}
        shutil.rmtree(base, ignore_errors=True)

    terminal = "".join(output)
    sizes = {name: len(text.splitlines()) for name, text in logs.items()}
    print(f"terminal: {len(output)} lines; var/log: {sizes}\n{terminal}")
    assert len(output) < 20, terminal
    assert "AI-Ops Core is starting on" in terminal and "/log/<process>.log" in terminal
    link = f"http://127.0.0.1:{port}/incidents/77/"
    assert f"#77 Import worker memory leak on import-worker (critical)  {link}" in terminal
    assert "spawned" not in terminal  # supervisord's own lines stay in its log
    # Redis writes its own log under var/redis/; its supervisord log exists but stays empty.
    assert "redis.log" in logs
    for name in ("web", "worker", "beat", "sim", "postgres", "supervisord"):
        assert logs.get(f"{name}.log"), f"nothing in var/log/{name}.log: {sorted(logs)}"
    assert "ready" in logs["worker.log"]
    assert "inject" in logs["sim.log"].lower()
    assert "success: web entered RUNNING" in logs["supervisord.log"]
