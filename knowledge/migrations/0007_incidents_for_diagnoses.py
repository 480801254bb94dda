"""Every diagnosis made before incidents existed gets its incident.

Its state follows the diagnosis' status (open -> diagnosed, remediating, resolved or
dismissed -> resolved); its timeline starts with the detection and the diagnosis. Titles use
the pure text helpers (no model methods in migrations).
"""

from django.db import migrations

from knowledge.incident_text import incident_title, percent, readable

STATE = {
    "open": "diagnosed",
    "remediating": "remediating",
    "resolved": "resolved",
    "dismissed": "resolved",
}


def create_incidents(apps, schema_editor):
    Diagnosis = apps.get_model("knowledge", "Diagnosis")
    Incident = apps.get_model("knowledge", "Incident")
    IncidentEvent = apps.get_model("knowledge", "IncidentEvent")
    for diagnosis in Diagnosis.objects.filter(incident=None).select_related("problem"):
        problem = diagnosis.problem
        message = str((diagnosis.evidence or {}).get("message") or "")
        state = STATE.get(diagnosis.status, "diagnosed")
        resolved = state == "resolved"
        incident = Incident.objects.create(
            diagnosis=diagnosis,
            service=diagnosis.service,
            title=incident_title(
                problem_title=problem.title,
                problem_fingerprint=problem.fingerprint,
                catalogue_title=None,
                message=message or problem.log_template,
            ),
            severity=problem.severity,
            state=state,
            opened_at=diagnosis.created_at,
            resolved_at=diagnosis.last_seen if resolved else None,
            resolution="resolved before incidents were recorded" if resolved else "",
            updated_at=diagnosis.last_seen,
        )
        IncidentEvent.objects.create(
            incident=incident, at=diagnosis.created_at, kind="detected",
            text=f"Detected on {diagnosis.service or 'an unnamed service'}: "
            f"{readable(message or problem.title, 200)}",
        )  # fmt: skip
        IncidentEvent.objects.create(
            incident=incident, at=diagnosis.created_at, kind="state", from_state="triggered",
            to_state=state,
            text=f"Diagnosed: {readable(diagnosis.root_cause, 200)} "
            f"({percent(diagnosis.confidence)} confident); migrated as {state}",
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0006_incidents")]

    operations = [migrations.RunPython(create_incidents, migrations.RunPython.noop)]
