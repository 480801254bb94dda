"""Reading the monitor's finalised series back: for the learning agent and the dashboard."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay

from agents.models import MetricPoint


def activity_by_hour_of_week(
    series: str = "users.actions", since: datetime | None = None
) -> dict[tuple[int, int], float]:
    """Total of a series by (ISO weekday 1-7, hour 0-23) in UTC: peak usage by hour of week."""
    points = MetricPoint.objects.filter(series__name=series)
    if since is not None:
        points = points.filter(minute__gte=since)
    rows = (
        points.annotate(dow=ExtractIsoWeekDay("minute"), hour=ExtractHour("minute"))
        .values("dow", "hour")
        .annotate(total=Sum("value"))
    )
    return {(row["dow"], row["hour"]): row["total"] for row in rows}
