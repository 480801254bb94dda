"""Per-service header models for the shared ``Fingerprinter``, agreed on through Redis.

Each log source has its own header layout. The first ``LEARN_LINES`` lines of a service are
collected in Redis and every worker fits the same sample; the fitted layout is then stored
once (``SET NX``) and reused as is, so all workers - and later runs - split that service's
lines identically, which keeps fingerprints stable.

Lines that arrive while the layout is still being learned are split by the best guess so far,
which can cut a message wrongly (``at <*>`` for ``set alarm <*> at <*>``; one line cannot show
which of its columns are header). Each fingerprint handed out then is noted with one line that
got it (``<ns>:provisional:<service>``). Whenever the split changes (a refit at 2, 4, 8...
lines, and the final layout), the worker that refitted fingerprints those lines again with the
new split *before* splitting more lines with it: a message whose key is new takes the noted
line's fingerprint (the provisional fingerprint is *adopted*), so the event's later lines are
handed the fingerprint its first lines got; a message whose key exists already records the
merge ``provisional -> existing`` (aliases), as any merge is recorded. A fingerprint so keeps
its meaning (the event of the line it was first handed out for) while the split improves.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from typing import Any

from knowledge.fingerprint_state import FingerprintResult
from knowledge.logparse import LEARN_LINES, HeaderLayout, HeaderModel
from knowledge.shapecache import ShapeCache

logger = logging.getLogger("knowledge.fingerprint")


class ServiceHeaders:
    """Mixin for ``Fingerprinter``: needs ``redis``, ``namespace``, ``cache_size`` and the
    ``_headers`` / ``_line_model`` / ``_lines`` / ``_prefetched_layouts`` dictionaries it
    initialises."""

    redis: Any
    namespace: str
    cache_size: int
    _headers: dict[str, tuple[HeaderModel, bool, int]]
    _line_model: dict[str, HeaderModel]
    _lines: dict[str, ShapeCache]
    _prefetched_layouts: dict[str, bytes]
    _mutex: Any

    def _header_model(self, service: str, lines: Sequence[str]) -> HeaderModel:
        """``service``'s header model, learned from its first lines as collected in Redis.

        Until ``LEARN_LINES`` lines were collected the layout is refitted whenever the shared
        sample crosses a power of two (the best guess so far); from then on every worker fits
        the same sample, so all of them split that service's lines the same way.
        """
        current = self._headers.get(service)
        if current is not None and current[1]:
            return current[0]
        if not lines:
            return current[0] if current is not None else HeaderModel()
        key = f"{self.namespace}:header:{service or '-'}"
        layout_key = self._layout_key(service)
        if current is None:
            # Fetched with the shared state when this is a new worker's first call.
            stored = self._prefetched_layouts.pop(service, None) or self.redis.get(layout_key)
        if current is None and stored is not None:
            # Another worker (or an earlier run) fixed this service's layout: use it as is,
            # no refit, so a later change of the fitting code cannot move old services' splits.
            model = self._stored_model(service, stored)
            if model is not None:
                return self._final_header_model(service, model)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *lines[:LEARN_LINES])
            pipe.ltrim(key, 0, LEARN_LINES - 1)
            pipe.llen(key)
            size = int(pipe.execute()[-1])
        fitted = 0 if current is None else current[2]
        if size >= LEARN_LINES or size.bit_length() > fitted.bit_length():
            sample = [raw.decode(errors="replace") for raw in self.redis.lrange(key, 0, -1)]
            model = HeaderModel(learn_lines=LEARN_LINES).fit(sample)
            if size >= LEARN_LINES:
                layout = dataclasses.asdict(model.layout)
                if self.redis.set(layout_key, json.dumps(layout), nx=True):
                    self._adopt_provisional(service, model, done=True)
                return self._final_header_model(service, model)
            if current is not None and model.layout != current[0].layout:
                self._adopt_provisional(service, model, done=False)
            current = (model, False, size)
            self._headers[service] = current
        return current[0]  # type: ignore[index]

    def _stored_model(self, service: str, stored: bytes) -> HeaderModel | None:
        """The model of a stored layout (``None``, logged, when it cannot be read)."""
        try:
            # Layouts stored before rules were versioned are version 1.
            return HeaderModel.from_layout(HeaderLayout(**{"version": 1, **json.loads(stored)}))
        except (ValueError, TypeError, KeyError):
            logger.warning("unreadable header layout at %s; refitting", self._layout_key(service))
            return None

    def _layout_key(self, service: str) -> str:
        return f"{self.namespace}:header-layout:{service or '-'}"

    def _final_header_model(self, service: str, model: HeaderModel) -> HeaderModel:
        """Record ``service``'s final layout; its offsets stay valid, so the line cache starts."""
        self._headers[service] = (model, True, LEARN_LINES)
        self._line_model[service] = model
        self._lines[service] = ShapeCache(self.cache_size)
        return model

    def _after_lines(
        self, service: str, raw_lines: Sequence[str], results: Sequence[FingerprintResult]
    ) -> None:
        """Note one line per fingerprint handed out while ``service`` is learning its layout
        (see the module docstring).

        The layout may have been fixed by another worker since these lines were split: it
        then adopted the lines noted before it stored the layout, maybe not these. So the
        layout is read after the notes are written (in order, on one connection): when it is
        there, this worker adopts its own lines; otherwise the fixer will see them.
        """
        current = self._headers.get(service)
        if current is None or current[1] or not raw_lines:
            return
        key = self._provisional_key(service)
        noted = {r.own: line for line, r in zip(raw_lines, results, strict=True)}
        with self.redis.pipeline(transaction=False) as pipe:
            for own, raw in noted.items():
                pipe.hsetnx(key, own, raw)
            pipe.expire(key, 86_400)  # a service that never reaches LEARN_LINES lines
            pipe.get(self._layout_key(service))
            stored = pipe.execute()[-1]
        model = None if stored is None else self._stored_model(service, stored)
        if model is not None:
            self._adopt(noted, model)
            self.redis.hdel(key, *noted)

    def _provisional_key(self, service: str) -> str:
        return f"{self.namespace}:provisional:{service or '-'}"

    def _adopt_provisional(self, service: str, model: HeaderModel, *, done: bool) -> None:
        """The split of ``service``'s lines just changed (a refit while learning, or the final
        layout, ``done``): the noted lines are adopted by it (``_adopt``)."""
        key = self._provisional_key(service)
        noted = {own.decode(): raw.decode() for own, raw in self.redis.hgetall(key).items()}
        if noted:
            self._adopt(noted, model)
        if done:
            self.redis.delete(key)

    def _adopt(self, noted: dict[str, str], model: HeaderModel) -> None:
        """Fingerprint the noted lines (``own -> raw line``) again with ``model``. A message
        whose key is new takes the line's provisional fingerprint, so the event's later lines
        get the fingerprint its first lines were handed out; a key that exists already merges
        it (an alias ``provisional -> key's``), as any merge is recorded."""
        masked = {own: self._mask(model.message_of(raw)) for own, raw in noted.items()}
        seeds: dict[str, str] = {}
        for own, message in masked.items():
            seeds.setdefault(message, own)  # the first noted line seeds a shared message
        with self._mutex:  # the state and caches are shared with other threads
            mined = self._mine_shared(list(seeds), seeds)
            merges = {
                own: mined[message][0]
                for own, message in masked.items()
                if mined[message][3] != own
            }
            if merges:
                self._record_aliases(merges)
