"""The novel-fault scorecard (``manage.py scorecard --novel``): faults no catalogue problem,
rule or keyword was written for (``novel_scenarios.py``), injected one at a time while the
real stack watches, and scored on what a mature tool does with the unknown.

Per fault, read from the database after its window (the window is the injection's own,
``started_at`` to ``ended_at``; nothing is approved, so a proposal is seen as it was made):

* **detected** and time to detect — as the known scorecard counts them;
* **diagnosis** — the most confident diagnosis on the fault's service opened in the window,
  else the most confident opened anywhere in it (one opened for the fault before, still
  reinforced by its late events, belongs to that fault and is not counted): its kind (a
  known problem, a cause class, or unknown), what it names and its confidence;
  **acceptable** when it is unknown or a cause class the ground truth allows;
* **wrong confident** — any diagnosis in the window that names a *catalogue* problem (none
  is the cause of a novel fault) at a confidence at or above the lowest threshold of the
  rules for that problem's signal: the answer that would act on a wrong cause;
* **runs** — every remediation run proposed in the window, whatever its state (no rule fits
  a novel fault, so each one is a rule written for another cause);
* **incident** — the page an operator gets (``remediation.notify.message``): its first lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Q

from agents.models import Anomaly
from knowledge.models import Diagnosis, Incident, Problem
from remediation import notify
from remediation.models import RemediationRun, Rule
from simulator import novel_scenarios
from simulator.models import FaultInjection
from simulator.scorecard import Scorecard

CATALOGUE_PREFIX = "catalogue:"
PAGE_LINES = 6  # the headline, cause, since, evidence and plan: what a page says
#: Quiet time between novel faults: longer than the diagnostic agent's window for reading
#: an anomaly as the symptom of a concurrent error burst (90 s, on any service), so one
#: fault's late evidence never joins the next fault's and each is scored on its own.
SETTLE_SECONDS = 95.0
FAULT_SECONDS = 75.0


@dataclass
class NovelResult:
    scenario: str
    root_cause: str
    service: str
    detected: bool = False
    detect_seconds: float | None = None
    diagnosis_kind: str = ""  # known-problem, cause-class, unknown, recent-change, ...
    diagnosis: str = ""  # the signal or cause class it names; "unknown"; "" for none
    diagnosis_service: str = ""
    confidence: float | None = None
    acceptable: bool = False
    wrong_confident: list[str] = field(default_factory=list)  # "signal@confidence"
    runs: list[str] = field(default_factory=list)  # "action:status (signal)"
    diagnoses: int = 0
    incident_title: str = ""
    page: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)  # series flagged in the window
    folded_into: list[str] = field(default_factory=list)  # earlier incidents it joined


def run_novel(scorecard: Scorecard, names: list[str]) -> dict[str, Any]:
    """Each novel fault through the scorecard's own loop, then scored on its window."""
    results = []
    for name in names:
        observed = scorecard.run_scenario(name, agents=True)
        record = FaultInjection.objects.filter(
            scenario=name, run_label=scorecard.config.label
        ).latest("started_at")
        result = score(record)
        result.detected, result.detect_seconds = observed.detected, observed.detect_seconds
        results.append(result)
        scorecard.progress(name)
    return summarise(results)


def score(record: FaultInjection) -> NovelResult:
    """What the agents made of one injected novel fault, within its window."""
    scenario = novel_scenarios.NOVEL[record.scenario]
    result = NovelResult(record.scenario, record.root_cause, record.service)
    window = Q(created_at__gte=record.started_at)
    if record.ended_at is not None:
        window &= Q(created_at__lte=record.ended_at)
    seen = Diagnosis.objects.filter(window)
    result.diagnoses = seen.count()
    top = (
        seen.filter(service=scenario.service).order_by("-confidence", "created_at").first()
        or seen.order_by("-confidence", "created_at").first()
    )
    if top is not None:
        _describe(result, top)
    result.wrong_confident = wrong_confident(list(seen))
    anomalies = Anomaly.objects.filter(detected_at__gte=record.started_at)
    if record.ended_at is not None:
        anomalies = anomalies.filter(detected_at__lte=record.ended_at)
    result.anomalies = sorted(set(anomalies.values_list("series", flat=True)))[:6]
    # Evidence of this fault that went into an incident opened before it (corroboration).
    earlier = Diagnosis.objects.filter(
        created_at__lt=record.started_at, last_seen__gte=record.started_at
    )
    result.folded_into = [
        f"{title} ({service})"
        for title, service in Incident.objects.filter(diagnosis__in=earlier).values_list(
            "title", "service"
        )
    ]
    result.runs = [
        f"{run.action}:{run.status} ({run.signal or '-'})"
        for run in RemediationRun.objects.filter(window).order_by("created_at")
    ]
    return result


def _describe(result: NovelResult, diagnosis: Diagnosis) -> None:
    hypotheses = diagnosis.hypotheses or [{}]
    kind = str(hypotheses[0].get("kind") or "")
    result.diagnosis_kind = kind
    result.diagnosis = diagnosis.signal or ("unknown" if kind == "unknown" else "")
    result.diagnosis_service = diagnosis.service
    result.confidence = diagnosis.confidence
    allowed = novel_scenarios.ACCEPTABLE_CLASSES[result.scenario]
    result.acceptable = kind != "known-problem" and (result.diagnosis or "unknown") in allowed
    incident = Incident.objects.filter(diagnosis=diagnosis).first()
    if incident is not None:
        result.incident_title = incident.title
        result.page = notify.message("opened", incident).text.splitlines()[:PAGE_LINES]


def wrong_confident(diagnoses: list[Diagnosis]) -> list[str]:
    """Diagnoses naming a catalogue problem as confidently as a rule for it would act on."""
    catalogue = set(
        Problem.objects.filter(fingerprint__startswith=CATALOGUE_PREFIX)
        .exclude(signal="")
        .values_list("signal", flat=True)
    )
    bars: dict[str, float] = {}
    for rule in Rule.objects.filter(enabled=True).exclude(signal=""):
        threshold = rule.effective_threshold or rule.confidence_threshold
        bars[rule.signal] = min(bars.get(rule.signal, 1.0), threshold)
    return [
        f"{d.signal}@{d.confidence:.2f}"
        for d in diagnoses
        if d.signal in catalogue and d.confidence >= bars.get(d.signal, 1.0)
    ]


def summarise(results: list[NovelResult]) -> dict[str, Any]:
    n = len(results) or 1
    return {
        "metrics": {
            "novel_faults": len(results),
            "detected": sum(r.detected for r in results),
            "acceptable_diagnosis": sum(r.acceptable for r in results),
            "wrong_confident_diagnoses": sum(len(r.wrong_confident) for r in results),
            "faults_with_wrong_confident": sum(bool(r.wrong_confident) for r in results),
            "remediation_runs_started": sum(len(r.runs) for r in results),
            "paged_with_incident": sum(bool(r.incident_title) for r in results),
            "detection_rate": round(sum(r.detected for r in results) / n, 3),
        },
        "scenarios": [asdict(r) for r in results],
    }


def format_table(report: dict[str, Any]) -> str:
    """Per fault: a line of figures, then the page's first lines as an operator reads them."""
    lines = [
        f"{'novel fault':<22} {'det':<3} {'detect s':>8} {'diagnosis':<34} {'conf':>5} "
        f"{'ok':<3} {'wrong confident':<22} runs"
    ]
    for row in report["scenarios"]:
        said = f"{row['diagnosis_kind'] or '-'}:{row['diagnosis'] or '-'}"
        if row["diagnosis_service"] and row["diagnosis_service"] != row["service"]:
            said += f" @{row['diagnosis_service']}"
        conf = "-" if row["confidence"] is None else f"{row['confidence']:.2f}"
        wrong = ",".join(row["wrong_confident"]) or "none"
        lines.append(
            f"{row['scenario']:<22} {'yes' if row['detected'] else 'no':<3} "
            f"{'-' if row['detect_seconds'] is None else row['detect_seconds']:>8} "
            f"{said[:34]:<34} {conf:>5} {'yes' if row['acceptable'] else 'no':<3} "
            f"{wrong[:22]:<22} {len(row['runs'])}"
        )
        for run in row["runs"][:3]:
            lines.append(f"    run: {run}")
        if row["anomalies"]:
            lines.append(f"    anomalies: {', '.join(row['anomalies'])[:150]}")
        for title in row["folded_into"][:2]:
            lines.append(f"    joined an earlier incident: {title[:120]}")
        for page_line in row["page"] or ["(no incident opened)"]:
            lines.append(f"    | {page_line[:150]}")
    lines.append("")
    for name, value in report["metrics"].items():
        lines.append(f"{name:<30} {value}")
    return "\n".join(lines)
