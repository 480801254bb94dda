"""Contextual Anomaly Detector, open-source edition (CAD OSE; M. Smirnov, NAB contest 2016).

Written from the published description of the algorithm; no Django, pure Python.

How it works: each value is quantised into ``2 ** NUM_NORM_VALUE_BITS`` levels of its range
and spelled as *facts* (one per bit position and bit value). A *context* is a pair (left
facts, right facts): the left part is what was true one step earlier (the previous value's
facts plus the "neurons" - the contexts that fired then), the right part is what came next.
Every step the detector

1. stores the zero-level context (previous left facts, current facts), if new;
2. selects the contexts whose left part matched completely one step ago, and activates those
   whose right part matches the current facts completely (at most ``MAX_ACTIVE_NEURONS`` of
   them, the most used, become next step's neuron facts);
3. derives new, narrower contexts from partial matches (left parts of at most
   ``MAX_LEFT_SEMI_CONTEXTS_LENGTH`` facts) and stores them.

The anomaly score is high when few selected contexts were confirmed and many of the
candidate contexts had to be newly created: ``(1 - share active + share new) / 2``, and 0
when the facts were predicted (the most reliable contexts' right parts). After a score of
``BASE_THRESHOLD`` or more, the next ``rest_period`` scores are reported as 0.

All constants are the published defaults (NAB's ``context_ose`` detector), not fitted to
our data. Two inputs the published detector takes from outside:

* ``rest_period``: NAB passes one fifth of its probationary period, ``min(0.15 n, 750) / 5``
  rows for a file of ``n`` rows (:func:`rest_period_for`); an endless live series uses the
  cap, 150 rows.
* the value range: NAB hands every detector the whole file's minimum and maximum, which a
  live monitor cannot know. Without a given range this detector takes the range of the first
  ``range_rows`` values (NAB's probationary period, ``5 * rest_period``) and keeps it, so each
  score depends only on the rows up to it; a later value outside it is spelled with facts
  of its own (how far above or below the range, in levels). On the five shipped NAB folders
  this online range costs CAD about 11 points (standard profile, best threshold: 77.2 with
  the whole-file range, 65.7 without): part of the published figure comes from knowing
  each file's extremes, which are often where its anomalies are.

Quirks of the published code kept on purpose (they shape its NAB score): context 0 is left
out of the selection whenever no new zero-level context was stored this step (the code
compares the new context's id with ``False``), and ties between equally used active contexts
are broken by the hashes of their left and right fact tuples.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

STATE_VERSION = 1

BASE_THRESHOLD = 0.75
MAX_LEFT_SEMI_CONTEXTS_LENGTH = 7
MAX_ACTIVE_NEURONS = 15
NUM_NORM_VALUE_BITS = 3
#: NAB's probationary share of a file and its cap (rows); the rest period is a fifth of it.
PROBATION_PERCENT = 0.15
PROBATION_CAP = 750
REST_DIVISOR = 5.0
#: Fact ids: sensor facts (bit position and value) and neuron facts (context ids) apart.
SENSOR_BASE = 1 << 16
NEURON_BASE = 1 << 31
BELOW_BASE = 1 << 15
ABOVE_BASE = 1 << 17


def rest_period_for(rows: int | None) -> int:
    """NAB's rest period for a file of ``rows`` rows; ``None`` (an endless series): the cap."""
    probation = PROBATION_CAP if rows is None else min(math.floor(PROBATION_PERCENT * rows), 750)
    return int(probation / REST_DIVISOR)


class _Semi:
    """One side of a context: its facts and, per step, which of them the input matched."""

    __slots__ = ("facts", "size", "hits", "contexts")

    def __init__(self, facts: tuple[int, ...]) -> None:
        self.facts = facts
        self.size = len(facts)
        self.hits: list[int] = []
        self.contexts: dict[int, int] = {}  # left parts: right part's id -> context id


class _Context:
    """Counts of one context: facts it predicted / that came true, activations, origin."""

    __slots__ = ("predicted", "confirmed", "active", "right", "zero_level", "order")

    def __init__(self, right: tuple[int, ...], zero_level: bool, order: tuple[int, int]) -> None:
        self.predicted = 0
        self.confirmed = 0
        self.active = 0
        self.right = right
        self.zero_level = zero_level
        self.order = order  # tie-break among equally used contexts (hashes of both sides)


class ContextMemory:
    """The context memory: semi-contexts indexed by fact, contexts by (left, right) pair."""

    def __init__(self, max_left_length: int = MAX_LEFT_SEMI_CONTEXTS_LENGTH) -> None:
        self.max_left_length = max_left_length
        self.index: tuple[dict[int, list[_Semi]], dict[int, list[_Semi]]] = ({}, {})
        self.ids: tuple[dict[tuple[int, ...], int], dict[tuple[int, ...], int]] = ({}, {})
        self.semis: tuple[list[_Semi], list[_Semi]] = ([], [])
        self.crossed: tuple[list[_Semi], list[_Semi]] = ([], [])
        self.contexts: list[_Context] = []
        self.new_context: int | None = None

    def _semi(self, side: int, facts: tuple[int, ...]) -> int:
        sid = self.ids[side].setdefault(facts, len(self.semis[side]))
        if sid == len(self.semis[side]):
            semi = _Semi(facts)
            self.semis[side].append(semi)
            for fact in facts:
                self.index[side].setdefault(fact, []).append(semi)
        return sid

    def store(self, pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> int:
        """Store derived contexts; returns how many were really new."""
        added = 0
        for left, right in pairs:
            added += self._store(left, right, zero_level=False)
        return added

    def store_zero_level(self, left: tuple[int, ...], right: tuple[int, ...]) -> bool:
        """Store the step's zero-level context; ``True`` if it was new."""
        return self._store(left, right, zero_level=True)

    def _store(self, left: tuple[int, ...], right: tuple[int, ...], zero_level: bool) -> bool:
        lid, rid = self._semi(0, left), self._semi(1, right)
        contexts = self.semis[0][lid].contexts
        cid = contexts.setdefault(rid, len(self.contexts))
        if cid == len(self.contexts):
            self.contexts.append(_Context(right, zero_level, (hash(left), hash(right))))
            if zero_level:
                self.new_context = cid
            return True
        if zero_level:
            self.contexts[cid].zero_level = True
        return False

    def _cross(self, side: int, facts: tuple[int, ...]) -> None:
        """Record, for every semi-context of ``side``, which of ``facts`` it holds."""
        for semi in self.crossed[side]:
            semi.hits = []
        for fact in facts:
            for semi in self.index[side].get(fact, ()):
                semi.hits.append(fact)
        self.crossed[side][:] = [s for s in self.semis[side] if s.hits]

    def cross_right(
        self, facts: tuple[int, ...], new_zero_level: bool
    ) -> tuple[list[tuple[Any, ...]], int, list[tuple[tuple[int, ...], tuple[int, ...]]]]:
        """Match the current facts: (active contexts, number selected, derived candidates)."""
        self._cross(1, facts)
        active: list[tuple[Any, ...]] = []
        selected = 0
        candidates: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        # Published quirk: the id is compared with False, which equals context id 0.
        skip = 0 if self.new_context is None else self.new_context
        for left in self.crossed[0]:
            n_left = len(left.hits)
            if n_left == left.size:
                selected += self._confirm(left, skip, active, candidates, new_zero_level)
            elif new_zero_level and n_left <= self.max_left_length:
                # A partial left match only matters for deriving narrower contexts.
                for rid, cid in left.contexts.items():
                    hits = self.semis[1][rid].hits
                    if hits and cid != skip and self.contexts[cid].zero_level:
                        candidates.append((tuple(left.hits), tuple(hits)))
        self.new_context = None
        return active, selected, candidates

    def _confirm(
        self,
        left: _Semi,
        skip: int,
        active: list[tuple[Any, ...]],
        candidates: list[tuple[tuple[int, ...], tuple[int, ...]]],
        new_zero_level: bool,
    ) -> int:
        """Count a fully matched left part's contexts; returns how many were selected."""
        selected = 0
        derive = new_zero_level and left.size <= self.max_left_length
        for rid, cid in left.contexts.items():
            if cid == skip:
                continue
            ctx = self.contexts[cid]
            right = self.semis[1][rid]
            selected += 1
            ctx.predicted += right.size
            n_hits = len(right.hits)
            if not n_hits:
                continue
            ctx.confirmed += n_hits
            if n_hits == right.size:
                ctx.active += 1
                active.append((cid, ctx.active, *ctx.order))
            elif derive and ctx.zero_level:
                candidates.append((tuple(left.hits), tuple(right.hits)))
        return selected

    def cross_left(
        self, facts: tuple[int, ...], candidates: list[tuple[tuple[int, ...], tuple[int, ...]]]
    ) -> tuple[int, set[int]]:
        """Store the candidates, match the new left facts: (new contexts, predicted facts)."""
        added = self.store(candidates) if candidates else 0
        self._cross(0, facts)
        best = 0.0
        predicting: list[_Context] = []
        for left in self.crossed[0]:
            if left.size != len(left.hits):
                continue
            for cid in left.contexts.values():
                ctx = self.contexts[cid]
                weight = ctx.confirmed / ctx.predicted if ctx.predicted > 0 else 0.0
                if weight > best:
                    best, predicting = weight, [ctx]
                elif weight == best:
                    predicting.append(ctx)
        predictions: set[int] = set()
        for ctx in predicting:
            predictions.update(ctx.right)
        return added, predictions


class ContextualAnomalyDetector:
    """CAD OSE for one series: ``update(value)`` returns a score in [0, 1], online.

    ``min_value`` / ``max_value`` fix the quantisation range (as NAB passes them); left out,
    the range of the values seen so far is used. ``rest_period`` is in rows (see the module
    docstring); scores at or above ``BASE_THRESHOLD`` are the detector's own alarms.
    """

    def __init__(
        self,
        *,
        rest_period: int | None = None,
        min_value: float | None = None,
        max_value: float | None = None,
        range_rows: int | None = None,
    ) -> None:
        self.rest_period = rest_period_for(None) if rest_period is None else int(rest_period)
        self.fixed_range = min_value is not None and max_value is not None
        #: Rows whose values set the range when none is given: NAB's probationary period.
        self.range_rows = int(REST_DIVISOR * self.rest_period) if range_rows is None else range_rows
        self.min_value = math.inf if min_value is None else float(min_value)
        self.max_value = -math.inf if max_value is None else float(max_value)
        self.memory = ContextMemory()
        self.left_facts: tuple[int, ...] = ()
        self.predicted: set[int] = set()
        # Scores before any rest; the published code starts it with 1.0, a rest at the start.
        self.history: deque[float] = deque([1.0], maxlen=max(self.rest_period, 1))
        self.n = 0

    def _facts(self, value: float) -> tuple[int, ...]:
        """The value's sensor facts: one per bit of its level in the range (bit, value)."""
        if not self.fixed_range and self.n < self.range_rows:
            self.min_value = min(self.min_value, value)
            self.max_value = max(self.max_value, value)
        top = 2**NUM_NORM_VALUE_BITS - 1.0
        span = self.max_value - self.min_value
        step = (span if span != 0.0 else top) / top
        level = math.floor((value - self.min_value) / step)
        # Outside a fixed range: the distance beyond its top or bottom, in levels, spelled
        # under facts of its own, so a first excursion shares no fact with a normal value.
        top_level = 2**NUM_NORM_VALUE_BITS - 1
        if level > top_level:
            base, level = ABOVE_BASE, level - top_level - 1
        elif level < 0:
            base, level = BELOW_BASE, -level - 1
        else:
            base = SENSOR_BASE
        width = max(NUM_NORM_VALUE_BITS, level.bit_length())
        return tuple(base + 2 * b + ((level >> b) & 1) for b in range(width))

    def _step(self, facts: tuple[int, ...]) -> tuple[set[int], float, float]:
        """One step of the context machinery: (predicted facts, share active, share new)."""
        memory = self.memory
        candidates_seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        new_zero_level = False
        if self.left_facts and facts:
            zero = (self.left_facts, facts)
            candidates_seen.add(zero)
            new_zero_level = memory.store_zero_level(*zero)
        active, selected, candidates = memory.cross_right(facts, new_zero_level)
        candidates_seen.update(candidates)
        share_active = len(active) / selected if selected else 0.0
        active.sort(key=lambda a: a[1:])
        neurons = {NEURON_BASE + a[0] for a in active[-MAX_ACTIVE_NEURONS:]}
        self.left_facts = tuple(sorted(neurons.union(facts)))
        added, predictions = memory.cross_left(self.left_facts, candidates)
        added += 1 if new_zero_level else 0
        share_new = added / len(candidates_seen) if new_zero_level and candidates_seen else 0.0
        return predictions, share_active, share_new

    def raw_score(self, value: float) -> float:
        """Feed one value; its score before the rest period is applied."""
        facts = self._facts(float(value))
        surprised = any(f not in self.predicted for f in facts)
        self.predicted, share_active, share_new = self._step(facts)
        self.n += 1
        return (1.0 - share_active + share_new) / 2.0 if surprised else 0.0

    def update(self, value: float, timestamp: Any = None) -> float:
        """Feed one value and return its anomaly score in [0, 1] (online).

        ``timestamp`` is accepted for the monitor's detector interface and not used: CAD
        learns sequences of values. Non-finite values are ignored (score 0, state untouched).
        """
        if not math.isfinite(float(value)):
            return 0.0
        score = self.raw_score(value)
        resting = max(self.history) >= BASE_THRESHOLD
        self.history.append(score)
        return 0.0 if resting else score

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot; grows with the context memory (no forgetting in CAD)."""
        memory = self.memory
        return {
            "version": STATE_VERSION,
            "params": {
                "rest_period": self.rest_period,
                "range_rows": self.range_rows,
                "fixed_range": self.fixed_range,
            },
            "range": [_finite_or_none(self.min_value), _finite_or_none(self.max_value)],
            "n": self.n,
            "left_facts": list(self.left_facts),
            "predicted": sorted(self.predicted),
            "history": list(self.history),
            "left": [[list(s.facts), list(s.contexts.items())] for s in memory.semis[0]],
            "right": [list(s.facts) for s in memory.semis[1]],
            "contexts": [
                [c.predicted, c.confirmed, c.active, c.zero_level, *c.order]
                for c in memory.contexts
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ContextualAnomalyDetector:
        """Rebuild a detector from :meth:`to_state` output; continues bit-for-bit."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported CAD state version: {state.get('version')!r}")
        params = state["params"]
        det = cls(rest_period=params["rest_period"], range_rows=params["range_rows"])
        det.fixed_range = bool(params["fixed_range"])
        low, high = state["range"]
        det.min_value = math.inf if low is None else float(low)
        det.max_value = -math.inf if high is None else float(high)
        det.n = int(state["n"])
        det.left_facts = tuple(state["left_facts"])
        det.predicted = set(state["predicted"])
        det.history.clear()
        det.history.extend(float(s) for s in state["history"])
        memory = det.memory
        for facts in state["right"]:
            memory._semi(1, tuple(facts))
        for facts, pairs in state["left"]:
            semi = memory.semis[0][memory._semi(0, tuple(facts))]
            semi.contexts = {int(rid): int(cid) for rid, cid in pairs}
        rights: dict[int, tuple[int, ...]] = {}
        for semi in memory.semis[0]:
            for rid, cid in semi.contexts.items():
                rights[cid] = memory.semis[1][rid].facts
        for cid, (predicted, confirmed, active, zero, lh, rh) in enumerate(state["contexts"]):
            ctx = _Context(rights[cid], bool(zero), (int(lh), int(rh)))
            ctx.predicted, ctx.confirmed, ctx.active = int(predicted), int(confirmed), int(active)
            memory.contexts.append(ctx)
        memory._cross(0, det.left_facts)  # which left parts the last step matched
        return det


def _finite_or_none(x: float) -> float | None:
    """JSON has no infinities; a range not yet seen is stored as null."""
    return x if math.isfinite(x) else None
