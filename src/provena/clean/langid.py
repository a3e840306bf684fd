"""py3langid's ``classify`` for a whole batch of texts at once.

py3langid walks its byte-level DFA in a Python loop, one byte at a time, then scores each text
with a small matrix product: most of the clean stage's time went there. :class:`BatchLangid`
walks the same DFA for every text of a batch in lockstep (numpy, one step per byte position,
the texts sorted by length so that the step works on a shrinking prefix), counts the features
per text, and scores them all with the same model tables and the same normalisation as
``LanguageIdentifier._decide`` (``norm_probs=True``: the ``1/sqrt(bytes)`` temperature, the
softmax, the alias folding).

The sums are done in another order than py3langid's, so a probability can differ from
``classify``'s in its last float bits. Decisions must not: :meth:`BatchLangid.classify` keeps
the batch answer only where it is clearly ahead of the runner-up and either a language the
caller accepts anyway or too unsure for the caller to act on; every other text (a language to
drop, whose probability the drop reason shows and the threshold judges, or a near tie) is
classified again by ``classify`` itself.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

#: below this lead of the best language over the next (in probability), the batch answer is
#: not trusted and ``classify`` decides; the batch's rounding error is orders of magnitude less
TIE_MARGIN = 1e-3
#: the DFA walks the texts in lockstep while more than this many are left (below, numpy's cost
#: per step outweighs the few bytes it walks)
LOCKSTEP_MIN = 100


class BatchLangid:
    """A py3langid ``LanguageIdentifier`` (built with ``norm_probs=True``), applied to many
    texts at once."""

    def __init__(self, identifier, lockstep_min: int = LOCKSTEP_MIN):
        self.ident = identifier
        self.lockstep_min = lockstep_min
        self.nextmove = np.frombuffer(identifier.tk_nextmove, dtype=np.uint32)
        self.rowbase = np.asarray(identifier.tk_row, dtype=np.int64) << 8
        self.output = np.asarray(identifier.tk_output, dtype=np.int64)
        self.ptc = np.asarray(identifier.nb_ptc, dtype=np.float32)
        self.pc = np.asarray(identifier.nb_pc, dtype=np.float32)
        self.classes = list(identifier.nb_classes)
        self.alias_pairs = list(identifier._alias_pairs)

    def _features(self, data: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, feature) of every feature the DFA emits, over all texts."""
        lens = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
        if not len(data) or not lens.max():
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        order = np.argsort(-lens, kind="stable")
        slens = lens[order]
        buf = np.frombuffer(b"".join([data[i] for i in order]), dtype=np.uint8)
        starts = np.concatenate(([0], np.cumsum(slens)[:-1]))
        width = int(slens[0])
        # ks[p]: how many texts are longer than p (a prefix of the texts, longest first)
        ks = np.searchsorted(-slens, -np.arange(width), side="left")
        # lockstep while enough texts are left for numpy to pay; then the long tail of the few
        # longest texts is walked one text at a time, as py3langid does
        steps = int(np.count_nonzero(ks > self.lockstep_min))
        nextmove, rowbase, output = self.nextmove, self.rowbase, self.output
        state = np.zeros(int(ks[0]), dtype=np.uint32)
        texts: list[np.ndarray] = []
        feats: list[np.ndarray] = []
        for p in range(steps):
            k = int(ks[p])
            now = state[:k]
            idx = rowbase[now]
            idx += buf[starts[:k] + p]
            np.take(nextmove, idx, out=now)
            found = output[now]
            hit = np.flatnonzero(found >= 0)
            texts.append(hit)
            feats.append(found[hit])
        tail_text: list[int] = []
        tail_feats: list[int] = []
        if steps < width:
            nm, rb, out = self.ident.tk_nextmove, self.ident._rowbase, self.ident.tk_output
            for t in range(int(ks[steps])):
                at = int(state[t])
                for byte in data[order[t]][steps:]:
                    at = nm[rb[at] + byte]
                    f = out[at]
                    if f >= 0:
                        tail_text.append(t)
                        tail_feats.append(f)
        texts.append(np.asarray(tail_text, dtype=np.int64))
        feats.append(np.asarray(tail_feats, dtype=np.int64))
        return order[np.concatenate(texts)], np.concatenate(feats)

    def scores(self, data: Sequence[bytes]) -> np.ndarray:
        """Per text (bytes, as py3langid encodes them), the probability of each class after
        alias folding, as ``_decide`` computes it with ``norm_probs=True``."""
        n, nfeat = len(data), self.ptc.shape[0]
        raw = np.zeros((n, len(self.classes)), dtype=np.float64)
        tix, feats = self._features(data)
        if len(tix):
            keys, counts = np.unique(tix * nfeat + feats, return_counts=True)
            tix, feats = keys // nfeat, keys % nfeat
            weights = np.log1p(counts.astype(np.float32))
            bounds = np.flatnonzero(np.concatenate(([True], tix[1:] != tix[:-1], [True])))
            ptc, pc = self.ptc, self.pc
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                raw[tix[a]] = weights[a:b] @ ptc[feats[a:b]] + pc
        # featureless text: all zeros, a uniform distribution (as py3langid under norm_probs)
        lens = np.fromiter(map(len, data), dtype=np.float64, count=n)
        raw *= (1.0 / np.sqrt(np.maximum(lens, 1.0)))[:, None]
        raw -= raw.max(axis=1, keepdims=True)
        np.exp(raw, out=raw)
        raw /= raw.sum(axis=1, keepdims=True)
        for i, j in self.alias_pairs:
            raw[:, i] += raw[:, j]
            raw[:, j] = 0.0
        return raw

    def classify(
        self, texts: Sequence[str], accepted: Sequence[Collection[str]], below: float = 0.0
    ) -> list[tuple[str, float]]:
        """(language, probability) of each text, as ``classify`` gives them. The caller needs
        the exact probability of text ``i`` only where its language is not one of
        ``accepted[i]`` and the probability is at least ``below``: a text whose batch answer
        is clearly ahead of the runner-up and either accepted or clearly below ``below`` keeps
        it (the same language, the probability equal to ``classify``'s to float rounding);
        every other text is classified again by py3langid itself."""
        encode = self.ident._encode
        probs = self.scores([encode(t) for t in texts])
        out: list[tuple[str, float]] = []
        if not len(texts):
            return out
        best = probs.argmax(axis=1)
        top2 = np.partition(probs, -2, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0] > TIE_MARGIN).tolist()
        low = (top2[:, 1] < below - TIE_MARGIN).tolist()
        for i, text in enumerate(texts):
            lang = self.classes[best[i]]
            if clear[i] and (low[i] or lang in accepted[i]):
                out.append((lang, float(probs[i, best[i]])))
            else:
                lang, prob = self.ident.classify(text)
                out.append((lang, float(prob)))
        return out
