"""Drift: is a new batch of data still like the data the adapter was trained on?

``provena drift NEW_DATA`` runs the new batch through the pipeline's own ingest and scrub_pii
code in a scratch folder (the CLI does that part: a shared module imports no stage package)
and compares the scrubbed records with the *reference*: the training split's original records,
augmented children (``parent_id`` set) and planted canaries (``op: canary``, family
``canary``) left out, since neither is data a user brought. Each feature is one test with a
statistic and a threshold from the ``drift`` section of the params (:class:`DriftConfig`):

- **length**: prompt and answer lengths in tokens, two-sample Kolmogorov-Smirnov
  (:func:`scipy.stats.ks_2samp`); drift when p < ``alpha`` and D >= ``length.max_ks``.
- **tokens**: the word (document) frequency distribution, Jensen-Shannon distance
  (:func:`scipy.spatial.distance.jensenshannon`) over the reference's commonest words, minus
  the distance a held-out reference sample of the same size shows (sampling noise).
- **language**, **family** and each audited attribute (**group:<attr>**): category counts in a
  2 x k table, chi-square (:func:`scipy.stats.chi2_contingency`) and Cramér's V
  (:func:`scipy.stats.contingency.association`); drift when p < ``alpha`` and V >= the
  feature's ``min_cramers_v`` (a large batch makes any tiny shift significant; V says how
  large it is).
- **pii**: the share of records scrub_pii replaced a value in (its ledger: an entity with an
  operator other than ``keep``), the same 2 x 2 chi-square; drift when p < ``alpha`` and the
  shares differ by at least ``pii.max_rate_diff``.
- **vocabulary**: the share of the new words (occurrences) outside the training vocabulary,
  minus that share of a held-out reference sample of the same size against the same
  vocabulary; drift at ``vocabulary.max_oov_increase`` or more.
- **overlap**: the share of new records that are exact or near copies of a reference record
  (:class:`provena.dedup.Deduplicator`, clean's MinHash LSH settings); drift (nothing new to
  learn) at ``overlap.max_share`` or more.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import association

from provena import group_audit, reports
from provena.canary import CANARY_FAMILY, CANARY_SOURCE
from provena.config import AuditDataConfig, DedupConfig, DriftConfig
from provena.dedup import Deduplicator
from provena.errors import UserError
from provena.io import read_jsonl, read_records, write_json
from provena.progress import progress
from provena.records import Record
from provena.tokens import TokenCounter

log = logging.getLogger(__name__)
MISSING = group_audit.MISSING
TOO_SHORT = "(too short)"
OTHER = "(other words)"
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")  # scrub_pii's placeholders: <PERSON>
WORD_RE = re.compile(r"[^\W\d_]+")  # letters only: numbers and surrogate digits are no words
#: the features in the order they are tested and shown (the JSON's keys are sorted)
FEATURES = ("length", "tokens", "language", "family", "pii", "groups", "vocabulary", "overlap")


@dataclass
class Reference:
    records: list[Record]
    path: str
    rows: int
    children: int  # augmented records (parent_id set) left out
    canaries: int  # planted canaries left out


def is_original(rec: Record) -> bool:
    """Neither an augmented child nor a planted canary."""
    if rec.get("parent_id") is not None:
        return False
    return not (
        rec.get("op") == "canary"
        or rec["meta"].get("family") == CANARY_FAMILY
        or rec["source"] == CANARY_SOURCE
    )


def load_reference(path: Path, shown: str) -> Reference:
    """The original records of a training split (children and canaries counted, left out)."""
    if not path.is_file():
        raise UserError(f"{shown}: no such file (the training split to compare with)")
    kept, rows, children, canaries = [], 0, 0, 0
    for batch in read_records(path):
        for rec in batch:
            rows += 1
            if is_original(rec):
                kept.append(rec)
            elif rec.get("parent_id") is not None:
                children += 1
            else:
                canaries += 1
    if not kept:
        raise UserError(f"{shown}: no original records (only augmented children or canaries)")
    return Reference(kept, shown, rows, children, canaries)


def pii_ids(ledger: Path) -> set[str]:
    """Ids of the records scrub_pii replaced a value in, from its ledger."""
    return {
        line["id"]
        for line in read_jsonl(ledger)
        if line.get("action") == "scrubbed"
        and any(e.get("operator") != "keep" for e in line.get("entities", ()))
    }


def _hash_order(records: Sequence[Record], salt: str) -> list[int]:
    key = [hashlib.sha256(f"{salt}\0{r['id']}".encode()).digest() for r in records]
    return sorted(range(len(records)), key=key.__getitem__)


def sample(records: list[Record], n: int, salt: str = "drift") -> list[Record]:
    """At most ``n`` records, chosen by a hash of their ids (the same every run)."""
    if len(records) <= n:
        return records
    order = _hash_order(records, salt)
    return [records[i] for i in sorted(order[:n])]


def holdout(records: list[Record], n: int) -> tuple[list[Record], list[Record]]:
    """(base, held out): ``n`` reference records (at most half) held out by a hash of their
    ids, to measure what a sample of the new batch's size differs by from the rest alone."""
    n = max(1, min(n, len(records) // 2))
    held = set(_hash_order(records, "drift-holdout")[:n])
    base = [r for i, r in enumerate(records) if i not in held]
    return base, [records[i] for i in sorted(held)]


# ------------------------------------------------------------------------------ the tests


def _decide(p: float, effect: float, threshold: float, alpha: float) -> bool:
    return bool(p < alpha and effect >= threshold)


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def numeric_test(ref: Sequence[float], new: Sequence[float], max_ks: float, alpha: float):
    res = stats.ks_2samp(ref, new)
    q = (0.1, 0.5, 0.9)
    return {
        "statistic": _r(res.statistic),
        "p_value": float(f"{res.pvalue:.4g}"),
        "drift": _decide(res.pvalue, res.statistic, max_ks, alpha),
        "reference": dict(zip(("p10", "median", "p90"), np.quantile(ref, q).tolist(), strict=True)),
        "new": dict(zip(("p10", "median", "p90"), np.quantile(new, q).tolist(), strict=True)),
    }


def categorical_test(
    ref: Counter[str], new: Counter[str], min_v: float, alpha: float, top: int = 8
) -> dict[str, Any]:
    """Chi-square on the 2 x k table of counts, Cramér's V as the effect size; the categories
    whose shares moved most listed first."""
    cats = sorted(set(ref) | set(new))
    n_ref, n_new = sum(ref.values()), sum(new.values())
    shares = [
        {
            "category": c,
            "reference": _r(ref[c] / n_ref),
            "new": _r(new[c] / n_new),
        }
        for c in cats
    ]
    shares.sort(key=lambda s: (-abs(s["new"] - s["reference"]), s["category"]))
    if len(cats) < 2:
        return {
            "statistic": 0.0,
            "p_value": 1.0,
            "drift": False,
            "note": "one category on both sides: nothing to test",
            "shares": shares,
        }
    table = np.array([[ref[c] for c in cats], [new[c] for c in cats]])
    chi2, p, dof, _ = stats.chi2_contingency(table)
    v = association(table, method="cramer")
    return {
        "statistic": _r(v),
        "chi2": _r(chi2, 2),
        "dof": int(dof),
        "p_value": float(f"{p:.4g}"),
        "drift": _decide(p, v, min_v, alpha),
        "shares": shares[:top],
    }


# ------------------------------------------------------------------------- the features


def prompt_of(rec: Record) -> str:
    return "\n".join(t for t in (rec["instruction"], rec["input"]) if t)


def text_of(rec: Record) -> str:
    return "\n".join(t for t in (rec["instruction"], rec["input"], rec["output"]) if t)


def words(text: str) -> list[str]:
    return WORD_RE.findall(PLACEHOLDER_RE.sub(" ", text).lower())


class Language:
    """py3langid on the input and answer (placeholders removed), as clean's language filter
    reads them; the instruction too where they are short (it is often one fixed template)."""

    def __init__(self, min_chars: int):
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

        self.min_chars = min_chars
        self.model = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)

    def __call__(self, rec: Record) -> str:
        text = PLACEHOLDER_RE.sub(" ", "\n".join((rec["input"], rec["output"])))
        if sum(map(str.isalpha, text)) < self.min_chars:
            text = PLACEHOLDER_RE.sub(" ", text_of(rec))
        if sum(map(str.isalpha, text)) < self.min_chars:
            return TOO_SHORT
        return str(self.model.classify(text)[0])


def word_distance(base: Iterable[Record], other: Iterable[Record], top: int) -> float:
    """Jensen-Shannon distance (base 2) between word document frequencies (the records a word
    is in, so one long record does not outweigh the rest): the base's ``top`` commonest words,
    every other word in one bucket."""
    b = Counter(w for r in base for w in set(words(text_of(r))))
    o = Counter(w for r in other for w in set(words(text_of(r))))
    keep = [w for w, _ in b.most_common(top)]
    kept = set(keep)
    p = np.array([b[w] for w in keep] + [sum(c for w, c in b.items() if w not in kept)], float)
    q = np.array([o[w] for w in keep] + [sum(c for w, c in o.items() if w not in kept)], float)
    if q.sum() == 0:
        return 1.0
    return float(jensenshannon(p, q, base=2))


def oov_share(vocab: set[str], records: Iterable[Record]) -> tuple[float, Counter[str]]:
    """Share of word occurrences outside ``vocab``, and those words counted."""
    total, missing = 0, Counter()
    for r in records:
        for w in words(text_of(r)):
            total += 1
            if w not in vocab:
                missing[w] += 1
    return (sum(missing.values()) / total if total else 0.0), missing


def overlap(ref: list[Record], new: list[Record], cfg: DedupConfig) -> tuple[int, list[str]]:
    """New records with an exact or near copy among the reference's: (count, some ids)."""
    dd = Deduplicator(cfg)
    texts = [text_of(r) for r in ref] + [text_of(r) for r in new]
    for start in range(0, len(texts), 2_000):
        dd.add(range(start, min(start + 2_000, len(texts))), texts[start : start + 2_000])
    copied: set[int] = set()
    for c in dd.clusters():
        if c.members[0] < len(ref):  # members are sorted: a reference row is in it
            copied.update(m - len(ref) for m in c.members if m >= len(ref))
    return len(copied), sorted(new[i]["id"] for i in copied)[:10]


def compare(
    ref: Reference,
    ref_pii: set[str],
    new: list[Record],
    new_pii: set[str],
    cfg: DriftConfig,
    *,
    audit: AuditDataConfig,
    dedup: DedupConfig,
    root: Path,
    new_info: dict[str, Any],
) -> dict[str, Any]:
    """Every feature's test, the reference and the new batch (``new_info``: its inputs and
    books) described, the verdict."""
    if len(new) < cfg.min_records:
        raise UserError(
            f"{new_info['inputs']}: {len(new)} records after ingest and scrub_pii; drift needs "
            f"at least drift.min_records = {cfg.min_records} to judge"
        )
    reference = sample(ref.records, cfg.max_reference_records)
    alpha = cfg.alpha
    bar = progress(total=8, desc="drift", unit=" test")
    features: dict[str, dict[str, Any]] = {}

    def done(name: str, test: str, threshold: str, result: dict[str, Any]) -> None:
        features[name] = {"test": test, "threshold": threshold, **result}
        bar.update(1)

    count = TokenCounter(cfg.tokenizer, root, "drift.tokenizer")
    sub = {}
    for part, fn in (("prompt", prompt_of), ("answer", lambda r: r["output"])):
        a, b = count([fn(r) for r in reference]), count([fn(r) for r in new])
        sub[part] = numeric_test(a, b, cfg.length.max_ks, alpha)
    worst = max(sub.values(), key=lambda s: s["statistic"])
    done(
        "length",
        "Kolmogorov-Smirnov on tokens per prompt and per answer (the larger D)",
        f"p < {alpha} and D >= {cfg.length.max_ks}",
        {
            "statistic": worst["statistic"],
            "p_value": worst["p_value"],
            "drift": any(s["drift"] for s in sub.values()),
            "parts": sub,
            "tokens": "tokenizer" if count.exact else "estimated (words and punctuation)",
        },
    )

    base, held = holdout(reference, len(new))
    d_new = word_distance(base, new, cfg.tokens.top_words)
    d_held = word_distance(base, held, cfg.tokens.top_words)
    done(
        "tokens",
        "Jensen-Shannon distance of word document frequencies (the reference's "
        f"{cfg.tokens.top_words} "
        "commonest words), minus that of a held-out reference sample of the same size",
        f">= {cfg.tokens.max_js_increase}",
        {
            "statistic": _r(d_new - d_held),
            "distance_new": _r(d_new),
            "distance_held_out": _r(d_held),
            "drift": d_new - d_held >= cfg.tokens.max_js_increase,
        },
    )

    lang = Language(cfg.language.min_chars)
    done(
        "language",
        "chi-square on language counts (py3langid on input and answer), Cramér's V",
        f"p < {alpha} and V >= {cfg.language.min_cramers_v}",
        categorical_test(
            Counter(map(lang, reference)),
            Counter(map(lang, new)),
            cfg.language.min_cramers_v,
            alpha,
        ),
    )

    def family(r: Record) -> str:
        return str(r["meta"].get("family") or MISSING)

    done(
        "family",
        "chi-square on task family counts (meta.family), Cramér's V",
        f"p < {alpha} and V >= {cfg.family.min_cramers_v}",
        categorical_test(
            Counter(map(family, reference)),
            Counter(map(family, new)),
            cfg.family.min_cramers_v,
            alpha,
        ),
    )

    a_in = sum(r["id"] in ref_pii for r in reference)
    b_in = sum(r["id"] in new_pii for r in new)
    rate_a, rate_b = a_in / len(reference), b_in / len(new)
    table = np.array([[a_in, len(reference) - a_in], [b_in, len(new) - b_in]])
    if table.sum(axis=0).min() == 0:  # all or none with PII on both sides: no difference
        chi2, p = 0.0, 1.0
    else:
        chi2, p, _, _ = stats.chi2_contingency(table)
    done(
        "pii",
        "chi-square on records with a replaced PII value (scrub_pii's ledger) vs without",
        f"p < {alpha} and |difference of shares| >= {cfg.pii.max_rate_diff}",
        {
            "statistic": _r(abs(rate_b - rate_a)),
            "chi2": _r(chi2, 2),
            "p_value": float(f"{p:.4g}"),
            "reference": _r(rate_a),
            "new": _r(rate_b),
            "drift": _decide(p, abs(rate_b - rate_a), cfg.pii.max_rate_diff, alpha),
        },
    )

    frames = [group_audit.build_frame(rs, audit) for rs in (reference, new)]
    groups = {}
    for attr in audit.attributes:
        counts = [Counter(f[attr]) if attr in f else Counter({MISSING: len(f)}) for f in frames]
        groups[attr] = categorical_test(*counts, cfg.groups.min_cramers_v, alpha)
    worst_g = max(groups.values(), key=lambda g: g["statistic"], default=None)
    done(
        "groups",
        "chi-square on each audited attribute's group counts (audit_data.attributes, recorded "
        "or inferred from the text, missing as a group), Cramér's V (the largest)",
        f"p < {alpha} and V >= {cfg.groups.min_cramers_v}",
        {
            "statistic": worst_g["statistic"] if worst_g else 0.0,
            "p_value": worst_g["p_value"] if worst_g else 1.0,
            "drift": any(g["drift"] for g in groups.values()),
            "drifted": [a for a, g in groups.items() if g["drift"]],
            "attributes": groups,
        },
    )

    vocab = {w for r in base for w in words(text_of(r))}
    oov_new, missing = oov_share(vocab, new)
    oov_held, _ = oov_share(vocab, held)
    done(
        "vocabulary",
        "share of word occurrences outside the training vocabulary, minus that share of a "
        "held-out reference sample of the same size",
        f">= {cfg.vocabulary.max_oov_increase}",
        {
            "statistic": _r(oov_new - oov_held),
            "oov_new": _r(oov_new),
            "oov_held_out": _r(oov_held),
            "vocabulary_size": len(vocab),
            "drift": oov_new - oov_held >= cfg.vocabulary.max_oov_increase,
            "top_new_words": [w for w, _ in missing.most_common(15)],
        },
    )

    n_copied, ids = overlap(reference, new, dedup)
    share = n_copied / len(new)
    done(
        "overlap",
        "share of new records that are exact or near copies of a training record "
        f"(MinHash LSH, Jaccard >= {dedup.threshold})",
        f">= {cfg.overlap.max_share}",
        {
            "statistic": _r(share),
            "records": n_copied,
            "drift": share >= cfg.overlap.max_share,
            "example_ids": ids,
        },
    )
    bar.close()
    drifted = [name for name, f in features.items() if f["drift"]]
    return {
        "drift": bool(drifted),
        "drifted": drifted,
        "reference": {
            "path": ref.path,
            "rows": ref.rows,
            "original_records": len(ref.records),
            "compared": len(reference),
            "children_left_out": ref.children,
            "canaries_left_out": ref.canaries,
        },
        "new": new_info,
        "features": features,
        "params": cfg.model_dump(),
    }


def render_html(report: dict[str, Any]) -> str:
    return reports.render("drift.html.j2", order=FEATURES, **report)


def write(report: dict[str, Any], out: Path, html: Path | None) -> None:
    write_json(out, report)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(report), encoding="utf-8")
