"""Log-line template mining on top of drain3, with learned header splitting and typed masking.

Three stages, each general (nothing is keyed on a system name or on particular messages):

1. ``HeaderModel`` (``knowledge.logheader``) learns the header layout of one log source from
   its first lines and splits each line into header fields and message with one regex match.
2. ``mask`` (``knowledge.logmask``) replaces variable tokens (URLs, e-mails, UUIDs, IPs,
   timestamps, paths, hex, sizes/durations, numbers) so drain3 compares constant words.
3. ``TemplateMiner`` (here) feeds masked messages to drain3 whose similarity counts a masked
   token against a masked token as equal, then refines each drain3 cluster by the message's
   plain alphabetic words: two messages that differ only in a *word* (``stored as bytes`` vs
   ``stored as values``) describe different events, while differing numbers, ids, hosts and
   paths are parameters. Both decisions are online: a line's cluster id is final when ``add``
   returns. An optional second pass, ``TemplateMiner.final_cluster_ids``, regroups lines once
   all are in, treating a word position that took many distinct values as a parameter.

The header and masking names are re-exported here, so ``knowledge.logparse`` stays the one
import for callers that need the whole pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from drain3 import TemplateMiner as Drain3Miner
from drain3.drain import Drain
from drain3.template_miner_config import TemplateMinerConfig

from knowledge.logfinal import final_cluster_ids
from knowledge.logheader import (
    COLUMN_RATE,
    LEARN_LINES,
    MAX_HEADER_COLUMNS,
    MAX_HEADER_GAP,
    TAIL_RATE,
    HeaderLayout,
    HeaderModel,
    ParsedLine,
    split_header,
)
from knowledge.logmask import PARAM, mask, shape

__all__ = [
    "CACHE_SIZE",
    "COLUMN_RATE",
    "DEPTH",
    "LEARN_LINES",
    "MAX_CHILDREN",
    "MAX_HEADER_COLUMNS",
    "MAX_HEADER_GAP",
    "MAX_WORD_VALUES",
    "PARAM",
    "SIM_TH",
    "TAIL_RATE",
    "HeaderLayout",
    "HeaderModel",
    "MinedLine",
    "ParsedLine",
    "TemplateMiner",
    "mask",
    "shape",
    "split_header",
]

SIM_TH = 0.6
DEPTH = 5
MAX_CHILDREN = 100
MAX_WORD_VALUES = 4
CACHE_SIZE = 100_000  # distinct line shapes remembered per miner

_WORD = re.compile(r"[A-Za-z]+[.,:;]?")
_WORDS = re.compile(r"(?<!\S)[A-Za-z]+[.,:;]?(?!\S)")
_LETTER_RUN = re.compile(r"[A-Za-z]")
# A bracketed word as a whole token (see ``_MaskAwareDrain.has_numbers``).
_DELIMITED = re.compile(r"\([\w.-]+\):?|\[[\w.-]+\]:?")


# A value named by the identifier it is glued to, the value enclosed or set apart by ``@``:
# ``name[id]`` (Celery's ``Task app.tasks.x[<uuid>]``, syslog's ``comm[pid]``),
# ``name(id)`` (a call or a repr: ``Worker(<*>)``), Java's ``Class@hash`` (Object.toString).
# The identifier names what the value is of: two different ones are two events, as two
# different words are (and, as with words, the second pass joins a slot that took more than
# ``MAX_WORD_VALUES`` names, unless they are code paths such as Celery task names:
# ``logfinal.families``). drain3 would merge ``Task a[<*>]
# received`` with ``Task b[<*>] received`` (2 of 3 tokens agree), and the word refinement
# reads bare words only, so the similarity tells them apart. ``name:id`` is left out: a
# ``user:42`` cache key is one value (the generated PyLogging and JsonMsg formats say so).
_NAMED_VALUE = re.compile(r"([A-Za-z_][\w.$]*)(?:\[<\*>\]|\(<\*>\)|@<\*>)[.,:;]?")


def _named_apart(a: str, b: str) -> bool:
    """Whether two masked tokens are values named by different words (``x[<*>]``, ``y[<*>]``)."""
    first = _NAMED_VALUE.fullmatch(a)
    if first is None:
        return False
    second = _NAMED_VALUE.fullmatch(b)
    return second is not None and first.group(1) != second.group(1)


class _MaskAwareDrain(Drain):
    """drain3's tree with a similarity that counts ``<*>`` against ``<*>`` as a match.

    Stock drain3 ignores template wildcards when scoring, so messages made mostly of masked
    values (``<*> Served block blk_<*> to /<*>``) look dissimilar to their own cluster and the
    threshold has to stay low, which merges distinct short messages. Counting pre-masked
    tokens as agreeing lets a higher threshold separate events without splitting them.
    """

    @staticmethod
    def has_numbers(s: str) -> bool:
        """Route a token holding a masked value (``alpha-<*>``, ``key=<*>``) through the
        prefix tree's wildcard branch, as drain3 does for tokens with digits: a leading
        token that carries a value must not split one event into one branch per value.

        A word that is a whole bracketed field (``(alice)``, ``[worker]``: printf's ``(%s)``,
        ``[%s]``, as CRON, named and the kernel print a user, a host, a command) goes the
        same way. The word refinement and the second pass already ignore such a token
        (it is not a bare word); only the tree split on it, and only in leading positions.
        """
        return (
            PARAM in s or any(char.isdigit() for char in s) or _DELIMITED.fullmatch(s) is not None
        )

    def get_seq_distance(
        self, seq1: Sequence[str], seq2: Sequence[str], include_params: bool
    ) -> tuple[float, int]:
        if not seq1:
            return 1.0, 0
        param = self.param_str
        sim = 0
        params = 0
        for t1, t2 in zip(seq1, seq2, strict=True):
            if t1 == t2:
                sim += 1
                if t1 == param:
                    params += 1
            elif t1 == param:
                params += 1
                if include_params:
                    sim += 1
            elif param in t1 and param in t2 and _named_apart(t1, t2):
                return 0.0, 0  # values of different names: never the same event
        return sim / len(seq1), params


class MinedLine:
    """The result of mining one line.

    ``header`` is parsed on first access only: the miner's hot path needs the message alone,
    and building a header dictionary per line costs as much as the cache lookup it sits
    behind. ``masked`` is the message as drain3 saw it (``mask(message, typed=False)``).
    """

    __slots__ = (
        "cluster_id",
        "template",
        "message",
        "drain_id",
        "words",
        "masked",
        "_header",
        "_raw",
        "_model",
    )

    def __init__(
        self,
        cluster_id: int,
        template: str,
        header: dict[str, str] | None = None,
        message: str = "",
        drain_id: int = 0,
        words: tuple[str, ...] = (),
        masked: str = "",
        *,
        raw: str = "",
        model: HeaderModel | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.template = template
        self.message = message
        self.drain_id = drain_id
        self.words = words
        self.masked = masked
        self._header = header
        self._raw = raw
        self._model = model

    @property
    def header(self) -> dict[str, str]:
        """The header fields of the raw line (``{}`` for a bare message)."""
        if self._header is None:
            self._header = self._model._apply(self._raw).header if self._model else {}
        return self._header

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.cluster_id,
            self.template,
            self.header,
            self.message,
            self.drain_id,
            self.words,
            self.masked,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MinedLine):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (
            f"MinedLine(cluster_id={self.cluster_id!r}, template={self.template!r}, "
            f"message={self.message!r}, drain_id={self.drain_id!r})"
        )


class TemplateMiner:
    """Online template miner: header split, masking, drain3, word refinement.

    Each ``add``/``add_message`` call decides the line's cluster when it arrives; that id is
    usable on its own. ``final_cluster_ids`` is an optional second pass over kept results.
    The returned ``cluster_id`` is the refined id: a drain3 cluster split by the
    message's plain alphabetic words, since messages that differ only in a word are different
    events in practice. ``template`` is drain3's template with those words put back.

    ``persistence_handler`` is passed to ``drain3.TemplateMiner`` unchanged; the refinement
    table is small and rebuilt as lines arrive after a restore.
    """

    def __init__(
        self,
        persistence_handler: Any = None,
        sim_th: float = SIM_TH,
        depth: int = DEPTH,
        max_children: int = MAX_CHILDREN,
        header_model: HeaderModel | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        config = TemplateMinerConfig()
        config.drain_sim_th = sim_th
        config.drain_depth = depth
        config.drain_max_children = max_children
        config.parametrize_numeric_tokens = True
        config.masking_instructions = []  # masking is done by ``mask`` before drain3
        self._miner = Drain3Miner(persistence_handler, config)
        stock = self._miner.drain
        drain = _MaskAwareDrain(
            depth=depth,
            sim_th=sim_th,
            max_children=max_children,
            max_clusters=config.drain_max_clusters,
            profiler=stock.profiler,
            param_str=PARAM,
            parametrize_numeric_tokens=True,
        )
        drain.id_to_cluster = stock.id_to_cluster  # keep state restored by the handler
        drain.clusters_counter = stock.clusters_counter
        drain.root_node = stock.root_node
        self._miner.drain = drain
        self.header_model = header_model or HeaderModel()
        self._refined: dict[tuple[int, tuple[str, ...]], int] = {}
        self._templates: dict[int, str] = {}
        self.cache_size = cache_size
        self._line_cache: dict[bytes, tuple[int, int, int, tuple[str, ...]]] = {}
        self._message_cache: dict[bytes, tuple[int, int, tuple[str, ...]]] = {}

    @property
    def drain3(self) -> Drain3Miner:
        """The wrapped ``drain3.TemplateMiner`` (for persistence, ``match`` and inspection)."""
        return self._miner

    def add(self, line: str) -> MinedLine:
        """Mine one raw log line (header included).

        Fast path: once the header layout is final, a line whose *shape* (``shape``: every
        digit read as ``1``) was mined before gets that line's result without masking or
        drain3, which is what brings the miner to plain drain3's speed. Lines of one shape
        split at the same offset and mask alike, so they mine alike; the exception is digits
        glued to letters (``KB3121255``, ``bglio46``), which ``mask`` keeps: such lines get
        the first one's cluster (where drain3 would put them anyway, as one differing token
        among constant ones) and its template, which shows that first value rather than
        ``<*>``. drain3 also does not count cache hits in its cluster sizes (nothing reads
        them). ``Fingerprinter`` does not use this cache: it keys on the masked message.
        """
        model = self.header_model
        if not model._frozen:  # the attribute, not the property: this runs for every line
            parsed = model.split(line)
            return self.add_message(parsed.message, parsed.header)
        if model.structured:  # the message is a field, not a suffix: no offset to cache
            mined = self.add_message(model.message_of(line), None)
            mined._raw, mined._model = line, model
            return mined
        key = shape(line)
        hit = self._line_cache.get(key)
        if hit is not None:
            start, cluster_id, drain_id, words = hit
            message = line[start:].strip() if start else line.strip()
            mined = MinedLine(
                cluster_id, self._templates[cluster_id], None, message, drain_id, words
            )
            mined._raw, mined._model = line, model  # keywords cost more than two stores
            return mined
        start = model.message_start(line)
        message = line[start:].strip() if start else line.strip()
        # Lines of a new shape often carry a message of a known shape (the header varies).
        mined = self.add_message(message, None)
        mined._raw, mined._model = line, model
        cache = self._line_cache
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # oldest first: cheap, and old shapes go stale first
        cache[key] = (start, mined.cluster_id, mined.drain_id, mined.words)
        return mined

    def add_message(self, message: str, header: dict[str, str] | None = None) -> MinedLine:
        """Mine a bare message (header already removed by the caller).

        A message whose shape was mined before gets that message's result (see ``add``).
        """
        key = shape(message, collapse=True)
        hit = self._message_cache.get(key)
        if hit is not None:
            cluster_id, drain_id, words = hit
            return MinedLine(
                cluster_id, self._templates[cluster_id], header, message, drain_id, words
            )
        mined = self._mine(message, header)
        cache = self._message_cache
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]
        cache[key] = (mined.cluster_id, mined.drain_id, mined.words)
        return mined

    def _mine(self, message: str, header: dict[str, str] | None) -> MinedLine:
        masked = mask(message, typed=False)
        if self._miner.persistence_handler is None:
            # Same drain3 call the wrapper makes, minus its per-line bookkeeping (no masking
            # rules, no profiler, nothing to snapshot): the wrapper is a third of the cost.
            cluster, _ = self._miner.drain.add_log_message(masked)
            drain_id, template = cluster.cluster_id, cluster.get_template()
        else:
            result = self._miner.add_log_message(masked)
            drain_id, template = result["cluster_id"], result["template_mined"]
        words = tuple(_WORDS.findall(masked)) if _LETTER_RUN.search(masked) else ()
        key = (drain_id, words)
        cluster_id = self._refined.get(key)
        if cluster_id is None:
            cluster_id = self._refined[key] = len(self._refined) + 1
            if words and PARAM in template:
                template = self._restore_words(template, masked)
            self._templates[cluster_id] = template
        elif PARAM in template:
            template = self._templates[cluster_id]
        return MinedLine(cluster_id, template, header, message, drain_id, words, masked)

    @staticmethod
    def _restore_words(template: str, masked: str) -> str:
        """Put the words that define a refined cluster back into drain3's template."""
        template_tokens = template.split()
        tokens = masked.split()
        if len(template_tokens) != len(tokens):
            return template
        return " ".join(
            tok if tmpl == PARAM and _WORD.fullmatch(tok) else tmpl
            for tmpl, tok in zip(template_tokens, tokens, strict=True)
        )

    def final_cluster_ids(
        self, mined: Sequence[MinedLine], max_word_values: int = MAX_WORD_VALUES
    ) -> list[int]:
        """Optional second pass over kept results (``knowledge.logfinal.final_cluster_ids``):
        positions that took more than ``max_word_values`` distinct values are parameters."""
        return final_cluster_ids(mined, self._miner.drain.id_to_cluster, max_word_values)
