"""The "incident opened" page for a fault nobody wrote a rule for: since when, the evidence in
plain words (the error's template, the metric that moved, the deploy just before) and,
plainly, whether anything automatic will be done. Real PostgreSQL; rules as seeded rows."""

from __future__ import annotations

import pytest
from ulid import ULID

from knowledge import services
from knowledge.models import Diagnosis, Problem
from remediation import notify
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOY_HYPOTHESIS = {
    "cause": "deploy.finished 2026.12.1 on bookmarks 0 min before", "kind": "recent-change",
    "score": 1.5, "signal": "deploy-regression", "problem": None,
    "evidence": [{"kind": "change", "event": "e1", "type": "deploy.finished",
                  "service": "bookmarks", "minutes_before": 0.4, "new_since_change": True}],
}  # fmt: skip


def novel_diagnosis(hypotheses: list[dict], *, signal: str = "", **fields) -> Diagnosis:
    problem = Problem.objects.create(
        fingerprint=f"fp-{ULID()}", title="KeyError: 'folder_path' in …", category="other",
        log_template="Internal Server Error: /api/bookmarks/<*>/ KeyError: 'folder_path' in "
        "BookmarkSerializer.to_representation",
    )  # fmt: skip
    return Diagnosis.objects.create(
        problem=problem, service="bookmarks", instance="bookmarks-1",
        trigger_event_id=str(ULID()), trigger_type=fields.pop("trigger_type", "log.line"),
        root_cause=hypotheses[0]["cause"], signal=signal, confidence=fields.pop("confidence", 0.77),
        hypotheses=hypotheses, event_count=12,
        evidence={"message": "Internal Server Error: /api/bookmarks/1776/ KeyError: 'folder_path'",
                  **fields.pop("evidence", {})},
    )  # fmt: skip


def page(diagnosis: Diagnosis) -> list[str]:
    return notify.message("opened", services.open_incident(diagnosis)).text.splitlines()


def test_a_regression_after_a_deploy_says_so_and_that_nothing_will_be_done() -> None:
    lines = page(novel_diagnosis([DEPLOY_HYPOTHESIS], signal="deploy-regression"))

    assert lines[1] == ("Cause: probably a regression shipped by a deploy (2026.12.1) of "
                        "bookmarks finished 0.4 min before the first error")  # fmt: skip
    assert lines[2].startswith("Since: ") and lines[2].endswith(", 12 times so far")
    assert (
        "Evidence: the error reads “Internal Server Error: /api/bookmarks/…/ KeyError: "
        "'folder_path' in BookmarkSerializer.to_representation”" in lines
    )
    assert lines[-2] == "Automatic action: none. No rule fits this cause: a person needs to look."
    assert not any("deploy.finished" in line or "<*>" in line for line in lines)


def test_an_unknown_cause_is_said_plainly_with_the_change_that_preceded_it() -> None:
    unknown = {"cause": "Unknown cause", "kind": "unknown", "score": 0.0, "signal": "",
               "evidence": [{"kind": "service", "service": "bookmarks"}]}  # fmt: skip
    lines = page(novel_diagnosis([unknown, DEPLOY_HYPOTHESIS], confidence=0.2))

    assert lines[1] == "Cause: unknown. No known problem or cause class fits what was seen."
    assert ("Evidence: a deploy (2026.12.1) of bookmarks finished 0.4 min before the first "
            "error") in lines  # fmt: skip


def test_a_latency_anomaly_names_the_metric_that_moved_in_words() -> None:
    latency = {"cause": "correlated anomalies on api.latency_p95", "kind": "correlated-anomaly",
               "score": 0.4, "signal": "", "evidence": []}  # fmt: skip
    diagnosis = novel_diagnosis(
        [latency], trigger_type="anomaly.detected",
        evidence={"trigger": {"series": "api.latency_p95{endpoint=/api/bookmarks/}",
                              "value": 243.4, "expected": 40.7966}},
    )  # fmt: skip
    assert ("Evidence: the metric api.latency_p95(endpoint=/api/bookmarks/) moved to 243 "
            "(usually about 41)") in page(diagnosis)  # fmt: skip
    assert "Since: " in page_lines_of(diagnosis)[2] and "once so far" in page_lines_of(diagnosis)[2]


def page_lines_of(diagnosis: Diagnosis) -> list[str]:
    diagnosis.event_count = 1
    diagnosis.save(update_fields=["event_count"])
    return notify.message("opened", diagnosis.incident).text.splitlines()


def test_a_change_of_another_service_is_said_to_be_one() -> None:
    other = {
        **DEPLOY_HYPOTHESIS,
        "evidence": [
            {**DEPLOY_HYPOTHESIS["evidence"][0], "service": "search", "minutes_before": 2.8}
        ],
    }
    unknown = {"cause": "Unknown cause", "kind": "unknown", "score": 0.0, "signal": "",
               "evidence": []}  # fmt: skip
    assert (
        "Evidence: a deploy (2026.12.1) of search (another service) finished 2.8 min "
        "before the first error"
    ) in page(novel_diagnosis([unknown, other]))


def test_a_fitting_rule_under_its_threshold_is_said_not_to_act() -> None:
    make_rule(signal="import_timeout", confidence_threshold=0.8, effective_threshold=0.8)
    assert (
        "Automatic action: none. A rule fits, but the diagnosis is only 43% sure (it acts "
        "from 80%): a person needs to look."
    ) in page(make_diagnosis(confidence=0.43))


def test_a_fitting_confident_rule_is_said_to_act() -> None:
    make_rule(signal="import_timeout", requires_approval=True)
    [plan] = [line for line in page(make_diagnosis(confidence=0.9)) if "Automatic" in line]
    assert plan.startswith("Automatic action: ") and plan.endswith("(waits for approval).")
    assert "none" not in plan


def test_a_latency_only_incident_is_titled_in_words_not_by_its_metric() -> None:
    latency = {"cause": "Anomaly on api.latency_p95", "kind": "correlated-anomaly",
               "score": 0.4, "signal": "", "evidence": []}  # fmt: skip
    diagnosis = novel_diagnosis(
        [latency], trigger_type="anomaly.detected",
        evidence={"message": "Anomaly on api.latency_p95{endpoint=/api/bookmarks/}"},
    )  # fmt: skip
    headline = page(diagnosis)[0]
    assert headline.startswith("Incident opened: Slow responses on /api/bookmarks/ (p95) on ")
    assert "api.latency" not in headline and "{" not in headline
