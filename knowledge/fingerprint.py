"""Stable fingerprints of error messages and log lines, shared by every worker through Redis.

A fingerprint names one *kind* of failure (a Problem): 16 hex characters, the sha1 of the
masked template at the moment the kind was first seen. Four decisions make it stable:

1. **Masking** (``knowledge.logmask.mask``) replaces numbers, hex, UUIDs, IPs, URLs, paths,
   e-mails, timestamps and sizes, so two sightings that differ only in values are the same
   message for drain3.
2. **One drain3 tree for all workers.** The tree and clusters live in Redis as a JSON
   snapshot (``<ns>:state``) with a version counter (``<ns>:version``). A worker that meets a
   masked message it has not seen takes the Redis lock ``<ns>:lock``, reloads the snapshot if
   the version moved since it last looked, mines, and saves (version + 1) only if something
   changed. Everything in one snapshot is consistent, and every worker mines against the same
   tree, so cluster ids agree everywhere. The snapshot is plain JSON, not drain3's jsonpickle:
   loading a pickle from a shared store would let whoever writes to Redis run code.
3. **Fingerprints are keyed, not recomputed.** A sighting's key is its drain3 cluster id plus
   the plain words of the message at each position (as in ``TemplateMiner``: messages that
   differ in a *word* are different events). The key maps to the fingerprint given at first
   sight, so when drain3 later generalises the cluster's template the fingerprint stays.
4. **Merges are recorded, never silent.** When a word position of a cluster has taken more
   than ``MAX_WORD_VALUES`` values it becomes a parameter (user names, table names...): the
   keys that differed only there now fold into one generalised key, which keeps the
   fingerprint of the first of them (the event's first line's), and each other old
   fingerprint gets an alias ``old -> kept`` in ``<ns>:aliases``. Evidence makes a position a
   parameter sooner (``knowledge.fingerprint_evidence``: values known to vary elsewhere, a
   name such as ``www-data`` beside a word, a key such as ``user`` before it), so an event
   with a user name in it is not split into one fingerprint per user first. When a
   cluster's template becomes identical to a template another fingerprint already holds, the
   later one is aliased to the earlier one. ``resolve_alias`` follows the chain; results
   carry the resolved fingerprint.
5. **The second pass, forward-only.** Offline, ``knowledge.logfinal`` regroups with all lines
   in view: drain3 clusters that differ at one many-valued position are one family, a route
   segment with many values is a parameter. Here the same rule functions run whenever the
   shared tree changes, and their verdicts only join: a new cluster found to be a sibling
   takes the first-seen family's keys, so a late sibling is answered with the family's
   existing fingerprint; words and routes are counted per family; keys that meet are merged
   by alias as in 4 (``knowledge.fingerprint_family``, ``knowledge.fingerprint_fold``).

Fast path: a per-process LRU maps a masked message to its result, so a repeated error costs
one regex pass and a dict lookup, no Redis. The cache is dropped when another worker changed
the shared state (checked at most every ``CACHE_CHECK_SECONDS``), since a merge may change
what a fingerprint resolves to. A new worker reads the snapshot, its version and the
service's header layout in one MULTI round trip, without the lock, and answers every message
the snapshot already knows by peeking (``SharedState.peek``); only messages that would change
the state take the lock (``knowledge.fingerprint_store``). Batch calls take it once.

Header splitting (``fingerprint_line``) uses one ``HeaderModel`` per ``service`` (each source
has its own header layout), learned from the first ``LEARN_LINES`` lines of that service as
collected in Redis, so all workers converge on the same layout; the fingerprints handed out
while it is learned are adopted by the better splits (``knowledge.fingerprint_headers``).
The fingerprint itself does not depend on the service: one kind of failure seen in two
services is one Problem.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import redis

from knowledge.fingerprint_headers import ServiceHeaders
from knowledge.fingerprint_state import (
    FINGERPRINT_CHARS,
    MAX_ALIAS_HOPS,
    FingerprintResult,
    SharedState,
    template_fingerprint,
)
from knowledge.fingerprint_store import SharedStore
from knowledge.logparse import (
    HeaderModel,
    mask,
)
from knowledge.shapecache import ShapeCache

__all__ = [
    "FINGERPRINT_CHARS",
    "FingerprintResult",
    "Fingerprinter",
    "fingerprint_line",
    "fingerprint_message",
    "fingerprint_messages",
    "get_fingerprinter",
    "resolve_alias",
    "template_fingerprint",
]

logger = logging.getLogger(__name__)

NAMESPACE = "aiops:fingerprint"
CACHE_SIZE = 50_000
CACHE_CHECK_SECONDS = 1.0


def _mask_twice(message: str) -> tuple[str, str]:
    """``ShapeCache.resolve``'s ``compute`` for masking: the value is the masked text itself."""
    masked = mask(message, typed=False)
    return masked, masked


# ---------------------------------------------------------------------------------------------
# Fingerprinter
# ---------------------------------------------------------------------------------------------


class Fingerprinter(ServiceHeaders, SharedStore):
    """Fingerprints messages against the drain3 state shared in Redis under ``namespace``.

    One instance per process is enough (``get_fingerprinter``); it is thread-safe. Several
    processes (Celery workers, web) with the same Redis and namespace share one set of
    clusters and fingerprints.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = NAMESPACE,
        cache_size: int = CACHE_SIZE,
        cache_check_seconds: float = CACHE_CHECK_SECONDS,
    ) -> None:
        self.redis = client
        self.namespace = namespace
        self.cache_size = cache_size
        self.cache_check_seconds = cache_check_seconds
        self._state = SharedState()
        self._cache: OrderedDict[str, FingerprintResult] = OrderedDict()
        self._shapes: ShapeCache[str] = ShapeCache(cache_size, collapse=True)
        self._cache_version = 0
        self._checked_at = 0.0
        self._headers: dict[str, tuple[HeaderModel, bool, int]] = {}  # model, final, sample
        # Per service, once its header model is final: line shape -> (offset, masked message).
        self._line_model: dict[str, HeaderModel] = {}
        self._lines: dict[str, ShapeCache[tuple[int, str]]] = {}
        self._prefetched_layouts: dict[str, bytes] = {}
        self._mutex = threading.RLock()
        self._k_state = f"{namespace}:state"
        self._k_version = f"{namespace}:version"
        self._k_lock = f"{namespace}:lock"
        self._k_aliases = f"{namespace}:aliases"
        self._k_alias_log = f"{namespace}:alias_log"

    # -- public API --------------------------------------------------------------------------

    def fingerprint_message(self, message: str, *, service: str = "") -> FingerprintResult:
        """Fingerprint one bare message (no header). ``service`` is accepted for symmetry."""
        return self.fingerprint_messages([message], service=service)[0]

    def fingerprint_line(self, raw_line: str, *, service: str = "") -> FingerprintResult:
        """Fingerprint one raw log line: split the header (per ``service``), then the message."""
        return self.fingerprint_lines([raw_line], service=service)[0]

    def fingerprint_lines(
        self, raw_lines: Sequence[str], *, service: str = ""
    ) -> list[FingerprintResult]:
        """Fingerprint raw lines of one source; the header model is ``service``'s.

        Fast path: once ``service``'s header layout is final, a line whose ``shape`` was seen
        before reuses that line's header offset and masked message (one bytes translation and
        a dict lookup instead of the header regex and masking). Exact, as in ``_mask``: a
        shape is remembered only when its masked message kept no digit, because then every
        line of that shape splits at the same offset and masks to the same text.
        """
        if service not in self._headers and self._state.version == 0 and not self._cache:
            with self._mutex:  # a new worker: state and header layout in one round trip
                self._load_state(layout_of=service)
                self._checked_at = time.monotonic()
        model = self._header_model(service, raw_lines)
        messages: list[str] = []
        masked_all: list[str] = []
        if model.structured:  # JSON or logfmt records: the message is a field (logstruct)
            for line in raw_lines:
                messages.append(model.message_of(line))
                masked_all.append(self._mask(messages[-1]))
        elif model is self._line_model.get(service):
            message_start = model.message_start
            mask_message = self._mask

            def split_and_mask(line: str) -> tuple[tuple[int, str], str]:
                start = message_start(line)
                masked = mask_message(line[start:].strip() if start else line.strip())
                return (start, masked), masked

            resolve = self._lines[service].resolve
            for line in raw_lines:
                start, masked = resolve(line, split_and_mask)
                messages.append(line[start:].strip() if start else line.strip())
                masked_all.append(masked)
        else:
            for line in raw_lines:
                start = model.message_start(line)
                message = line[start:].strip() if start else line.strip()
                messages.append(message)
                masked_all.append(self._mask(message))
        results = self._fingerprint_masked(messages, masked_all)
        if model is not self._line_model.get(service):
            self._after_lines(service, raw_lines, results)  # the layout is still being learned
        return results

    def fingerprint_messages(
        self, messages: Sequence[str], *, service: str = ""
    ) -> list[FingerprintResult]:
        """Fingerprint bare messages; all cache misses of the batch share one lock round."""
        return self._fingerprint_masked(messages, [self._mask(m) for m in messages])

    def _fingerprint_masked(
        self, messages: Sequence[str], masked_all: Sequence[str]
    ) -> list[FingerprintResult]:
        with self._mutex:
            self._maybe_drop_cache()
            results: list[FingerprintResult | None] = []
            misses: dict[str, list[int]] = {}
            get = self._cache.get
            for i, masked in enumerate(masked_all):
                hit = get(masked)
                if hit is None:
                    misses.setdefault(masked, []).append(i)
                elif hit.message != messages[i]:
                    hit = FingerprintResult(
                        hit.fingerprint, hit.template, hit.cluster_id, hit.own, messages[i]
                    )
                results.append(hit)
            if misses and self._state.version != self._cache_version:
                self._load_state()  # one round trip, no lock: peeking only reads
            if misses:
                # Messages the (fresh) local state already knows need no lock and no further
                # Redis round trip (see ``SharedState.peek``).
                for masked in list(misses):
                    peeked = self._state.peek(masked)
                    if peeked is not None:
                        for i in misses.pop(masked):
                            results[i] = FingerprintResult(*peeked, messages[i])
                        self._remember(masked, results[i])  # type: ignore[arg-type]
            if misses:
                mined = self._mine_shared(list(misses))
                for masked, (fingerprint, template, cluster_id, own) in mined.items():
                    for i in misses[masked]:
                        results[i] = FingerprintResult(
                            fingerprint, template, cluster_id, own, messages[i]
                        )
                    self._remember(masked, results[misses[masked][0]])  # type: ignore[arg-type]
            return results  # type: ignore[return-value]

    def resolve_alias(self, fingerprint: str) -> str:
        """The fingerprint that ``fingerprint`` was merged into, following chains (or itself)."""
        for _ in range(MAX_ALIAS_HOPS):
            target = self.redis.hget(self._k_aliases, fingerprint)
            if target is None:
                return fingerprint
            target_str = target.decode() if isinstance(target, bytes) else str(target)
            if target_str == fingerprint:
                return fingerprint
            fingerprint = target_str
        return fingerprint

    def refresh(self) -> None:
        """Load the shared state now if another worker changed it: for readers of
        ``template_of`` that fingerprint nothing themselves (the graph's alias sweep)."""
        with self._mutex:
            self._load_if_stale()

    def aliases(self) -> dict[str, str]:
        """Every recorded merge, ``old -> new`` (one hop each)."""
        raw = self.redis.hgetall(self._k_aliases)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def split_header(self, raw_line: str, *, service: str = "") -> str:
        """The message part of ``raw_line``, with the header layout learned for ``service``."""
        return self._header_model(service, [raw_line]).message_of(raw_line)

    # -- cache -------------------------------------------------------------------------------

    def _mask(self, message: str) -> str:
        """``mask(message, typed=False)``, skipped for a message of an already-seen shape.

        Exact, not a heuristic: see ``knowledge.shapecache`` for why a shape (plus the
        letter-glued digits masking keeps) determines the masked text.
        """
        return self._shapes.resolve(message, _mask_twice)

    def _remember(self, masked: str, result: FingerprintResult) -> None:
        cache = self._cache
        cache[masked] = result
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _maybe_drop_cache(self) -> None:
        """At most every ``cache_check_seconds``: drop the cache if another worker changed
        the shared state. A new worker loads the state in the same round trip, since every
        message it meets is a cache miss."""
        now = time.monotonic()
        if now - self._checked_at < self.cache_check_seconds:
            return
        self._checked_at = now
        if not self._cache and self._state.version == 0:
            self._load_state()
            return
        version = int(self.redis.get(self._k_version) or 0)
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version


# ---------------------------------------------------------------------------------------------
# Process-wide helpers
# ---------------------------------------------------------------------------------------------

_default: Fingerprinter | None = None
_default_pid: int | None = None
_default_lock = threading.Lock()


def get_fingerprinter() -> Fingerprinter:
    """This process's ``Fingerprinter`` on the project's Redis (a new one after fork)."""
    global _default, _default_pid
    from core.redis import get_redis

    with _default_lock:
        if _default is None or _default_pid != os.getpid():
            _default = Fingerprinter(get_redis())
            _default_pid = os.getpid()
        return _default


def fingerprint_message(message: str, *, service: str = "") -> FingerprintResult:
    """Fingerprint a bare error message (header already removed)."""
    return get_fingerprinter().fingerprint_message(message, service=service)


def fingerprint_line(raw_line: str, *, service: str = "") -> FingerprintResult:
    """Fingerprint a raw log line of ``service``: header split first, then the message."""
    return get_fingerprinter().fingerprint_line(raw_line, service=service)


def fingerprint_messages(messages: Iterable[str], *, service: str = "") -> list[FingerprintResult]:
    """Batch form of ``fingerprint_message``: one Redis lock round for all unseen messages."""
    return get_fingerprinter().fingerprint_messages(list(messages), service=service)


def resolve_alias(fingerprint: str) -> str:
    """The fingerprint ``fingerprint`` was merged into (following chains), or itself."""
    return get_fingerprinter().resolve_alias(fingerprint)
