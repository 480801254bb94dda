"""The exact shape cache in front of masking (``knowledge.shapecache``)."""

from __future__ import annotations

from knowledge.logmask import mask
from knowledge.shapecache import ShapeCache


def _masked_twice(text: str) -> tuple[str, str]:
    masked = mask(text, typed=False)
    return masked, masked


def _cached_mask(cache: ShapeCache[str], text: str) -> str:
    return cache.resolve(text, _masked_twice)


def test_a_shape_seen_before_gives_what_masking_would_give():
    cache: ShapeCache[str] = ShapeCache(100)
    texts = [
        "jk2_init() Found child 32386 in scoreboard slot 6",
        "jk2_init() Found child 41512 in scoreboard slot 9",
        "jk3_init() Found child 41512 in scoreboard slot 9",  # same shape, other glued digit
        "Package_for_KB3121255 state 112",
        "Package_for_KB3139398 state 112",
        "retry 3 of 10",
        "retry 7 of 90",
        "got <5> items",  # masking keeps a digit that no letter holds: never cached
        "got <7> items",
    ]
    for text in texts + texts:
        assert _cached_mask(cache, text) == mask(text, typed=False), text


def test_only_exact_entries_are_kept():
    cache: ShapeCache[str] = ShapeCache(100)
    _cached_mask(cache, "got <5> items")
    assert cache.lookup("got <7> items") is None
    _cached_mask(cache, "retry 3 of 10")
    assert cache.lookup("retry 8 of 99") == "retry <*> of <*>"


def test_the_cache_is_bounded():
    cache: ShapeCache[str] = ShapeCache(3)
    for width in range(1, 10):
        _cached_mask(cache, "x" * width + " 1")
    assert cache.lookup("x 1") is None  # the oldest shapes went first
    assert cache.lookup("xxxxxxxxx 2") == "xxxxxxxxx <*>"
