"""The default provider: feature hashing of word tokens and character 3-5-grams."""

from __future__ import annotations

import re

import numpy as np

from knowledge.embeddings.base import EMBEDDING_DIMENSIONS, _normalise_rows

_SPACES_RE = re.compile(r"\s+")
# splitmix64's finaliser constants: a good 64-bit mixer that numpy can vectorise.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PRIME = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime, as the polynomial base
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT30, _SHIFT27, _SHIFT31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ONE = np.uint64(1)
_SEPARATOR = 0  # byte between texts in the batch buffer
_SPACE = 32
# Word bytes: ASCII letters and digits, "_", and every byte of a multi-byte UTF-8 character.
_IS_WORD_BYTE = np.zeros(256, dtype=bool)
for _byte in b"abcdefghijklmnopqrstuvwxyz0123456789_":
    _IS_WORD_BYTE[_byte] = True
_IS_WORD_BYTE[0x80:] = True
BLOCK_TEXTS = 512  # texts hashed per numpy pass: keeps the working set in cache


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads a hash's entropy over all 64 bits."""
    h = (h ^ (h >> _SHIFT30)) * _MIX1
    h = (h ^ (h >> _SHIFT27)) * _MIX2
    return h ^ (h >> _SHIFT31)


class HashingProvider:
    """Signed feature hashing of words and character 3-5-grams into 384 dimensions.

    Why this shape: error messages of one kind share most words but differ in numbers, ids
    and inflections, so whole words give precision and character n-grams (over the
    lower-cased text with collapsed spaces, also across word boundaries) give recall on
    partial matches (``timeout``/``timed out``, ``conn_pool``/``connection pool``). Signed
    hashing keeps collisions unbiased; no idf, so a vector depends on its own text only and
    never has to be rebuilt as the corpus grows.

    Determinism and speed: every feature hash is a pure function of UTF-8 bytes built from
    fixed 64-bit constants (an FNV-prime polynomial for n-grams, a sum of mixed
    ``(byte, position)`` pairs for words, both finished by splitmix64), computed with numpy
    over a whole batch at once. Python's salted ``hash`` is never used, so every process
    and machine produces bit-identical vectors, at tens of thousands of texts per second.
    """

    name = "hashing"

    def __init__(
        self,
        dimensions: int = EMBEDDING_DIMENSIONS,
        ngram_range: tuple[int, int] = (3, 5),
        word_weight: float = 1.0,
        ngram_weight: float = 0.35,
    ) -> None:
        self.dimensions = dimensions
        self.ngram_range = ngram_range
        self.word_weight = word_weight
        self.ngram_weight = ngram_weight

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Like ``embed`` but returns a ``(len(texts), dimensions)`` float32 array."""
        blocks = [
            self._embed_block(texts[start : start + BLOCK_TEXTS])
            for start in range(0, len(texts), BLOCK_TEXTS)
        ]
        if not blocks:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def _embed_block(self, texts: list[str]) -> np.ndarray:
        dims = self.dimensions
        count = len(texts)
        # One buffer " t1 \0 t2 \0 ... tn ": each text padded by spaces so n-grams see its
        # edges, texts separated by a NUL byte that no kept feature may contain.
        joined = " \x00 ".join(texts)
        if joined.count("\x00") != count - 1:  # a text holds NUL bytes itself
            joined = " \x00 ".join(text.replace("\x00", " ") for text in texts)
        joined = _SPACES_RE.sub(" ", f" {joined.lower()} ")
        data8 = np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)
        separator = data8 == _SEPARATOR
        row_of = np.cumsum(separator)
        data = np.where(separator, _SPACE, data8).astype(np.uint64)
        total = data.shape[0]
        indices: list[np.ndarray] = []
        weights: list[np.ndarray] = []

        # Words: maximal runs of word bytes.
        is_word = _IS_WORD_BYTE[data8]
        starts = np.flatnonzero(is_word & ~np.concatenate(([False], is_word[:-1])))
        if starts.size:
            word_pos = np.flatnonzero(is_word)
            word_of = np.searchsorted(starts, word_pos, side="right") - 1
            offset = (word_pos - starts[word_of]).astype(np.uint64)
            with np.errstate(over="ignore"):
                parts = _mix64(data[word_pos] * _GOLDEN + offset)
                first = np.searchsorted(word_pos, starts)
                lengths = np.diff(np.append(first, word_pos.size)).astype(np.uint64)
                hashed = _mix64(np.add.reduceat(parts, first) + lengths * _PRIME)
            indices.append(row_of[starts] * dims + (hashed >> _ONE) % np.uint64(dims))
            weights.append(np.where(hashed & _ONE, -self.word_weight, self.word_weight))

        # Character n-grams: h[i] covers bytes i..i+n-1, grown one byte per pass.
        low, high = self.ngram_range
        h = np.zeros(total, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, high + 1):
                valid = total - n + 1
                if valid <= 0:
                    break
                h = h[:valid] * _PRIME + data[n - 1 : n - 1 + valid]
                if n < low:
                    continue
                keep = (row_of[:valid] == row_of[n - 1 : n - 1 + valid]) & ~separator[:valid]
                hashed = _mix64(h[keep] + np.uint64(n) * _GOLDEN)
                indices.append(row_of[:valid][keep] * dims + (hashed >> _ONE) % np.uint64(dims))
                weights.append(np.where(hashed & _ONE, -self.ngram_weight, self.ngram_weight))

        matrix = np.zeros(count * dims, dtype=np.float64)
        if indices:
            flat = np.concatenate([index.astype(np.int64) for index in indices])
            matrix += np.bincount(flat, weights=np.concatenate(weights), minlength=count * dims)
        matrix = matrix.reshape(count, dims)
        # An empty text still gets a unit vector (a fixed "empty" feature): a zero vector has
        # no cosine distance to anything and would poison ordered similarity queries.
        empty = ~matrix.any(axis=1)
        if empty.any():
            matrix[empty, 0] = 1.0
        return _normalise_rows(matrix).astype(np.float32)
