"""Reading and writing the shared fingerprint state in Redis, for ``Fingerprinter``.

Reads need no lock: the state and its version come in one MULTI, so they are one consistent
snapshot, and a worker only *peeks* at it. Mining takes the Redis lock, reloads the state if
another worker saved since, and saves version + 1 only if nothing was written meanwhile
(WATCH on the version), so every worker mines against the same tree.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from knowledge.fingerprint_state import FingerprintResult, SharedState

logger = logging.getLogger("knowledge.fingerprint")

LOCK_TIMEOUT_SECONDS = 30.0
# Merges are rare (a few per new kind of message), so this many entries reach back weeks; a
# reader that fell further behind notices the gap and rereads the whole alias hash.
ALIAS_LOG_MAX = 100_000


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class SharedStore:
    """Mixin for ``Fingerprinter``: needs ``redis``, the ``_k_*`` key names, ``_state``,
    ``_cache``, ``_cache_version``, ``_checked_at``, ``_prefetched_layouts`` and
    ``_layout_key`` (from ``ServiceHeaders``)."""

    redis: Any
    _k_version: str
    _k_state: str
    _k_lock: str
    _k_aliases: str
    _k_alias_log: str
    _state: SharedState
    _cache: OrderedDict[str, FingerprintResult]
    _cache_version: int
    _checked_at: float
    _prefetched_layouts: dict[str, bytes]
    _layout_key: Callable[[str], str]

    def _load_state(self, *, layout_of: str | None = None) -> None:
        """Load the shared state and its version as one consistent snapshot (MULTI), and
        the stored header layout of service ``layout_of`` with them."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self._k_version)
            pipe.get(self._k_state)
            if layout_of is not None:
                pipe.get(self._layout_key(layout_of))
            raw_version, payload, *layout = pipe.execute()
        if layout and layout[0] is not None:
            self._prefetched_layouts[layout_of] = layout[0]  # type: ignore[index]
        version = int(raw_version or 0)
        if payload is None:  # no state yet, or deleted (e.g. flushed): start from nothing
            self._state = SharedState()
            self._state.version = version
        else:
            self._state = SharedState.loads(payload, version)
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version

    # -- shared mining -----------------------------------------------------------------------

    @contextmanager
    def _mining_lock(self, doing: str) -> Iterator[None]:
        """Hold the state's Redis lock; a lock that expired meanwhile is logged, not raised
        (``_save`` refuses a stale write anyway)."""
        lock = self.redis.lock(
            self._k_lock, timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_TIMEOUT_SECONDS
        )
        if not lock.acquire():
            raise TimeoutError(f"could not take {self._k_lock} in {LOCK_TIMEOUT_SECONDS}s")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                logger.warning("fingerprint lock %s expired while %s", self._k_lock, doing)

    def _mine_shared(
        self, masked_messages: list[str], seeds: dict[str, str] | None = None
    ) -> dict[str, tuple[str, str, int, str]]:
        """Mine under the Redis lock against the latest shared state; save if it changed.
        ``seeds``: per masked message, the fingerprint a new key takes (``SharedState.mine``)."""
        seeds = seeds or {}
        with self._mining_lock("mining"):
            for _attempt in range(3):
                self._load_if_stale()
                state = self._state
                new_aliases: dict[str, str] = {}
                changed = False
                out = {}
                for masked in masked_messages:
                    result, did_change = state.mine(masked, new_aliases, seeds.get(masked))
                    out[masked] = result
                    changed = changed or did_change
                if not changed or self._save(state, new_aliases):
                    break
                # Another writer slipped in (our lock had expired): drop our copy and redo.
                self._state = SharedState()
            else:
                logger.warning("fingerprint state not saved after 3 attempts; results stand")
            if new_aliases:  # cached results may now resolve elsewhere
                self._cache.clear()
            self._cache_version = self._state.version
            self._checked_at = time.monotonic()
            # Aliases recorded in this round may re-point results mined before them.
            return {
                masked: (state.resolve(own), template, cluster_id, own)
                for masked, (_, template, cluster_id, own) in out.items()
            }

    def _record_aliases(self, merges: dict[str, str]) -> None:
        """Record ``old -> new`` merges in the shared state, under the lock (as mining does)."""
        with self._mining_lock("merging"):
            for _attempt in range(3):
                self._load_if_stale()
                new_aliases: dict[str, str] = {}
                for old, new in merges.items():
                    if self._state.resolve(new) != self._state.resolve(old):
                        self._state._alias(old, new, new_aliases)
                if not new_aliases or self._save(self._state, new_aliases):
                    break
                self._state = SharedState()
            self._cache.clear()
            self._cache_version = self._state.version

    def _load_if_stale(self) -> None:
        if int(self.redis.get(self._k_version) or 0) != self._state.version:
            self._load_state()

    def _save(self, state: SharedState, new_aliases: dict[str, str]) -> bool:
        """Write the snapshot as version + 1, only if nobody wrote since we loaded."""
        payload = state.dumps()
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(self._k_version)
                current = int(pipe.get(self._k_version) or 0)
                if current != state.version:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(self._k_state, payload)
                pipe.incr(self._k_version)
                if new_aliases:
                    pipe.hset(self._k_aliases, mapping=new_aliases)
                    # The same merges, in order, for readers that follow them (the graph's
                    # alias sweep); written in the same MULTI, so the log never misses one.
                    for old, new in new_aliases.items():
                        pipe.xadd(
                            self._k_alias_log,
                            {"old": old, "new": new},
                            maxlen=ALIAS_LOG_MAX,
                            approximate=True,
                        )
                pipe.execute()
            except redis.exceptions.WatchError:
                return False
        state.version += 1
        if new_aliases:
            self.aliases_made += len(new_aliases)
        return True

    # -- following merges --------------------------------------------------------------------

    aliases_made = 0  # merges this process recorded (a hint to sweep soon, see alias_sweep)

    def alias_log_since(
        self, after: str | None, *, count: int = 500
    ) -> tuple[list[tuple[str, str, str]], bool]:
        """Merges recorded after log entry ``after``, oldest first, as ``(entry, old, new)``;
        and whether they are complete. Not complete when ``after`` is ``None`` (a reader that
        never read, or a state from before the log existed) or the log was trimmed past it:
        the reader must then go through ``aliases()`` once."""
        if after is None:
            return [], False
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(self._k_alias_log, count=1)
            pipe.xread({self._k_alias_log: after}, count=count)
            first, read = pipe.execute()
        # The entry last read is gone: trimmed, and maybe unread ones after it with it.
        if first and after != "0-0" and _stream_id(first[0][0]) > _stream_id(after):
            return [], False
        entries = read[0][1] if read else []
        out = []
        for entry_id, fields in entries:
            entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            out.append((entry, fields[b"old"].decode(), fields[b"new"].decode()))
        return out, True

    def alias_log_end(self) -> str:
        """The id of the newest log entry (``0-0`` when empty): where a full reread starts."""
        last = self.redis.xrevrange(self._k_alias_log, count=1)
        if not last:
            return "0-0"
        raw = last[0][0]
        return raw.decode() if isinstance(raw, bytes) else raw

    def alias_cursor(self) -> str | None:
        """The last alias log entry the graph followed (``None`` before its first sweep)."""
        raw = self.redis.get(f"{self._k_alias_log}:followed")
        return raw.decode() if isinstance(raw, bytes) else raw

    def set_alias_cursor(self, entry: str) -> None:
        self.redis.set(f"{self._k_alias_log}:followed", entry)

    def template_of(self, fingerprint: str) -> str:
        """The current template of ``fingerprint`` in this process's copy of the state."""
        return self._state.templates.get(fingerprint, "")
