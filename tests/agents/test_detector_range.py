"""Spatial novelty remembers the all-time range (issue 15): an old extreme revisited long
after the recent history moved on is not new, as in HTM's spatial rule."""

from __future__ import annotations

import json
import random

from agents.monitor.detector import BLOCK, HISTORY_BLOCKS, StreamingDetector

FIVE_MINUTES = 300.0
START = 1_700_000_000.0


class _SpatialProbe(StreamingDetector):
    """The live detector, remembering each row's spatial evidence by row number."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial: dict[int, float] = {}

    def _views(self, x: float, ref: float | None) -> tuple[float, float, float]:
        views = super()._views(x, ref)
        self.spatial[self.n - 1] = views[0]
        return views


def _series() -> list[float]:
    r = random.Random(4)
    values = [10 + r.gauss(0, 1) for _ in range(8000)]
    values[1000] = 30.0  # a record; then more rows than the recent history holds
    values[7900] = 30.0  # the same extreme, revisited
    return values


def test_an_old_extreme_revisited_long_after_is_not_spatially_new():
    assert BLOCK * HISTORY_BLOCKS < 7900 - 1000  # the recent history has forgotten row 1000
    probe = _SpatialProbe()
    for i, v in enumerate(_series()):
        probe.update(v, START + i * FIVE_MINUTES)
    assert probe.spatial[1000] > 0.0
    assert probe.spatial[7900] == 0.0
    assert probe.spatial[7901] == 0.0


def test_the_all_time_range_survives_a_restore_and_a_version_1_state_starts_it_afresh():
    values = _series()
    det = StreamingDetector()
    for i, v in enumerate(values[:7000]):
        det.update(v, START + i * FIVE_MINUTES)
    state = json.loads(json.dumps(det.to_state()))
    assert StreamingDetector.from_state(state).ever_max == 30.0
    del state["range"], state["stable"]  # what version 1 stored
    state["version"] = 1
    old = StreamingDetector.from_state(state)
    assert old.ever_max == max(b[1] for b in old.blocks) < 30.0
