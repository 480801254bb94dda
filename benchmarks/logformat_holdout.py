"""Hold-out formats for ``benchmarks.logformats``: written after the miner's rules were fixed.

The thirteen formats in ``logformats.FORMATS`` were scored before any rule changed (the
honest "unseen" figure) and then used to find failures, so their later figures are
development figures. These six were written once the rules were settled and are scored as
they come: Kubernetes' klog, PostgreSQL's default ``log_line_prefix``, Redis, the nginx
error log, Elasticsearch's console layout and Docker's json-file driver (each line's text
under ``log``).

History (issue 15), so the figure is read right: scored once as written, they gave mean GA
0.992 / FGA 0.855, against 0.967 / 0.921 for the code before the rules. The drop was the
nginx error log (GA 0.955, FGA 0.132: 98 groups for 8 events), a fault of the new route
rule, which kept every ``/<id>.png`` as its own route. Routes now take the words' rule
(a segment with many values is a parameter); since that one fix these are no longer
strictly unseen.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

from benchmarks import logformat_pools as pools

K8S: list[pools.Event] = [
    ("I", "controller.go:{num}", 'Successfully synced "{id}/{host}"'),
    ("I", "controller.go:{num}", 'Started pod "{id}-{id}" on node "{host}"'),
    (
        "W",
        "reflector.go:{num}",
        "watch of *v1.Pod ended with: too old resource version: {big} ({big})",
    ),
    (
        "E",
        "pod_workers.go:{num}",
        'Error syncing pod {uuid}, skipping: failed to "StartContainer" for "{id}" with CrashLoopBackOff',
    ),
    ("I", "kubelet.go:{num}", "SyncLoop (PLEG): event for pod {id}: ContainerStarted"),
    ("I", "kubelet.go:{num}", "SyncLoop (PLEG): event for pod {id}: ContainerDied"),
    ("I", "leaderelection.go:{num}", "successfully acquired lease kube-system/{id}"),
    ("W", "container_manager.go:{num}", "CPU usage {float}% above threshold on node {host}"),
    ("I", "server.go:{num}", "Serving securely on {ip}:{port}"),
    ("E", "event.go:{num}", "Unable to write event: Post {url}: dial tcp {ip}:{port}: i/o timeout"),
    (
        "I",
        "scheduler.go:{num}",
        "Successfully bound pod to node pod={id} node={host} evaluatedNodes={num} feasibleNodes={num}",
    ),
    ("I", "garbagecollector.go:{num}", "Deleting object {uuid} with propagation policy Background"),
]

POSTGRES: list[pools.Event] = [
    ("LOG", "", "duration: {float} ms  statement: SELECT * FROM accounts WHERE id = {num}"),
    ("LOG", "", "checkpoint starting: time"),
    (
        "LOG",
        "",
        "checkpoint complete: wrote {num} buffers ({float}%); {num} WAL file(s) added, {num} removed, {num} recycled; write={float} s",
    ),
    ("LOG", "", "connection received: host={ip} port={port}"),
    ("LOG", "", "connection authorized: user={user} database=shop application_name=psql"),
    (
        "LOG",
        "",
        "disconnection: session time: {float} user={user} database=shop host={ip} port={port}",
    ),
    ("ERROR", "", 'duplicate key value violates unique constraint "orders_pkey"'),
    ("ERROR", "", "canceling statement due to statement timeout"),
    ("FATAL", "", 'password authentication failed for user "{user}"'),
    ("WARNING", "", "there is no transaction in progress"),
    ("LOG", "", 'automatic vacuum of table "shop.public.{id}": index scans: {num}'),
    ("LOG", "", "database system is ready to accept connections"),
]

REDIS: list[pools.Event] = [
    ("*", "M", "Background saving started by pid {pid}"),
    ("*", "C", "DB saved on disk"),
    ("*", "M", "Background saving terminated with success"),
    ("*", "M", "{num} changes in {num} seconds. Saving..."),
    (
        "#",
        "M",
        "WARNING overcommit_memory is set to 0! Background save may fail under low memory condition.",
    ),
    ("*", "M", "Replica {ip}:{port} asks for synchronization"),
    ("*", "M", "Synchronization with replica {ip}:{port} succeeded"),
    ("#", "M", "Connection with replica {ip}:{port} lost."),
    ("*", "M", "Ready to accept connections tcp"),
    ("-", "M", "Accepted {ip}:{port}"),
]

NGINX_ERROR: list[pools.Event] = [
    (
        "error",
        "",
        'open() "{path}" failed (2: No such file or directory), client: {ip}, server: shop.example.com, request: "GET /{id}.png HTTP/1.1"',
    ),
    (
        "error",
        "",
        'connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, server: shop.example.com, request: "POST /api/v1/orders HTTP/1.1", upstream: "http://{ip}:8080/api/v1/orders"',
    ),
    (
        "warn",
        "",
        "an upstream response is buffered to a temporary file {path} while reading upstream, client: {ip}",
    ),
    (
        "error",
        "",
        'upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: shop.example.com, request: "GET /api/v1/products/{num} HTTP/1.1"',
    ),
    ("notice", "", "signal process started"),
    (
        "crit",
        "",
        "SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: {ip}, server: {ip}:443",
    ),
    (
        "error",
        "",
        'limiting requests, excess: {float} by zone "api", client: {ip}, server: shop.example.com',
    ),
    ("warn", "", 'conflicting server name "{host}" on 0.0.0.0:80, ignored'),
]


def _klog(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    caller = ev[1].replace("{num}", str(r.randint(30, 900)))
    return f"{ev[0]}{t:%m%d %H:%M:%S}.{t.microsecond:06d} {r.randint(1, 99999):>7} {caller}] {msg}"


def _postgres(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    stamp = f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} UTC"
    return f"{stamp} [{r.randint(100, 99999)}] {ev[0]}:  {msg}"


def _redis(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    stamp = f"{t:%d %b %Y %H:%M:%S}.{t.microsecond // 1000:03d}"
    return f"{r.randint(1, 9999)}:{ev[1]} {stamp} {ev[0]} {msg}"


def _nginx_error(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    worker = r.randint(100, 9999)
    return f"{t:%Y/%m/%d %H:%M:%S} [{ev[0]}] {worker}#{worker}: *{r.randint(1, 10**6)} {msg}"


def _elastic(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    stamp = f"{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}"
    logger = ev[1][-28:]
    return f"[{stamp}][{ev[0]:<5}][{logger:<28}] [es-node-{r.randint(1, 3)}] {msg}"


def _docker(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}{r.randint(0, 999):03d}Z"
    stream = "stderr" if ev[0] in ("warn", "error") else "stdout"
    return json.dumps({"log": msg + "\n", "stream": stream, "time": stamp})


HOLDOUT = {
    "Klog": (_klog, K8S),
    "PostgresLog": (_postgres, POSTGRES),
    "RedisLog": (_redis, REDIS),
    "NginxError": (_nginx_error, NGINX_ERROR),
    "ElasticLog": (_elastic, pools.JAVA),
    "DockerJson": (_docker, pools.GO_SERVICE),
}
