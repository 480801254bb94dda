"""Faults under load (issue 13): events lost, duplicated in effect, 5xx, recovery, catch-up.

Runs the real stack (``manage.py run_stack --only web worker beat``) on a fresh temporary
``AIOPS_VAR_DIR``: its own embedded PostgreSQL and Redis, both under supervisord beside the
web server, the Celery worker (where the agents run) and beat. Publishes
``BENCH_FAULTS_EVENTS`` (20,000) error log lines through the HTTP ingest with the SDK at a
steady ``BENCH_FAULTS_RATE`` (150 events/s), and meanwhile SIGKILLs, in turn, the Celery
worker, the embedded Redis and the embedded PostgreSQL's postmaster; supervisord brings each
back. A single SIGKILL is over within a second or so, too short to leave a backlog worth
measuring, so each victim is kept down for ``BENCH_FAULTS_DOWN`` seconds (15) by SIGKILLing
every replacement too, a crash loop (``BENCH_FAULTS_DOWN=0``: one SIGKILL each). Then:

- **lost**: events the SDK emitted that the diagnostic agent never counted, once all is
  drained (each error event is counted into its problem once, keyed by event id: a row in
  ``knowledge_countedevent``);
- **duplicated in effect**: the problems' occurrence counts beyond the distinct events counted
  (what a redelivered, re-counted event would add);
- **5xx seen by the client**: responses >= 500 the SDK's transport got (it retries them);
- **recovery** after the last kill: until /health is 200 *and* an event emitted after that
  kill has been counted (supervisord's back-off after a crash loop included); **all done**:
  until every event emitted before the last kill has been counted;
- **drain rate** after each outage: events counted per second from the largest backlog
  (emitted by the client, not yet counted) until it is back to two seconds of load.

Run it with ``benchmarks/run.py faults`` (or ``make bench``). About 3 minutes; every
process it starts is stopped (by id) and the folder removed.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import psutil

from aiops_sdk import AIOpsClient
from benchmarks.faultstack import SERVICE, CountingTransport, FaultStack, Probe

EVENTS = int(os.environ.get("BENCH_FAULTS_EVENTS", "20000"))
RATE = float(os.environ.get("BENCH_FAULTS_RATE", "150"))
FAULTS = ("worker", "redis", "postgres")
# Each victim is kept down this long by SIGKILLing its replacements too, so each outage
# leaves a backlog worth draining (0: one SIGKILL; supervision is back within a second or so).
DOWN = float(os.environ.get("BENCH_FAULTS_DOWN", "15"))
FIRST_FAULT_AT = 20.0  # seconds into the load
FAULT_SPACING = 35.0  # at least this long between two kills
RECOVERY_TIMEOUT = 90.0
DRAIN_TIMEOUT = 60.0
ALL_DONE_TIMEOUT = 60.0  # the idle claim of a dead consumer's entries is 30 s
FINAL_TIMEOUT = 120.0  # a killed worker's unacknowledged entries are reclaimed after 30 s idle
TARGET_RECOVERY = 30.0
TARGET_DRAIN = 5000.0
MIN_BACKLOG = 5 * RATE  # a smaller one drains within the sampling noise
# Distinct errors, so the effect is spread over a few problems (each with its own diagnosis).
MESSAGES = (
    "payment gateway refused the card authorisation",
    "search index shard unavailable",
    "thumbnail renderer ran out of memory",
    "session store connection reset by peer",
    "mail relay rejected recipient address",
    "feed parser hit malformed XML",
)


@dataclass
class Publisher:
    """Emits the load at a steady rate from a thread; remembers when each id was emitted."""

    client: AIOpsClient
    total: int
    rate: float
    ids: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        for n in range(self.total):
            wait = started + n / self.rate - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                return
            event_id = self.client.emit(
                "log.line",
                {"level": "ERROR", "message": MESSAGES[n % len(MESSAGES)], "logger": "bench"},
                severity="error",
            )
            self.times.append(time.monotonic())
            self.ids.append(event_id)

    def last_id_before(self, moment: float) -> str:
        index = bisect.bisect_right(self.times, moment)
        return self.ids[index - 1] if index else ""

    def first_id_after(self, moment: float) -> str | None:
        index = bisect.bisect_right(self.times, moment)
        return self.ids[index] if index < len(self.ids) else None


@dataclass
class FaultResult:
    victim: str
    kills: int = 0
    down: float = 0.0  # first to last SIGKILL
    recovered: float | None = None  # from the last kill: /health 200 and a later event counted
    health_back: float | None = None  # from the last kill: first /health 200
    backlog: int = 0  # the largest: emitted by the client, not yet counted
    all_done: float | None = None  # from the last kill: every event emitted before it counted
    drain_seconds: float | None = None
    drained_events: int = 0
    server_errors: int = 0

    @property
    def drain_rate(self) -> float | None:
        """None when the outage left too small a backlog to time its drain (a single kill)."""
        if not self.drain_seconds or self.backlog < MIN_BACKLOG:
            return None
        return self.drained_events / self.drain_seconds


def crash_loop(victim: str, stack: FaultStack, seconds: float) -> tuple[float, int]:
    """SIGKILL ``victim``, and every replacement supervisord starts for ``seconds`` (a crash
    loop, as a bad deploy or an OOM would make); returns the time of the last kill, and how
    many there were. With ``seconds`` 0, a single SIGKILL."""
    first, last, killed = time.monotonic(), 0.0, set()
    while not killed or time.monotonic() - first < seconds:
        with contextlib.suppress(LookupError, psutil.NoSuchProcess):
            process = stack.program(victim)
            if process.pid not in killed:
                stack.remember()  # a killed worker's pool processes become orphans: note them
                process.kill()
                last = time.monotonic()
                killed.add(process.pid)
        time.sleep(0.05)
    return last, len(killed)


def inflict(victim: str, stack: FaultStack, probe: Probe, load: Publisher) -> FaultResult:
    """Crash ``victim``; measure from its last SIGKILL until it has recovered and drained."""
    result = FaultResult(victim)
    first = time.monotonic()
    killed, result.kills = crash_loop(victim, stack, DOWN)
    result.down = killed - first
    before = load.last_id_before(killed)
    emitted_before = sum(1 for event_id in load.ids if event_id <= before)
    steady = max(2 * RATE, 200)  # what waits in the SDK and the streams in normal flow
    peak = (0, killed, 0)  # (backlog, when, counted then)
    last_check = 0.0
    while (now := time.monotonic()) - killed < RECOVERY_TIMEOUT + DRAIN_TIMEOUT:
        if (counted := probe.counted()) is None:
            time.sleep(0.02)
            continue
        backlog = len(load.ids) - counted[0]
        if backlog >= peak[0]:
            peak = (backlog, now, counted[0])
        if result.recovered is not None and result.drain_seconds is None and backlog <= steady:
            # Caught up: the drain ran from the largest backlog to the steady level.
            result.backlog = peak[0]
            result.drain_seconds = max(now - peak[1], 1e-3)
            result.drained_events = counted[0] - peak[2]
        if now - last_check >= 0.2:
            last_check = now
            if result.recovered is None:
                status = probe.health()
                if status == 200 and result.health_back is None:
                    result.health_back = now - killed
                first_after = load.first_id_after(killed + 0.05)
                if status == 200 and first_after and counted[1] >= first_after:
                    result.recovered = now - killed
            if result.all_done is None and probe.counted_up_to(before) >= emitted_before:
                result.all_done = now - killed
        if result.drain_seconds is not None and (
            result.all_done is not None or now - killed >= ALL_DONE_TIMEOUT
        ):
            break
        if result.recovered is None and now - killed >= RECOVERY_TIMEOUT:
            break
        time.sleep(0.02)
    stack.remember()
    return result


def wait_until_counted(probe: Probe, expected: int) -> None:
    deadline = time.monotonic() + FINAL_TIMEOUT
    while time.monotonic() < deadline:
        row = probe.counted()
        if row is not None and row[0] >= expected:
            return
        time.sleep(0.5)


def effects(probe: Probe, ids: list[str]) -> tuple[int, int, int]:
    """(distinct events of ours counted, the problems' occurrence counts, their problems)."""
    [counted] = probe.query(
        "SELECT count(*) FROM knowledge_countedevent WHERE event_id = ANY(%s)", [ids]
    )
    # Our errors' problems: this service's, minus any the monitor opened for an anomaly
    # (counted once per anomaly, not per event).
    occurrences, problems = probe.query(
        "SELECT coalesce(sum(occurrence_count), 0), count(*) FROM knowledge_problem"
        " WHERE %s = ANY(services) AND merged_into_id IS NULL AND id NOT IN"
        " (SELECT problem_id FROM agents_anomaly WHERE problem_id IS NOT NULL)",
        [SERVICE],
    )
    return counted, int(occurrences), problems


def _seconds(value: float | None) -> str:
    return "    -  " if value is None else f"{value:6.1f}s"


def report(results: list[FaultResult], load: Publisher, client: AIOpsClient,
           transport: CountingTransport, probe: Probe, dead: int) -> None:  # fmt: skip
    counted, occurrences, problems = effects(probe, load.ids)
    stats = client.stats
    lost = len(load.ids) - counted
    duplicated = occurrences - counted
    print(f"{'fault':<9} {'kills':>5} {'down':>7} {'health 200':>10} {'recovered':>9}"
          f" {'backlog':>8} {'drained in':>10} {'drain rate':>11} {'all done':>8}"
          f" {'5xx':>5}")  # fmt: skip
    for r in results:
        rate = "       -" if r.drain_rate is None else f"{r.drain_rate:8,.0f}/s"
        print(f"{r.victim:<9} {r.kills:>5} {_seconds(r.down):>7} {_seconds(r.health_back):>10}"
              f" {_seconds(r.recovered):>9} {r.backlog:>8,} {_seconds(r.drain_seconds):>10}"
              f" {rate:>11} {_seconds(r.all_done):>8} {r.server_errors:>5}")  # fmt: skip
    print("(down: first to last SIGKILL. From the last kill: health 200; recovered = health 200"
          " and a later event counted; all done = every earlier event counted. Drained in:"
          " from the largest backlog to 2 s of load)")  # fmt: skip
    print(f"events lost: {lost} (emitted {len(load.ids):,}, counted {counted:,}; SDK sent "
          f"{stats.sent:,}, dropped {stats.dropped}, refused {stats.failed}, retried "
          f"{stats.retried:,}; dead letters {dead})")  # fmt: skip
    print(f"duplicated in effect: {duplicated} (occurrences {occurrences:,} over {problems} "
          f"problems for {counted:,} distinct events)")  # fmt: skip
    print(f"5xx seen by the client: {len(transport.server_errors)}")
    recoveries = [r.recovered for r in results]
    rates = [r.drain_rate for r in results if r.drain_rate is not None]
    worst_recovery = None if None in recoveries else max(recoveries)
    verdict = {True: "met", False: "NOT met"}
    drain = (
        f"n/a (no backlog of {MIN_BACKLOG:,.0f}+ to time)"
        if not rates
        else f"{verdict[min(rates) >= TARGET_DRAIN]} (slowest {min(rates):,.0f}/s)"
    )
    print("targets: "
          f"0 lost {verdict[lost == 0]}; 0 duplicated {verdict[duplicated == 0]}; "
          f"recovery < {TARGET_RECOVERY:.0f} s {verdict[worst_recovery is not None and worst_recovery < TARGET_RECOVERY]}"  # noqa: E501
          f" (worst {_seconds(worst_recovery).strip()}); drain >= {TARGET_DRAIN:,.0f}/s "
          f"{drain}")  # fmt: skip


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with FaultStack() as stack:
        print(f"{EVENTS:,} error events at {RATE:.0f}/s through the HTTP ingest (SDK), SIGKILL "
              f"of {', '.join(FAULTS)} in turn, each kept down {DOWN:.0f}s; {os.cpu_count()} CPUs;"
              f" stack log (kept if it fails) {stack.log}", flush=True)  # fmt: skip
        stack.wait_healthy()
        token = stack.manage("create_token", "--service", SERVICE, "--name", "bench-faults")
        probe = Probe(stack.url, stack.urls()["DATABASE_URL"])
        transport = CountingTransport(stack.url, token.strip())
        client = AIOpsClient(service=SERVICE, transport=transport)
        load = Publisher(client, EVENTS, RATE)
        publisher = threading.Thread(target=load.run, name="bench-faults-load", daemon=True)
        results: list[FaultResult] = []
        try:
            started = time.monotonic()
            publisher.start()
            for n, victim in enumerate(FAULTS):
                due = max(started + FIRST_FAULT_AT + n * FAULT_SPACING, time.monotonic() + 5)
                time.sleep(max(0.0, due - time.monotonic()))
                errors_before = len(transport.server_errors)
                results.append(inflict(victim, stack, probe, load))
                results[-1].server_errors = len(transport.server_errors) - errors_before
                print(f"  {victim} killed: recovered {_seconds(results[-1].recovered).strip()}",
                      flush=True)  # fmt: skip
            publisher.join()
            client.flush(timeout=FINAL_TIMEOUT)
            wait_until_counted(probe, len(load.ids))
            dead = stack.dead_letters()
            report(results, load, client, transport, probe, dead)
        finally:
            load.stop.set()
            client.close(timeout=1)
            probe.close()
