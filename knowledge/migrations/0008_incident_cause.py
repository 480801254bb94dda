"""Incidents get their cause key; the database keeps one open incident per cause and service.

Existing incidents are keyed the way ``cause_key`` keys new ones. Where two are already open
for one cause (the duplicates this key exists to stop), the oldest keeps the key and the
others stay blank (not deduplicated) rather than being closed behind an operator's back.
"""

from django.db import migrations, models


def key_incidents(apps, schema_editor):
    Incident = apps.get_model("knowledge", "Incident")
    taken = set()
    rows = Incident.objects.select_related("diagnosis").order_by("opened_at", "pk")
    for incident in rows.iterator():
        diagnosis = incident.diagnosis
        signal = diagnosis.signal
        key = f"signal:{signal}" if signal else f"problem:{diagnosis.problem_id}"
        if incident.state != "resolved":
            if (incident.service, key) in taken:
                continue
            taken.add((incident.service, key))
        Incident.objects.filter(pk=incident.pk).update(cause=key)


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0007_incidents_for_diagnoses"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="cause",
            field=models.CharField(blank=True, help_text="signal:… or problem:…", max_length=120),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                fields=["service", "cause", "-resolved_at"], name="knowledge_incident_cause"
            ),
        ),
        migrations.AddConstraint(
            model_name="incident",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    models.Q(("state", "resolved"), _negated=True),
                    models.Q(("cause", ""), _negated=True),
                ),
                fields=("service", "cause"),
                name="one_open_per_cause",
            ),
        ),
        # Keyed after the constraint exists: the backfill itself cannot make duplicates.
        migrations.RunPython(key_incidents, migrations.RunPython.noop),
    ]
