"""Seeded generator of labelled log streams in formats the nine public Loghub systems lack.

Each format renders events from a pool (``benchmarks.logformat_pools``) under its own header,
with Zipf-skewed event frequencies (exponent ``ZIPF_S``, ranks shuffled per format), and is
written in the Loghub-2k layout so ``../shared/eval/loghub_ga.py`` (and its ``load_truth``)
scores it: ``loghub_2k/<S>/<S>_2k.log`` and ``<S>_2k.log_structured.csv`` with
``LineId,Content,EventId,EventTemplate``. The same seed gives byte-identical files.

The formats follow their specifications or the logging libraries' documented defaults:
RFC 3164 and RFC 5424 syslog, OpenStack's oslo.log, Python logging's ``%(asctime)s -
%(name)s - %(levelname)s - %(message)s``, ``|``-joined mobile logs, JSON lines (a zap-like
``msg`` and an ECS ``message``), logfmt, the nginx/Apache combined access log, Spring Boot's
console layout, Go's ``log`` with ``Lshortfile``, the Windows event log as tab-separated
text, and macOS ``log show``.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks import logformat_pools as pools
from benchmarks.logformat_holdout import HOLDOUT
from benchmarks.logformat_unseen import EXTRA_VALUES, UNSEEN
from knowledge.loghub import read_lines
from knowledge.loghub_crossval import load_scorer, mine_lines
from knowledge.logparse import MAX_WORD_VALUES, SIM_TH

LINES = 2000
ZIPF_S = 1.1
SEED = 20261130
_SLOT = re.compile(r"\{(\w+)\}")
_HOSTS = ["web-01", "web-02", "db-1", "gw"]
_T0 = datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)
_VALUES = pools.VALUES | EXTRA_VALUES

Render = Callable[[random.Random, datetime, pools.Event, str], str]


def fill(template: str, r: random.Random) -> tuple[str, str]:
    """``(message with values drawn, ground-truth template with <*>)``."""
    message = _SLOT.sub(lambda m: _VALUES[m.group(1)](r), template)
    return message, _SLOT.sub("<*>", template)


def _syslog3164(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    program = ev[1] if ev[1] == "kernel" else f"{ev[1]}[{r.randint(300, 40000)}]"
    return f"{t:%b} {t.day:>2} {t:%H:%M:%S} {r.choice(_HOSTS)} {program}: {msg}"


def _syslog5424(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    pri = {"INFO": 22, "WARN": 20, "ERROR": 19}[ev[0]]
    sd = "-" if r.random() < 0.7 else f'[meta sequenceId="{r.randint(1, 99999)}"]'
    procid = str(r.randint(100, 9999)) if r.random() < 0.8 else "-"
    stamp = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"<{pri}>1 {stamp} {r.choice(_HOSTS)}.example.net {ev[1]} {procid} - {sd} {msg}"


def _oslo(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    ctx = "[-]"
    if r.random() < 0.8:
        user, project = pools._hex(r, 32), pools._hex(r, 32)
        ctx = f"[req-{pools.VALUES['uuid'](r)} {user} {project} - - -]"
    stamp = f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d}"
    return f"{stamp} {r.randint(2000, 3000)} {ev[0]} {ev[1]} {ctx} {msg}"


def _pylog(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    level = {"WARN": "WARNING"}.get(ev[0], ev[0])
    return f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} - {ev[1]} - {level} - {msg}"


def _pipes(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    return (
        f"{t:%Y%m%d-%H:%M:%S}:{t.microsecond // 1000}|{ev[1]}|{r.randint(10**7, 4 * 10**7)}|{msg}"
    )


def _extras(r: random.Random, ev: pools.Event) -> dict[str, object]:
    """Structured fields beside the message: which ones depends on the event, values vary."""
    pick = random.Random(ev[2])  # the same fields for every line of one event
    fields = {
        "request_id": lambda: pools.VALUES["uuid"](r),
        "latency_ms": lambda: r.randint(1, 3000),
        "user": lambda: pools.VALUES["user"](r),
        "remote": lambda: pools.VALUES["ip"](r),
        "attempt": lambda: r.randint(1, 5),
    }
    chosen = pick.sample(sorted(fields), pick.randint(0, 3))
    return {name: fields[name]() for name in chosen}


def _zap_json(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    level = {"WARN": "warning"}.get(ev[0], ev[0].lower())
    record = {"level": level, "ts": round(t.timestamp(), 6), "logger": ev[1], "msg": msg}
    return json.dumps(record | _extras(r, ev), separators=(",", ":"))


def _ecs_json(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    record = {
        "@timestamp": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "log.level": ev[0] if ev[0] != "WARN" else "WARNING",
        "message": msg,
        "ecs.version": "1.2.0",
        "service.name": "shop",
        "process.thread.name": f"http-nio-8080-exec-{r.randint(1, 10)}",
        "log.logger": ev[1],
    }
    return json.dumps(record)


def _logfmt_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or '"' in text or "=" in text or not text) else text


def _logfmt(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    caller = ev[1].replace("{num}", str(r.randint(20, 400)))
    pairs = {"ts": t.isoformat(timespec="seconds").replace("+00:00", "Z"), "level": ev[0]}
    pairs |= {"caller": caller, "msg": msg} | _extras(r, ev)
    return " ".join(f"{k}={_logfmt_value(v)}" for k, v in pairs.items())


_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "kube-probe/1.29",
]


def _access(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    status = ev[1] if r.random() < 0.95 else r.choice(["500", "499", "429"])
    user = "-" if r.random() < 0.9 else pools.VALUES["user"](r)
    referer = (
        "-" if r.random() < 0.6 else f"https://shop.example.com/{r.choice(['', 'cart', 'p/1'])}"
    )
    return (
        f'{pools.VALUES["ip"](r)} - {user} [{t:%d/%b/%Y:%H:%M:%S} +0000] "{ev[0]} {msg} HTTP/1.1"'
        f' {status} {r.randint(0, 90000)} "{referer}" "{r.choice(_AGENTS)}"'
    )


def _spring(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    thread = r.choice(["main", f"http-nio-8080-exec-{r.randint(1, 10)}", "scheduling-1"])
    local = t + timedelta(hours=1)
    stamp = f"{local:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}+01:00"
    pid = r.randint(1000, 1100)
    return f"{stamp} {ev[0]:>5} {pid} --- [{thread[-15:]:>15}] {ev[1][-40:]:<40} : {msg}"


def _golog(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    caller = ev[1].rsplit("/", 1)[-1].replace("{num}", str(r.randint(20, 400)))
    return f"{t:%Y/%m/%d %H:%M:%S} {caller}: {msg}"


def _windows(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    source, event_id = ev[1].split("|")
    hour = t.hour % 12 or 12
    stamp = f"{t.month}/{t.day}/{t.year} {hour}:{t:%M:%S} {'AM' if t.hour < 12 else 'PM'}"
    return f"{stamp}\t{ev[0]}\t{source}\t{event_id}\tNone\t{msg}"


def _macos(r: random.Random, t: datetime, ev: pools.Event, msg: str) -> str:
    thread = f"{r.randint(0x100, 0xFFFFFF):#x}"
    activity = "0x0" if r.random() < 0.6 else f"{r.randint(0x1000, 0xFFFFF):#x}"
    return (
        f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond:06d}+0100 {thread:<10} {ev[0]:<11} {activity:<20}"
        f" {r.randint(0, 900):<6} 0    {ev[1]}: {msg}"
    )


#: format name -> (renderer, event pool)
FORMATS: dict[str, tuple[Render, list[pools.Event]]] = {
    "Syslog3164": (_syslog3164, pools.LINUX),
    "Syslog5424": (_syslog5424, pools.MAIL_NET),
    "OsloLog": (_oslo, pools.CLOUD),
    "PyLogging": (_pylog, pools.WEBAPP),
    "PipeFields": (_pipes, pools.DEVICE),
    "JsonMsg": (_zap_json, pools.WEBAPP),
    "JsonEcs": (_ecs_json, pools.JAVA),
    "Logfmt": (_logfmt, pools.GO_SERVICE),
    "AccessLog": (_access, pools.ROUTES),
    "SpringBoot": (_spring, pools.JAVA),
    "GoStdlog": (_golog, pools.GO_SERVICE),
    "WinEventText": (_windows, pools.WINDOWS),
    "MacUnified": (_macos, pools.MACOS),
}


def generate(name: str, lines: int = LINES, seed: int = SEED) -> list[tuple[str, str, str, int]]:
    """``(raw line, message, truth template, event index)`` per line of format ``name``."""
    render, events = (FORMATS | HOLDOUT | UNSEEN)[name]
    r = random.Random(f"{seed}:{name}")
    ranks = list(range(len(events)))
    r.shuffle(ranks)
    weights = [1.0 / (rank + 1) ** ZIPF_S for rank in ranks]
    t = _T0
    out = []
    for _ in range(lines):
        index = r.choices(range(len(events)), weights)[0]
        event = events[index]
        message, truth = fill(event[2], r)
        t += timedelta(milliseconds=r.randint(1, 4000))
        out.append((render(r, t, event, message), message, truth, index))
    return out


def write_corpus(
    out_dir: Path, lines: int = LINES, seed: int = SEED, names: Sequence[str] = tuple(FORMATS)
) -> list[str]:
    """Write the ``names`` formats in the Loghub-2k layout under ``out_dir/loghub_2k``."""
    root = Path(out_dir) / "loghub_2k"
    for name in names:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        rows = generate(name, lines, seed)
        with (folder / f"{name}_2k.log").open("w", encoding="utf-8", newline="\n") as log:
            log.writelines(raw + "\n" for raw, _, _, _ in rows)
        with (folder / f"{name}_2k.log_structured.csv").open(
            "w", encoding="utf-8", newline=""
        ) as handle:
            writer = csv.writer(handle)
            writer.writerow(["LineId", "Content", "EventId", "EventTemplate"])
            for line_id, (_, message, truth, index) in enumerate(rows, start=1):
                writer.writerow([line_id, message, f"E{index + 1}", truth])
    return list(names)


def score_generated(
    out_dir: Path, scorer_path: Path, names: Sequence[str] = tuple(FORMATS)
) -> dict[str, dict[str, float]]:
    """GA/FGA per generated format (mined with the shipped defaults)."""
    scorer = load_scorer(scorer_path)
    results = {}
    for name in write_corpus(out_dir, names=names):
        lines = read_lines(out_dir / "loghub_2k" / name / f"{name}_2k.log")
        ids = mine_lines(lines, sim_th=SIM_TH, max_word_values=MAX_WORD_VALUES)
        line_ids, groups, _, _ = scorer.load_truth(str(out_dir), "original", name)
        results[name] = scorer.grouping_metrics(groups, [ids[i - 1] for i in line_ids])
    return results


def format_report(
    results: dict[str, dict[str, float]],
    title: str = "Generated formats (no public system has them), shipped defaults:",
) -> str:
    lines = [title]
    lines.append(f"  {'format':<14} {'GA':>6} {'FGA':>6}  pred/true groups")
    for name, m in results.items():
        lines.append(
            f"  {name:<14} {m['GA']:>6.3f} {m['FGA']:>6.3f}  {m['pred_groups']}/{m['true_groups']}"
        )
    n = len(results)
    worst = min(results, key=lambda k: results[k]["GA"])
    lines.append(
        f"  mean GA {sum(m['GA'] for m in results.values()) / n:.3f},"
        f" mean FGA {sum(m['FGA'] for m in results.values()) / n:.3f},"
        f" lowest GA {results[worst]['GA']:.3f} ({worst})"
    )
    return "\n".join(lines)
