"""Exact and near-duplicate detection: datasketch MinHash signatures, banded LSH on arrays.

:class:`Deduplicator` takes documents in order (row numbers 0, 1, ...), finds exact copies by
a hash of their normalized text and near-copies with MinHash LSH, and returns clusters with one
kept row each, chosen by a deterministic rule. Memory grows linearly with the number of
documents and stays small: a 16-byte digest per distinct text, a ``num_perm`` x 4-byte
signature per distinct text and, per LSH band, a bucket number per document; candidate pairs
are listed as arrays only while the buckets hold at most ``_MAX_PAIRS`` of them, else they are
found document by document, and nothing is kept per pair.

Signatures are datasketch's (``MinHash`` with the default ``affine32`` scheme and
``sha1_hash32``), computed for many documents at once with numpy instead of one ``MinHash``
object per document; ``tests/unit/test_dedup.py`` checks they are bit-identical to datasketch's
own. :meth:`MinHasher.word_signatures` (what :class:`Deduplicator` uses) reaches them from the
documents' words: words get integer ids, shingles int64 keys of those ids, and only the text
of each distinct key in a batch is built, encoded and hashed; the permuted values are laid out
one permutation per row, so each document's minimum is a reduction along contiguous memory.
The LSH is datasketch's banding (its ``bands`` x ``rows``, its optimum for the threshold) held
as numpy arrays: two documents are candidates when all ``rows`` values of some band are
equal, exactly when ``MinHashLSH.query`` would return one for the other (a test checks the
candidate pairs are the same). ``MinHashLSH`` itself keeps a Python set and byte strings per
band and document, ~5 KB a document: 1.1 GB at 200k records, which this index avoids.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from datasketch import LeanMinHash, MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from provena.config import DedupConfig
from provena.normalize import normalize_for_match, words_for_match

SCHEME = "affine32"
_BLOCK_SHINGLES = 8_192  # shingles hashed together: bounds the (shingles x num_perm) matrix
# bucket-mate pairs (over all bands) listed at once as arrays (~25 bytes each, transient);
# above it, found document by document
_MAX_PAIRS = 2_000_000
_PAIR_BLOCK = 65_536  # pairs whose signatures are compared together: bounds that matrix


def shingles(text: str, n: int, *, normalized: bool = False) -> list[bytes]:
    """Distinct word n-grams of the normalized text (the whole text if it has fewer words)."""
    words = (text if normalized else normalize_for_match(text)).split()
    if not words:
        return []
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")]
    # n shifted views zipped: the n-grams are built and encoded in C, first occurrences kept
    count = len(words) - n + 1
    grams = map(" ".join, zip(*(words[i : i + count] for i in range(n)), strict=True))
    return list(dict.fromkeys(map(str.encode, grams)))


_DIGEST = np.dtype([("head", "<u4"), ("rest", "V16")])  # a SHA-1 digest: 20 bytes
_digest = operator.methodcaller("digest")


def _sha1_hash32(keys: Iterable[bytes]) -> np.ndarray:
    """datasketch's ``sha1_hash32`` of each key (the first 4 bytes of its SHA-1, little-endian),
    as one uint32 array: the digests are made and joined in C and read at once, no Python int
    or slice per key."""
    digests = b"".join(map(_digest, map(hashlib.sha1, keys)))
    return np.frombuffer(digests, dtype=_DIGEST)["head"].astype(np.uint32)


class MinHasher:
    """datasketch MinHash signatures for many documents at once."""

    def __init__(self, num_perm: int = 128, seed: int = 1):
        proto = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME)
        self.num_perm, self.seed = num_perm, seed
        self.a, self.b = (np.asarray(p, dtype=np.uint32) for p in proto.permutations)
        self._empty = proto.hashvalues.astype(np.uint32)

    def signatures(self, docs: Sequence[Sequence[bytes]]) -> np.ndarray:
        """One row of ``num_perm`` uint32 per document (an empty document: all max values)."""
        if not docs:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = list(chain.from_iterable(docs))
        # templated records share many shingles: hash each distinct one once
        code = dict(zip(dict.fromkeys(flat), itertools.count()))
        hashed = _sha1_hash32(code)
        codes = np.fromiter(map(code.__getitem__, flat), dtype=np.int64, count=len(flat))
        return self._reduce(hashed[codes], lengths)

    def word_signatures(self, docs: Sequence[Sequence[str]], n: int) -> np.ndarray:
        """``signatures([shingles(d, n) for d in docs])`` from each document's words (its
        normalized text split): the same values, found without a bytes object per shingle.

        The words of all documents get integer ids, each shingle (a window of ``n`` ids, or
        every word of a shorter document) an int64 key, equal exactly when the shingles are;
        only the distinct keys' text is joined, encoded and hashed."""
        if not docs:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        nw = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        flat = list(chain.from_iterable(docs))
        vocab = dict.fromkeys(flat)
        word_id = dict(zip(vocab, itertools.count(1)))  # 0 pads a short document's shingle
        ids = np.zeros(len(flat) + n, dtype=np.int64)
        ids[: len(flat)] = np.fromiter(map(word_id.__getitem__, flat), np.int64, len(flat))
        radix = len(vocab) + 1
        # shingles per document: every window of n words, or all its words (fewer than n)
        lengths = np.where(nw >= n, nw - n + 1, np.minimum(nw, 1))
        width = np.repeat(np.minimum(nw, n), lengths)  # words in each shingle
        first_word = np.cumsum(nw) - nw
        pos = np.arange(int(lengths.sum())) + np.repeat(
            first_word - (np.cumsum(lengths) - lengths), lengths
        )
        key, bound = ids[pos], radix  # 0 <= key < bound
        for j in range(1, n):
            if bound > (2**63 - 1) // radix:  # no room for another word: rank the keys so far
                uniq, key = np.unique(key, return_inverse=True)
                bound = len(uniq)
            key = key * radix + np.where(width > j, ids[pos + j], 0)
            bound *= radix
        distinct, inverse = np.unique(key, return_inverse=True)
        inverse = inverse.ravel()
        one = np.empty(len(distinct), dtype=np.int64)  # a shingle of each key (the same text)
        one[inverse] = np.arange(len(key))
        words = np.array(["", *vocab], dtype=object)
        start, size = pos[one], width[one]
        texts = list(map(" ".join, zip(*(words[ids[start + j]] for j in range(n)), strict=True)))
        for k in np.flatnonzero(size < n).tolist():  # a short document: its words only
            texts[k] = " ".join(words[ids[start[k] : start[k] + size[k]]])
        hashed = _sha1_hash32(map(str.encode, texts))  # utf-8
        return self._reduce(hashed[inverse], lengths)

    def _reduce(self, hashed: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Signatures of documents of ``lengths`` shingles, whose sha1_hash32 values are
        ``hashed`` in order, in blocks of about _BLOCK_SHINGLES shingles (bounds the permuted
        matrix)."""
        out = np.empty((len(lengths), self.num_perm), dtype=np.uint32)
        with np.errstate(over="ignore"):
            hv = _fmix(hashed, 32)
        ends = np.cumsum(lengths)
        buf = np.empty((self.num_perm, min(int(ends[-1]), _BLOCK_SHINGLES)), dtype=np.uint32)
        start = 0
        while start < len(lengths):
            first = int(ends[start] - lengths[start])
            end = max(start + 1, bisect.bisect_right(ends, first + _BLOCK_SHINGLES, lo=start))
            self._block(hv[first : int(ends[end - 1])], lengths[start:end], out[start:end], buf)
            start = end
        return out

    def _block(self, hv: np.ndarray, lengths: np.ndarray, out: np.ndarray, buf: np.ndarray) -> None:
        """The signatures of consecutive documents of ``lengths`` shingles whose fmixed hashes
        are ``hv``, one permutation per row: the minimum of each document is then a reduction
        along contiguous memory (much faster than along the other axis)."""
        nonempty = lengths > 0
        out[~nonempty] = self._empty
        if hv.size == 0:
            return
        phv = (
            buf[:, : hv.size]
            if hv.size <= buf.shape[1]
            else np.empty((self.num_perm, hv.size), np.uint32)
        )
        with np.errstate(over="ignore"):
            np.multiply(hv[None, :], self.a[:, None], out=phv)  # uint32 wraps, as intended
            phv += self.b[:, None]
        offsets = (np.cumsum(lengths) - lengths)[nonempty]
        out[nonempty] = np.minimum.reduceat(phv, offsets, axis=1).T

    def lean(self, signature: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=self.seed, hashvalues=signature, scheme=SCHEME)


def lsh_params(cfg: DedupConfig) -> tuple[int, int]:
    """(bands, rows): from params, or datasketch's optimum for the threshold."""
    if cfg.bands is not None and cfg.rows is not None:
        return cfg.bands, cfg.rows
    return _optimal_param(cfg.threshold, cfg.num_perm, 0.5, 0.5)


@dataclass
class Cluster:
    kept: int  # row kept
    members: list[int]  # every row, kept one included, in row order
    similarity: dict[int, float] = field(default_factory=dict)  # row -> estimated Jaccard to kept
    exact: set[int] = field(default_factory=set)  # rows whose text equals the kept row's


class UnionFind:
    """Disjoint sets of ints; a set's root is its smallest member (callers rely on it)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class _Bands:
    """Banded LSH over a signature matrix: per band, each document's bucket (documents whose
    ``rows`` values in that band are all equal share one) and the documents of each bucket."""

    def __init__(self, sigs: np.ndarray, bands: int, rows: int):
        n = len(sigs)
        self.bucket: list[np.ndarray] = []  # band -> bucket of each document
        self.order: list[np.ndarray] = []  # band -> documents sorted by bucket
        self.start: list[np.ndarray] = []  # band -> first position of each bucket in order
        self.size: list[np.ndarray] = []  # band -> documents in each bucket
        shared = np.zeros(n, dtype=bool)  # shares a bucket with another document in some band
        for b in range(bands):
            band = np.ascontiguousarray(sigs[:, b * rows : (b + 1) * rows])
            keys = band.view(np.dtype((np.void, band.dtype.itemsize * rows))).ravel()
            _, bucket, size = np.unique(keys, return_inverse=True, return_counts=True)
            bucket = bucket.astype(np.int32).ravel()
            order = np.argsort(bucket, kind="stable").astype(np.int32)
            start = np.concatenate(([0], np.cumsum(size)[:-1])).astype(np.int64)
            shared |= size[bucket] > 1
            self.bucket.append(bucket)
            self.order.append(order)
            self.start.append(start)
            self.size.append(size.astype(np.int32))
        self.shared = np.flatnonzero(shared)

    def pairs(self, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Every (i, j), i < j, sharing a bucket in some band, sorted, as two arrays; None when
        the bands hold more than ``limit`` bucket-mate pairs (then use :meth:`candidates`)."""
        if sum(int((s.astype(np.int64) * (s - 1) // 2).sum()) for s in self.size) > limit:
            return None
        n = len(self.bucket[0]) if self.bucket else 0
        keys = [np.empty(0, dtype=np.int64)]
        for order, start, size in zip(self.order, self.start, self.size, strict=True):
            # position p of a bucket of s documents pairs with the s - 1 - p positions after it
            of = np.repeat(np.arange(len(size)), size)  # bucket at each position of order
            later = (start[of] + size[of] - 1 - np.arange(len(order))).astype(np.int64)
            a = np.repeat(np.arange(len(order)), later)
            b = a + 1 + np.arange(len(a)) - np.repeat(np.cumsum(later) - later, later)
            da, db = order[a].astype(np.int64), order[b].astype(np.int64)
            keys.append(np.minimum(da, db) * n + np.maximum(da, db))
        key = np.unique(np.concatenate(keys))
        return (key // n).astype(np.int32), (key % n).astype(np.int32)

    def candidates(self, i: int) -> np.ndarray:
        """Documents sharing a bucket with document ``i`` in any band (``i`` excluded), sorted."""
        parts = []
        for bucket, order, start, size in zip(
            self.bucket, self.order, self.start, self.size, strict=True
        ):
            k = bucket[i]
            if size[k] > 1:
                parts.append(order[start[k] : start[k] + size[k]])
        if not parts:
            return np.empty(0, dtype=np.int32)
        found = np.unique(np.concatenate(parts))
        return found[found != i]


class Deduplicator:
    """Feed documents with :meth:`add` (in row order), then call :meth:`clusters`."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.hasher = MinHasher(cfg.num_perm, cfg.seed)
        self.bands, self.rows = lsh_params(cfg)  # DedupConfig keeps bands x rows <= num_perm
        self._first_by_digest: dict[bytes, int] = {}
        self._exact_of: dict[int, int] = {}  # row -> first row with the same normalized text
        # compact per-document books (8 bytes a document, not a Python int and dict entry)
        self._rows = array("q")  # every row added, increasing
        self._lens = array("q")  # its text length (for keep: longest)
        self._uniq_rows = array("q")  # rows that carry a signature, in order
        self._blocks: list[np.ndarray] = []  # signatures as added, aligned with _uniq_rows
        self._index: _Bands | None = None  # built on the first query, after the last add

    @property
    def n_docs(self) -> int:
        return len(self._rows)

    def add(self, rows: Iterable[int], texts: Sequence[str]) -> None:
        """Index a batch of documents; ``rows`` must increase across calls."""
        new_rows, new_docs = [], []
        for row, text in zip(rows, texts, strict=True):
            if self._rows and row <= self._rows[-1]:
                raise ValueError(f"rows must increase: {row} after {self._rows[-1]}")
            self._rows.append(row)
            self._lens.append(len(text))
            words = words_for_match(text)
            if self.cfg.exact:
                norm = " ".join(words)  # normalize_for_match(text), split once for both uses
                digest = hashlib.blake2b(norm.encode("utf-8"), digest_size=16).digest()
                first = self._first_by_digest.setdefault(digest, row)
                if first != row:
                    self._exact_of[row] = first
                    continue
            if self.cfg.near and words:
                new_rows.append(row)
                new_docs.append(words)
        if not new_rows:
            return
        self._blocks.append(self.hasher.word_signatures(new_docs, self.cfg.ngram))
        self._uniq_rows.extend(new_rows)
        self._index = None

    @property
    def _sigs(self) -> np.ndarray:
        """Every signature as one matrix (the blocks joined once, then kept joined)."""
        if len(self._blocks) != 1:
            joined = (
                np.concatenate(self._blocks)
                if self._blocks
                else np.empty((0, self.cfg.num_perm), dtype=np.uint32)
            )
            self._blocks = [joined]
        return self._blocks[0]

    def _bands(self) -> _Bands:
        if self._index is None:
            self._index = _Bands(self._sigs, self.bands, self.rows)
        return self._index

    def candidate_pairs(self) -> Iterator[tuple[int, np.ndarray]]:
        """(signature index i, the indices j > i sharing an LSH bucket with it)."""
        index = self._bands()
        pairs = index.pairs(_MAX_PAIRS)
        if pairs is not None:
            first, second = pairs
            cut = np.flatnonzero(np.diff(first)) + 1
            starts = np.concatenate(([0], cut)).astype(np.int64)
            yield from zip(first[starts].tolist(), np.split(second, cut), strict=True)
            return
        for i in index.shared:
            j = index.candidates(int(i))
            j = j[j > i]
            if len(j):
                yield int(i), j

    def near_pairs(self) -> Iterator[tuple[int, int, float]]:
        """(row a, row b, estimated Jaccard) for LSH candidates at or above the threshold."""
        sigs = self._sigs
        pairs = self._bands().pairs(_MAX_PAIRS)
        if pairs is None:
            for i, js in self.candidate_pairs():
                sims = np.count_nonzero(sigs[js] == sigs[i], axis=1) / self.cfg.num_perm
                for j, sim in zip(js.tolist(), sims.tolist(), strict=True):
                    if sim >= self.cfg.threshold:
                        yield self._uniq_rows[i], self._uniq_rows[j], sim
            return
        rows = np.frombuffer(self._uniq_rows, dtype=np.int64)
        for at in range(0, len(pairs[0]), _PAIR_BLOCK):
            a, b = (p[at : at + _PAIR_BLOCK] for p in pairs)
            sims = np.count_nonzero(sigs[a] == sigs[b], axis=1) / self.cfg.num_perm
            near = sims >= self.cfg.threshold
            found = (rows[a[near]].tolist(), rows[b[near]].tolist(), sims[near].tolist())
            yield from zip(*found, strict=True)

    def _similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.count_nonzero(a == b)) / self.cfg.num_perm

    def clusters(self) -> list[Cluster]:
        """Every group of two or more duplicate rows, with the row kept by ``cfg.keep``."""
        uf = UnionFind()
        for row, first in self._exact_of.items():
            uf.union(row, first)
        for a, b, _ in self.near_pairs():
            uf.union(a, b)
        groups: dict[int, list[int]] = {}
        for row in set(uf.parent) | set(uf.parent.values()):
            groups.setdefault(uf.find(row), []).append(row)
        needed = {self._exact_of.get(r, r) for members in groups.values() for r in members}
        sig_of = {row: k for k, row in enumerate(self._uniq_rows) if row in needed}
        out = []
        for members in groups.values():
            if len(members) < 2:
                continue
            members.sort()
            if self.cfg.keep == "longest":
                kept = max(members, key=lambda r: (self._length(r), -r))
            else:
                kept = members[0]
            kept_text = self._exact_of.get(kept, kept)
            c = Cluster(kept=kept, members=members)
            for row in members:
                if row == kept:
                    continue
                rep = self._exact_of.get(row, row)
                if rep == kept_text:
                    c.exact.add(row)
                    c.similarity[row] = 1.0
                else:
                    sim = self._similarity(self._sigs[sig_of[rep]], self._sigs[sig_of[kept_text]])
                    c.similarity[row] = round(sim, 4)
            out.append(c)
        out.sort(key=lambda c: c.kept)
        return out

    def _length(self, row: int) -> int:
        return self._lens[bisect.bisect_left(self._rows, row)]
