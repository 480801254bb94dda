"""The template miner's optional second pass, with all lines in view (``knowledge.logparse``).

Online, each line's cluster is final when it arrives. Once all lines are in, positions that
took many distinct values are known to be parameters, which regroups lines: see
``final_cluster_ids``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from knowledge.logmask import PARAM, mask

#: Constant tokens two drain3 templates must share to join one family (see ``families``).
MIN_FAMILY_CONSTANTS = 3
_WORD = re.compile(r"[A-Za-z]+[.,:;]?")
# A value named by a dotted identifier (``logparse._NAMED_VALUE``): ``app.tasks.x[<*>]``.
_DOTTED_NAMED = re.compile(
    r"([A-Za-z_]\w*(?:\.[A-Za-z_][\w$]*)+)(?:\[<\*>\]|\(<\*>\)|@<\*>)[.,:;]?"
)
# What a host name never holds (RFC 1123: letters, digits, hyphens) and code names often do:
# ``_`` (``send_email``), ``$`` (``Outer$Inner``), a lower-case letter before an upper-case
# one (``KeyguardMonitor``).
_CODE_MARK = re.compile(r"[_$]|[a-z][A-Z]")
# ``-`` is the empty value of a field (the Common Log Format's, RFC 5424's NILVALUE): in a
# template it stands where other lines of the event hold a value.
_EMPTY = {"-": PARAM, '"-"': f'"{PARAM}"'}
_METHOD_NAMES = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE"]
#: The method that opens an HTTP request line, as a token, quoted (``"GET /x HTTP/1.1"``) or
#: bare (``Started GET "/x"``, ``GET /x 200``: ``logmask.METHOD_TARGET``): a token after it
#: that is not a word is the route.
METHOD_TOKENS = frozenset([f'"{method}' for method in _METHOD_NAMES] + _METHOD_NAMES)


def final_cluster_ids(
    mined: Sequence[Any], clusters: Mapping[int, Any], max_word_values: int
) -> list[int]:
    """Optional second pass: re-key lines mined earlier, with all of them in view.

    Online, every distinct word splits a drain3 cluster, and drain3's prefix tree gives
    each distinct leading word its own branch (``(alice) CMD ...``, ``user bob logged
    in``). With all lines in view, a token position that took more than
    ``max_word_values`` distinct values is a parameter: drain3 clusters whose templates
    differ only there are one event (``families``), and within one a word at such a
    position no longer splits it (``hive: SAM`` / ``SYSTEM`` / ``SOFTWARE``...). Only
    the grouping changes; drain3's state is not touched.
    """
    family = families(clusters, {line.drain_id for line in mined}, max_word_values)
    tokenised = [mask(line.message, typed=False).split() for line in mined]
    values: dict[tuple[int, int, int], set[str]] = {}
    for line, tokens in zip(mined, tokenised, strict=True):
        key = family[line.drain_id]
        for index, token in enumerate(tokens):
            values.setdefault((key, len(tokens), index), set()).add(token)
    routes = {
        position: route_keys(routes, max_word_values)
        for position, routes in values.items()
        if position[2] and not METHOD_TOKENS.isdisjoint(values[(*position[:2], position[2] - 1)])
    }
    ids: dict[tuple[int, tuple[str, ...]], int] = {}
    out = []
    for line, tokens in zip(mined, tokenised, strict=True):
        key = family[line.drain_id]
        kept = []
        for index, token in enumerate(tokens):
            position = (key, len(tokens), index)
            if _WORD.fullmatch(token):
                if len(values[position]) <= max_word_values:
                    kept.append(token)
            elif index and tokens[index - 1] in METHOD_TOKENS:  # a route names the event
                kept.append(routes[position][token])
        out.append(ids.setdefault((key, tuple(kept)), len(ids) + 1))
    return out


def route_keys(routes: Collection[str], max_values: int) -> dict[str, str]:
    """Each request target with the segments that are parameters read as ``<*>``.

    The rule of the words, applied to a route's segments: among routes that differ in one
    segment only, a segment that took more than ``max_values`` distinct values is a value
    (``/blog/<slug>``, ``/<file>.png``), however it is spelled; fewer are route names.
    """
    split = {route: route.split("/") for route in routes}
    buckets: dict[tuple[int, int, tuple[str, ...]], set[str]] = {}
    for route, segments in split.items():
        for p in range(len(segments)):
            rest = tuple(segments[:p] + segments[p + 1 :])
            buckets.setdefault((len(segments), p, rest), set()).add(route)
    generalised: dict[str, set[int]] = {}
    for (_, p, _), members in buckets.items():
        if len({split[route][p] for route in members}) > max_values:
            for route in members:
                generalised.setdefault(route, set()).add(p)
    return {
        route: "/".join(
            PARAM if p in generalised.get(route, ()) else segment
            for p, segment in enumerate(segments)
        )
        for route, segments in split.items()
    }


def families(
    clusters: Mapping[int, Any],
    drain_ids: set[int],
    max_values: int,
    early: Callable[[set[str], str | None], bool] | None = None,
) -> dict[int, int]:
    """drain3 cluster -> family: clusters of one length whose templates differ at one
    position only, where more than ``max_values`` distinct tokens occur, are one.

    The templates must also share at least ``MIN_FAMILY_CONSTANTS`` constant tokens: in
    short messages the one differing token is as often the event's name as a value
    (``tickTime set to <*>`` and ``maxSessionTimeout set to <*>`` are two events in
    Zookeeper's labels, ``halt (command <*>)`` and ``boot (command <*>)`` in HPC's), so
    only a longer shared context says the position is a parameter (``user <*> logged
    in from <*>``). Leaving the rule out changes no Loghub fold; 2 instead of 3 lowers
    Zookeeper and Windows (leave-one-system-out, original labels).

    Those event names all lead their message, as Drain's design assumes of constants (its
    prefix tree keys on the leading tokens); in Loghub's labels, every pair of events that
    differ in one word differs in the first (Android, HPC, Zookeeper). A word *enclosed* by
    constant words (``Proxy <*> started.``, ``Container <*> exited``: printf's ``%s`` in a
    sentence) is a slot, so a constant before and one after it are context enough. That
    rule joins no family on the nine Loghub systems (any of ``CONFIGS``).

    A value named by a code path is never joined by the many-values rule: ``Task
    shop.tasks.send_email[<*>] received`` and ``Task shop.tasks.charge_card[<*>] received``
    stay two events however many tasks a worker runs, as an operator reads them (and as the
    unseen CeleryWorker format's labels have them), like a Java ``a.b.Foo@<*>``. A code path
    is a dotted identifier with a mark no host name has (``_``, ``$``, camel case), or one
    that shares all but its last label with another value of the slot (``tasks.add`` and
    ``tasks.mul``, ``billing.charge`` and ``billing.refund``): a code path is read from the
    left (package, module, function), so the functions of one module share a beginning,
    whereas a DNS name is read from the right, and the hosts of one domain share an ending
    (``mx1.example.net``, ``mx2.example.net``). Host names in that place (postfix's ``relay
    mail.example.org[<*>] refused``) still join, and so do lone dotted names with no mark
    (``billing.charge`` beside ``tasks.add``), since nothing tells them from a host. Neither
    rule changes a figure of the Loghub folds (either label set) nor of the generated,
    hold-out and unseen formats, offline or live: none has more than ``max_values`` code
    names in one slot.

    ``early`` (online only, ``knowledge.fingerprint_evidence``): given the tokens at a slot
    and the token before it, whether fewer than ``max_values`` tokens are evidence enough.

    The token after an HTTP method is a request target (RFC 9112's request line): a slot by
    that grammar, however short the message (Phoenix's ``GET /blog/intro``). Its family keys
    the target by ``route_keys``, which keeps ``/orders/<*>`` and ``/products/<*>`` apart.
    """
    parent = {d: d for d in drain_ids}

    def find(d: int) -> int:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    templates = {
        d: tuple(_EMPTY.get(token, token) for token in clusters[d].log_template_tokens)
        for d in drain_ids
        if d in clusters
    }
    same: dict[tuple[str, ...], int] = {}
    for d, tokens in templates.items():  # equal once "-" reads as a value: one event
        parent[d] = find(same.setdefault(tokens, d))
    by_length: dict[int, list[int]] = {}
    for d, tokens in templates.items():
        by_length.setdefault(len(tokens), []).append(d)
    for members in by_length.values():  # few clusters share a length: pairs stay cheap
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if _compatible(templates[a], templates[b]):
                    parent[find(b)] = find(a)
    buckets: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for d, tokens in templates.items():
        for p in range(len(tokens)):
            buckets.setdefault((p, tokens[:p] + tokens[p + 1 :]), []).append(d)
    for (p, rest), members in buckets.items():
        modules = _shared_modules({templates[d][p] for d in members})
        members = [d for d in members if not _code_named(templates[d][p], modules)]
        if len(members) < 2:
            continue
        varying = {templates[d][p] for d in members}
        if len(varying) <= max_values and not (
            early is not None and len(varying) > 1 and early(varying, rest[p - 1] if p else None)
        ):
            continue
        constants = sum(1 for token in rest if PARAM not in token)
        enclosed = (  # a constant word on each side of the slot
            p > 0
            and any(PARAM not in token for token in rest[:p])
            and any(PARAM not in token for token in rest[p:])
        )
        route = p > 0 and rest[p - 1] in METHOD_TOKENS  # a request target: routes decide
        if constants >= MIN_FAMILY_CONSTANTS or enclosed or route:
            root = find(members[0])
            for d in members[1:]:
                parent[find(d)] = root
    return {d: find(d) for d in drain_ids}


def _code_named(token: str, modules: Collection[str] = ()) -> bool:
    """A value named by a code path (``shop.tasks.send_email[<*>]``, ``a.b.Foo@<*>``, or a
    function of one of ``modules``): the name is the event's, however many names the slot
    takes (see ``families``)."""
    match = _DOTTED_NAMED.fullmatch(token)
    if match is None:
        return False
    name = match.group(1)
    return _CODE_MARK.search(name) is not None or name.rpartition(".")[0] in modules


def _shared_modules(tokens: Collection[str]) -> set[str]:
    """The dotted prefixes (all labels but the last) that two named values among ``tokens``
    share: ``tasks`` for ``tasks.add[<*>]`` and ``tasks.mul[<*>]`` (see ``families``)."""
    seen: dict[str, str] = {}
    shared: set[str] = set()
    for token in tokens:
        if "." not in token:  # most slots: no dotted name, no regex
            continue
        match = _DOTTED_NAMED.fullmatch(token)
        if match is not None:
            module, _, _ = match.group(1).rpartition(".")
            if seen.setdefault(module, match.group(1)) != match.group(1):
                shared.add(module)
    return shared


def _compatible(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two templates that agree wherever neither has ``<*>``, on at least one constant token.

    drain3 fits a line into the first cluster similar enough, so lines of one event can stay
    in a cluster whose template kept a value (``"-"``, ``curl/<*>``) where a sibling cluster
    has ``<*>``: the more general template covers the other, and it is one event. Words still
    split events in the second pass (``final_cluster_ids``).
    """
    shared = 0
    for x, y in zip(a, b, strict=True):
        if x == y:
            shared += PARAM not in x
        elif x != PARAM and y != PARAM:
            return False
    return shared >= 1
