"""Changelist times read "3 minutes ago" with the exact time on hover."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agents.models import Agent
from core.humane import ago, ago_column


def test_recent_past_and_future_read_as_plain_phrases():
    now = timezone.now()

    assert ">just\N{NO-BREAK SPACE}now</time>" in ago(now - timedelta(seconds=20))
    assert ">3\N{NO-BREAK SPACE}minutes\N{NO-BREAK SPACE}ago</time>" in ago(
        now - timedelta(minutes=3, seconds=5)
    )
    assert ">2\N{NO-BREAK SPACE}days\N{NO-BREAK SPACE}ago</time>" in ago(
        now - timedelta(days=2, hours=5)
    )
    assert ">in\N{NO-BREAK SPACE}1\N{NO-BREAK SPACE}hour</time>" in ago(
        now + timedelta(hours=1, minutes=1)
    )


def test_the_exact_time_is_in_the_title_and_missing_times_show_the_admin_dash():
    moment = timezone.now() - timedelta(hours=2)

    html = ago(moment)

    assert f'datetime="{moment.isoformat()}"' in html
    assert 'title="' in html and str(timezone.localtime(moment).year) in html
    assert ago(None) == "-"


def test_a_column_sorts_by_its_field_and_is_named_after_it():
    column = ago_column("last_heartbeat")

    assert column.admin_order_field == "last_heartbeat"
    assert column.short_description == "last heartbeat"
    assert column.__name__ == "last_heartbeat"
    assert column(Agent(last_heartbeat=None)) == "-"


def test_identifiers_wrap_after_their_separators_and_stay_escaped():
    from core.humane import breakable, percent_column

    assert breakable("search_latency_high") == "search_<wbr>latency_<wbr>high"
    assert breakable("api.error_rate") == "api.<wbr>error_<wbr>rate"
    assert breakable("<b>x_y</b>") == "&lt;b&gt;x_<wbr>y&lt;/b&gt;"

    class Run:
        confidence = 0.916

    assert percent_column("confidence")(Run()) == "92%"
