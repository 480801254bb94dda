"""BookmarkLearningAgent: tallies import outcomes and habits; learns patterns periodically."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from agents.learning import learners
from agents.mesh import Delivery
from agents.monitor.history import activity_by_hour_of_week
from agents.runtime import BaseAgent, register_agent

logger = logging.getLogger(__name__)


@register_agent
class BookmarkLearningAgent(BaseAgent):
    name = "bookmark-learning"
    kind = "learning"
    version = "1"
    description = (
        "Learns the best import batch size, peak hours, recurring and co-occurring problems, "
        "problems that follow deploys, proven fixes and bookmark habits."
    )
    subscribes = ("import.completed", "import.failed", "bookmark.created")
    tick_seconds = 60.0
    batch_size = 500

    def handle(self, deliveries: list[Delivery]) -> None:
        learners.tally_events([d.event for d in deliveries])

    def tick(self) -> None:
        now = timezone.now()
        learned = {
            "batch_size": learners.learn_batch_size(),
            "peak_hours": learners.learn_peak_hours(
                activity_by_hour_of_week(since=now - timedelta(days=28))
            ),
            "recurring": learners.learn_recurring(now),
            "co_occurrence": learners.learn_cooccurrence(now),
            "deploy_followers": learners.learn_deploy_followers(now),
            "proven_solutions": learners.learn_proven_solutions(),
        }
        learners.learn_habits()
        logger.info(
            "learning tick",
            extra={k: (len(v) if isinstance(v, list) else bool(v)) for k, v in learned.items()},
        )
