"""The few lines a person watching ``make run`` wants: an incident opened, a fix waiting for
approval, an incident resolved (or back again). Everything else goes to ``var/log/``.

``manage.py narrate`` (a Procfile process, the one whose output supervisord sends to the
terminal) tails the mesh's streams of those events with a plain XREAD from "now": it is a
reader, not a consumer group member, so it never takes work from an agent and a restart
simply starts from the newest entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import redis
from django.urls import reverse
from django.utils import timezone

from agents.events import Event, stream_name
from agents.mesh import EVENT_FIELD
from core.redis import get_redis
from knowledge.incident_text import readable
from knowledge.models import Incident
from remediation.actions import action_title

NARRATED = ("incident.opened", "incident.resolved", "incident.reopened",
            "remediation.awaiting_approval")  # fmt: skip
BLOCK_MS = 5000
RETRY_SECONDS = 5.0
REASON_LENGTH = 120


def line(event: Event, base_url: str) -> str:
    """One event as one line: time, what, which incident, where, how bad, the link.

    Words as the pages say them: an action's title ("Clear cache", not ``clear_cache``),
    titles and reasons through ``readable`` (no ``<*>``, braces or second lines)."""
    p = event.payload
    at = timezone.localtime(event.timestamp).strftime("%H:%M:%S")
    if event.type == "remediation.awaiting_approval":
        incident = Incident.objects.filter(diagnosis_id=p.get("diagnosis")).first()
        target = "/".join(x for x in (p.get("service"), p.get("instance")) if x) or "?"
        url = base_url + (
            reverse("dashboard:incident", args=[incident.pk])
            if incident
            else reverse("dashboard:run", args=[p.get("run")])
        )
        what = f"#{incident.pk} " if incident else ""
        action = action_title(str(p.get("action") or ""))
        return f"{at}  APPROVAL NEEDED    {what}{action} on {target} ({p.get('risk')} risk)  {url}"
    url = base_url + reverse("dashboard:incident", args=[p.get("incident")])
    where = f" on {p.get('service')}" if p.get("service") else ""
    head = {"incident.opened": "INCIDENT OPENED  ", "incident.resolved": "RESOLVED         ",
            "incident.reopened": "REOPENED         "}[event.type]  # fmt: skip
    title = readable(str(p.get("title") or ""))
    text = f"{at}  {head}  #{p.get('incident')} {title}{where} ({p.get('severity')})"
    reason = str(p.get("reason") or "").strip()
    if event.type != "incident.opened" and reason:
        text += f": {readable(reason, REASON_LENGTH)}"
    return f"{text}  {url}"


def follow(client: redis.Redis | None = None, *, stop: Callable[[], bool] = lambda: False,
           block_ms: int = BLOCK_MS) -> Iterator[Event]:  # fmt: skip
    """The narrated events published from now on, in order per stream; waits out outages."""
    client = client or get_redis()
    last: dict[str, str] | None = None
    while not stop():
        try:
            # "$" would be re-read at every call, losing what arrives between two reads.
            last = last or _latest_ids(client, [stream_name(t) for t in NARRATED])
            batches = client.xread(last, block=block_ms, count=100)
        except redis.RedisError:
            time.sleep(RETRY_SECONDS)
            continue
        for stream, entries in batches or []:
            for entry_id, fields in entries:
                last[stream.decode()] = entry_id.decode()
                yield Event.from_json(fields[EVENT_FIELD.encode()])


def _latest_ids(client: redis.Redis, streams: list[str]) -> dict[str, str]:
    """Each stream's newest entry id now ("0-0" for a stream not created yet)."""
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xrevrange(stream, count=1)
    newest = pipe.execute()
    return {
        stream: rows[0][0].decode() if rows else "0-0"
        for stream, rows in zip(streams, newest, strict=True)
    }
