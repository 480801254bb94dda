"""The state all fingerprinting workers share, and the mining steps that change it.

One ``SharedState`` mirrors, in memory, the document ``knowledge.fingerprint.Fingerprinter``
keeps in Redis: the drain3 tree, the key -> fingerprint map, the word values each template
position took, templates and aliases. ``mine`` applies one masked message to it (under the
shared lock), ``peek`` answers for messages it already knows without changing anything (no
lock needed), and ``dumps`` / ``loads`` make it one compressed JSON document, so every
worker and every restart resolves a message to the same fingerprint.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

from drain3.drain import LogCluster, Node

from knowledge.fingerprint_evidence import SlotEvidence
from knowledge.fingerprint_family import FamilyIndex
from knowledge.fingerprint_fold import (
    _WORD,
    FINGERPRINT_CHARS,
    KeyFolding,
    _key,
    template_fingerprint,
)
from knowledge.logfinal import METHOD_TOKENS
from knowledge.logparse import MAX_WORD_VALUES, PARAM, TemplateMiner

__all__ = [
    "FINGERPRINT_CHARS",
    "MAX_ALIAS_HOPS",
    "STATE_FORMAT",
    "FingerprintResult",
    "SharedState",
    "template_fingerprint",
]

logger = logging.getLogger("knowledge.fingerprint")

MAX_ALIAS_HOPS = 32
STATE_FORMAT = 2  # 2: families and routes (``FamilyIndex``); 1 reads as having none


class FingerprintResult(NamedTuple):
    """One sighting's fingerprint (resolved through aliases), template and drain3 cluster.

    ``cluster_id`` is the shared drain3 cluster id (the same in every worker); ``own`` is the
    fingerprint the sighting's key was given before alias resolution (equal to
    ``fingerprint`` unless that key was merged into another); ``message`` is the input
    without its header. A named tuple rather than a frozen dataclass: one is built per line,
    and a tuple is built in a third of the time.
    """

    fingerprint: str
    template: str
    cluster_id: int
    own: str = ""
    message: str = ""


class SharedState(KeyFolding):
    """Everything workers must agree on, mirrored in memory and saved to Redis as one document."""

    def __init__(self) -> None:
        self.miner = TemplateMiner()
        self.drain = self.miner.drain3.drain
        self.version = 0
        self.keys: dict[str, str] = {}  # key -> fingerprint
        self.cluster_keys: dict[int, list[str]] = {}  # family -> its keys
        self.position_values: dict[str, list[str]] = {}  # "family:pos" -> words seen (capped)
        self.families = FamilyIndex()
        self.templates: dict[str, str] = {}  # fingerprint -> current template
        self.by_template: dict[str, str] = {}  # template -> first fingerprint holding it
        self.aliases: dict[str, str] = {}  # merged fingerprint -> the one it merged into
        self.evidence = SlotEvidence()  # words seen at slots that became parameters

    def dumps(self) -> bytes:
        drain = self.drain

        def node(n: Node) -> dict[str, Any]:
            return {
                "c": list(n.cluster_ids),
                "k": {token: node(child) for token, child in n.key_to_child_node.items()},
            }

        document = {
            "format": STATE_FORMAT,
            "counter": drain.clusters_counter,
            "clusters": [
                [c.cluster_id, list(c.log_template_tokens), c.size]
                for c in drain.id_to_cluster.values()
            ],
            "root": node(drain.root_node),
            "keys": self.keys,
            "position_values": self.position_values,
            "templates": self.templates,
            "by_template": self.by_template,
            "aliases": self.aliases,
            "families": self.families.dump(),
            "param_words": sorted(self.evidence.words),
        }
        return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 3)

    @classmethod
    def loads(cls, payload: bytes, version: int) -> SharedState:
        document = json.loads(zlib.decompress(payload))
        if document.get("format") not in (1, STATE_FORMAT):
            raise ValueError(f"unknown fingerprint state format {document.get('format')!r}")
        state = cls()
        state.version = version

        def node(data: dict[str, Any]) -> Node:
            n = Node()
            n.cluster_ids = list(data["c"])
            n.key_to_child_node = {token: node(child) for token, child in data["k"].items()}
            return n

        drain = state.drain
        drain.clusters_counter = document["counter"]
        drain.root_node = node(document["root"])
        id_to_cluster = {}
        for cluster_id, tokens, size in document["clusters"]:
            cluster = LogCluster(tokens, cluster_id)
            cluster.size = size
            id_to_cluster[cluster_id] = cluster
        drain.id_to_cluster = id_to_cluster
        state.keys = document["keys"]
        for key in state.keys:
            state.cluster_keys.setdefault(int(key.split("|", 1)[0]), []).append(key)
        state.position_values = document["position_values"]
        state.templates = document["templates"]
        state.by_template = document["by_template"]
        state.aliases = document["aliases"]
        state.families = FamilyIndex.load(document)
        state.evidence = SlotEvidence(document.get("param_words", ()))
        return state

    def resolve(self, fingerprint: str) -> str:
        for _ in range(MAX_ALIAS_HOPS):
            target = self.aliases.get(fingerprint)
            if target is None or target == fingerprint:
                return fingerprint
            fingerprint = target
        return fingerprint

    def mine(
        self, masked: str, new_aliases: dict[str, str], seed: str | None = None
    ) -> tuple[tuple[str, str, int, str], bool]:
        """Apply one masked message; return (fingerprint, template, cluster, own) and whether
        the state changed (then it must be saved to Redis before the lock is released).
        ``seed``: the fingerprint the message's key takes if the key is new and no other
        fingerprint holds its template (a line's fingerprint handed out under a provisional
        header split, see ``knowledge.fingerprint_headers``)."""
        drain = self.drain
        matched = drain.tree_search(
            drain.root_node, drain.get_content_as_tokens(masked), drain.sim_th, False
        )
        before = matched.log_template_tokens if matched is not None else ()
        cluster, change_type = drain.add_log_message(masked)
        changed = change_type != "none"
        cluster_id = cluster.cluster_id
        index = self.families
        refold = False
        if changed:  # a new or generalised template: the second pass's families (forward-only)
            index.forget_template(cluster_id)
            length = len(cluster.log_template_tokens)
            for merged in index.join(cluster_id, drain.id_to_cluster, self.evidence.siblings):
                self._move_family(merged, index.family_of(merged), length, new_aliases)
                refold = True
        family = index.family_of(cluster_id)
        template_tokens = self._template_tokens(family, cluster)
        if changed and self._count_constants(family, template_tokens, before):
            refold = True
        tokens = masked.split()
        if len(tokens) != len(template_tokens):  # drain3 splits on whitespace as we do
            tokens = list(template_tokens)

        kept, tracked, over = self._track(family, tokens, template_tokens)
        changed = changed or tracked
        refold = refold or over
        key = _key(family, kept)
        template = self.keyed_template(template_tokens, kept)

        if refold:  # first, so a key folded just now is the one this line is answered by
            self._refold(family, template_tokens, new_aliases)
        own, created = self._key_fingerprint(family, key, template, seed)
        changed = changed or created
        if self.templates.get(own) != template:
            self._set_template(own, template, new_aliases)
            changed = True
        if change_type != "none" or refold:
            self._refresh_templates(family, template_tokens, new_aliases)
        return (self.resolve(own), template, cluster_id, own), changed

    def peek(self, masked: str) -> tuple[str, str, int, str] | None:
        """What ``mine`` would return, when it would change nothing; else ``None``.

        Read-only: the same drain3 tree search ``add_log_message`` makes, then the key and
        template checks of ``mine``. Any step that would mutate the state (a new
        cluster, a generalised template, a new word value or route, a new key) answers
        ``None`` and the message is mined under the lock instead.
        """
        drain = self.drain
        tokens = drain.get_content_as_tokens(masked)
        cluster = drain.tree_search(drain.root_node, tokens, drain.sim_th, False)
        if cluster is None:
            return None
        cluster_tokens = cluster.log_template_tokens
        if tuple(drain.create_template(tokens, cluster_tokens)) != tuple(cluster_tokens):
            return None
        family = self.families.family_of(cluster.cluster_id)
        template_tokens = self._template_tokens(family, cluster)
        values = self.position_values
        kept = []
        for pos, tok in enumerate(tokens):
            if _WORD.fullmatch(tok):
                seen = values.get(f"{family}:{pos}")
                if seen is None or (tok not in seen and len(seen) <= MAX_WORD_VALUES):
                    return None
                if len(seen) <= MAX_WORD_VALUES:
                    kept.append((pos, tok))
            elif pos and tokens[pos - 1] in METHOD_TOKENS:
                route = self.families.route_key(f"{family}:{pos}", tok)
                if route is None:
                    return None
                kept.append((pos, route))
            elif template_tokens[pos] == PARAM:
                seen = values.get(f"{family}:{pos}")
                if seen is None or (tok not in seen and len(seen) <= MAX_WORD_VALUES):
                    return None
        own = self.keys.get(_key(family, kept))
        template = self.keyed_template(template_tokens, kept)
        if own is None or self.templates.get(own) != template:
            return None
        return self.resolve(own), template, cluster.cluster_id, own

    def _template_tokens(self, family: int, cluster: LogCluster) -> Sequence[str]:
        """drain3's template, or its family's when the cluster has siblings."""
        if family not in self.families.roots:
            return cluster.log_template_tokens
        return self.families.template_tokens(family, self.drain.id_to_cluster)

    @staticmethod
    def keyed_template(template_tokens: Sequence[str], kept: list[tuple[int, str]]) -> str:
        """drain3's template with the key's words put back where drain3 has ``<*>``."""
        tokens = list(template_tokens)
        for pos, word in kept:
            if tokens[pos] == PARAM:
                tokens[pos] = word
        return " ".join(tokens)

    def _alias(self, old: str, new: str, new_aliases: dict[str, str]) -> None:
        if old == new or self.resolve(new) == old:  # never close a loop
            return
        if self.aliases.get(old) != new:
            logger.info("fingerprint %s merged into %s", old, new)
            self.aliases[old] = new
            new_aliases[old] = new
