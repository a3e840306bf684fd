"""synth: the bundled default dataset, deterministic and realistic, with its ground truth.

:func:`generate` is pure: params in, file contents (bytes) and statistics out. The same params
give byte-identical files. Beside the records it writes, under ``_gold/``, the gold PII spans
(offsets into the canonical fields that ingest produces) and a label for every planted
defect with the outcome a correct pipeline should reach (repaired by ingest, quarantined by
ingest, or dropped by clean).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import re
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from provena.config import NormalizeConfig, SynthConfig
from provena.io import atomic_open, write_json
from provena.normalize import TextNormalizer
from provena.progress import progress
from provena.records import NO_GOLD, stage_metrics
from provena.synth.build import shift_spans
from provena.synth.clinical import clinical_draft
from provena.synth.draft import Draft
from provena.synth.support import foreign_draft, support_draft

#: Fixed "today" of the dataset, so ages and dates do not drift with the calendar.
TODAY = dt.date(2026, 6, 30)
CLINICAL_FILE = "clinical_extraction.jsonl"
CHAT_FILE = "support_chat.parquet"
LEGACY_FILE = "support_legacy.jsonl"
SPANS_FILE = "_gold/pii_spans.jsonl"
LABELS_FILE = "_gold/labels.jsonl"
MANIFEST_FILE = "_gold/manifest.json"

REPAIR, QUARANTINE, DROP = "repair:ingest", "quarantine:ingest", "drop:clean"
# The normalizer that ingest uses with its defaults; repairable defects are checked against it.
_CHECK = TextNormalizer(NormalizeConfig())

NEAR_DUP_SWAPS = {
    "reports": "states",
    "presenting": "presents",
    "with": "w/",
    "still": "yet",
    "really": "very",
    "please": "kindly",
    "arrived": "came",
    "damaged": "broken",
    "Thanks": "Thank you",
    "Hello": "Hi",
    "Hi": "Hello",
    "pretty": "quite",
    "before": "prior to",
    "follow-up": "follow up",
    "Continue": "Continue with",
    "Denies": "Denied",
    "admitted": "brought in",
    "completely": "totally",
    "Unfortunately": "Sadly",
    "Sorry": "Apologies",
    "within": "in",
}
NEAR_DUP_TAILS = (
    "\nThanks again.",
    "\nSent from my phone",
    " Thank you!",
    "\n(Dictated, not read back.)",
    " Please advise.",
    "\n-- end of note --",
)
SHORT_OUTPUTS = ("Ok.", "Done.", "N/A", "Yes", "{}", "See above.", "thx", ".")


@dataclass
class SynthDataset:
    files: dict[str, bytes]
    stats: dict[str, Any]
    drafts: list[Draft] = field(default_factory=list)  # every record, for tests


def _mojibake(d: Draft, rng: random.Random) -> bool:
    text = d.fields["output"]
    if text.isascii():
        return False
    try:
        broken = text.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:
        return False
    if _CHECK(broken)[0] != text:
        return False
    d.fields["output"] = broken
    return True


def _mojibake_lossy(d: Draft, rng: random.Random) -> bool:
    text = d.fields["output"]
    if text.isascii():
        return False
    d.fields["output"] = "".join("\ufffd" if not ch.isascii() else ch for ch in text)
    return True


def _html_entities(d: Draft, rng: random.Random) -> bool:
    text = d.fields["input"]
    if "'" not in text and "&" not in text:
        return False
    broken = (
        "<p>"
        + text.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace('"', "&quot;")
        .replace("\n", "<br>")
        + "</p>"
    )
    if _CHECK(broken)[0] != text:
        return False
    d.fields["input"] = broken
    return True


def _html_markup(d: Draft, rng: random.Random) -> bool:
    # Word/Outlook export residue that no formatting-tag rule should "repair"; appended, so
    # the gold offsets still hold.
    d.fields["output"] += rng.choice(
        (
            "<o:p>&nbsp;</o:p>\n<!--[if !supportLists]-->",
            "<xml><o:OfficeDocumentSettings><o:AllowPNG/></o:OfficeDocumentSettings></xml>",
            "<o:p></o:p><![endif]-->",
        )
    )
    return True


def _empty_output(d: Draft, rng: random.Random) -> bool:
    d.fields["output"] = ""
    d.spans.pop("output", None)
    return True


def _short_output(d: Draft, rng: random.Random) -> bool:
    d.fields["output"] = rng.choice(SHORT_OUTPUTS)
    d.spans.pop("output", None)
    return True


def _over_long(d: Draft, rng: random.Random) -> bool:
    rows = [
        f"{h:02d}:{m:02d}  BP {rng.randint(95, 170)}/{rng.randint(55, 100)}  "
        f"HR {rng.randint(55, 120)}  SpO2 {rng.randint(88, 100)}%  pain {rng.randint(0, 10)}/10"
        for h in range(24)
        for m in range(0, 60, 2)
    ]
    pasted = "\n\nFlowsheet (every 4 min):\n" + "\n".join(rows[::2])
    d.fields["input"] += pasted.upper() if d.meta.get("all_caps") else pasted
    return True


def near_duplicate(d: Draft, rng: random.Random) -> Draft:
    """Copy with one word swapped for a synonym and/or a short tail added; spans follow."""
    c = d.copy()
    text, spans = c.fields["input"], c.spans.get("input", [])
    taken = [(s.start, s.end) for s in spans]
    cands = []
    for word, repl in NEAR_DUP_SWAPS.items():
        for m in re.finditer(rf"\b{re.escape(word)}\b", text, flags=re.I):
            if not any(a < m.end() and m.start() < b for a, b in taken):
                cands.append((m.start(), m.end(), repl))
    if cands:
        start, end, repl = rng.choice(sorted(cands))
        if text[start:end].isupper():
            repl = repl.upper()
        text = text[:start] + repl + text[end:]
        spans = shift_spans(spans, end, len(repl) - (end - start))
    if not cands or rng.random() < 0.4:
        tail = rng.choice(NEAR_DUP_TAILS)
        text += tail.upper() if c.meta.get("all_caps") else tail
    c.fields["input"] = text
    c.spans["input"] = spans
    return c


IN_PLACE = {  # defect -> (function, families it applies to, expected outcome)
    "mojibake": (_mojibake, ("support_reply",), REPAIR),
    "html_entities": (_html_entities, ("support_reply",), REPAIR),
    "mojibake_lossy": (_mojibake_lossy, ("support_reply",), DROP),
    "html_markup": (_html_markup, ("support_reply", "clinical_extraction"), DROP),
    "empty_output": (_empty_output, ("support_reply", "clinical_extraction"), DROP),
    "short_output": (_short_output, ("support_reply", "clinical_extraction"), DROP),
    "over_long": (_over_long, ("clinical_extraction",), DROP),
    "non_english": (None, ("support_reply",), DROP),
}


def generate(cfg: SynthConfig) -> SynthDataset:
    """Build the default dataset in memory; see the module docstring."""
    base: list[Draft] = []
    bar = progress(total=cfg.n_clinical + cfg.n_support, desc="synth", unit=" rec", unit_scale=True)
    for i in range(cfg.n_clinical):
        rng = random.Random(f"{cfg.seed}:clinical:{i}")
        d = clinical_draft(
            rng,
            i,
            female_share=cfg.female_share,
            allcaps=rng.random() < cfg.allcaps_share,
            today=TODAY,
        )
        d.synth_id = f"c{i:06d}"
        base.append(d)
        bar.update(1)
    for i in range(cfg.n_support):
        rng = random.Random(f"{cfg.seed}:support:{i}")
        d = support_draft(
            rng, i, female_share=cfg.female_share, nonbinary_share=cfg.nonbinary_share, today=TODAY
        )
        d.synth_id = f"s{i:06d}"
        base.append(d)
        bar.update(1)
    bar.close()

    rng = random.Random(f"{cfg.seed}:defects")
    n_base = len(base)
    order = list(range(n_base))
    rng.shuffle(order)
    used: set[int] = set()
    planted: Counter[str] = Counter()
    rates = cfg.defects.model_dump()
    for defect, (fn, families, expect) in IN_PLACE.items():
        want = round(rates[defect] * n_base)
        for idx in order:
            if planted[defect] >= want:
                break
            d = base[idx]
            if idx in used or d.family not in families:
                continue
            if defect == "non_english":
                f = foreign_draft(rng, d, TODAY)
                d.fields, d.spans = f.fields, f.spans
            elif not fn(d, rng):
                continue
            used.add(idx)
            planted[defect] += 1
            d.labels.append({"defect": defect, "expect": expect})

    clean_pool = [i for i in order if i not in used]
    extra: list[Draft] = []
    n_exact = round(rates["exact_duplicate"] * n_base)
    n_near = round(rates["near_duplicate"] * n_base)
    originals = clean_pool[: n_exact + n_near]
    for k, idx in enumerate(originals):
        src = base[idx]
        if k < n_exact:
            c, defect = src.copy(), "exact_duplicate"
        else:
            c, defect = near_duplicate(src, rng), "near_duplicate"
        c.synth_id = f"{'x' if defect == 'exact_duplicate' else 'n'}{k:06d}"
        c.labels.append({"defect": defect, "expect": DROP, "of": src.synth_id})
        planted[defect] += 1
        extra.append(c)

    records = list(base)
    for c in extra:  # scatter copies through the data, as real duplicates are
        records.insert(rng.randrange(len(records) + 1), c)
    for d in records:
        d.meta["synth_id"] = d.synth_id

    clinical = [d for d in records if d.family == "clinical_extraction"]
    support = [d for d in records if d.family == "support_reply"]
    legacy_ids = {d.synth_id for d in support if rng.random() < cfg.legacy_share}
    chat = [d for d in support if d.synth_id not in legacy_ids]
    legacy = [d for d in support if d.synth_id in legacy_ids]

    files: dict[str, bytes] = {}
    files[CLINICAL_FILE] = _jsonl(
        {
            "instruction": d.fields["instruction"],
            "input": d.fields["input"],
            "output": d.fields["output"],
            "meta": d.meta,
        }
        for d in clinical
    )
    files[CHAT_FILE] = _chat_parquet(chat)
    legacy_lines, malformed = _legacy_lines(legacy, cfg.malformed_lines, rng)
    files[LEGACY_FILE] = b"".join(legacy_lines)

    # ~10 gold spans a record: written line by line, never held as dicts (at 200k records
    # two million span dicts took about a gigabyte)
    spans_buf, spans_by_type = io.BytesIO(), Counter()
    labels_rows = []
    for d in records:
        for fld in ("instruction", "input", "output"):
            for s in d.spans.get(fld, []):
                row = {
                    "synth_id": d.synth_id,
                    "field": fld,
                    "start": s.start,
                    "end": s.end,
                    "entity_type": s.entity_type,
                }
                spans_buf.write(_jsonl([row]))
                spans_by_type[s.entity_type] += 1
        for lab in d.labels:
            labels_rows.append({"synth_id": d.synth_id, **lab})
    labels_rows.extend(malformed)
    files[SPANS_FILE] = spans_buf.getvalue()
    del spans_buf
    files[LABELS_FILE] = _jsonl(labels_rows)
    stats = _stats(
        records,
        planted,
        malformed,
        spans_by_type,
        n_base,
        {CLINICAL_FILE: len(clinical), CHAT_FILE: len(chat), LEGACY_FILE: len(legacy)},
    )
    stats["files_sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in sorted(files.items())}
    files[MANIFEST_FILE] = (
        json.dumps(
            {"params": cfg.model_dump(exclude={"enabled"}), **stats}, indent=2, sort_keys=True
        )
        + "\n"
    ).encode()
    return SynthDataset(files=files, stats=stats, drafts=records)


def _jsonl(rows: Any) -> bytes:
    # bytes per line, joined once: no whole-file str beside its encoded copy
    return b"".join(
        (json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8") for r in rows
    )


def _chat_parquet(drafts: list[Draft]) -> bytes:
    msg_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    meta_keys = sorted({k for d in drafts for k in d.meta})
    cols: dict[str, list[Any]] = {
        "messages": [
            [
                {"role": "system", "content": d.fields["instruction"]},
                {"role": "user", "content": d.fields["input"]},
                {"role": "assistant", "content": d.fields["output"]},
            ]
            for d in drafts
        ]
    }
    for k in meta_keys:
        cols[k] = [d.meta.get(k) for d in drafts]
    table = pa.table(
        {
            "messages": pa.array(cols["messages"], type=msg_type),
            **{k: pa.array(cols[k], type=pa.string()) for k in meta_keys},
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


MALFORMED_KINDS = ("malformed_json", "not_an_object", "wrong_type", "missing_field", "invalid_utf8")


def _legacy_lines(
    drafts: list[Draft], n_bad: int, rng: random.Random
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Dolly-shaped lines, with ``n_bad`` broken copies of some of them scattered in."""

    def row(d: Draft) -> dict[str, Any]:
        meta = {k: v for k, v in d.meta.items() if k != "category"}
        return {
            "instruction": d.fields["instruction"],
            "context": d.fields["input"],
            "response": d.fields["output"],
            "category": d.meta["category"],
            "meta": meta,
        }

    lines = [
        json.dumps(row(d), ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        for d in drafts
    ]
    bad: list[tuple[int, bytes, str]] = []
    for k in range(n_bad if drafts else 0):
        kind = MALFORMED_KINDS[k % len(MALFORMED_KINDS)]
        r = row(rng.choice(drafts))
        r["meta"] = {**r["meta"], "synth_id": f"m{k:06d}"}
        text = json.dumps(r, ensure_ascii=False, sort_keys=True)
        if kind == "malformed_json":
            raw = text[: len(text) // 2].encode("utf-8")
        elif kind == "not_an_object":
            raw = json.dumps([r], ensure_ascii=False, sort_keys=True).encode("utf-8")
        elif kind == "wrong_type":
            raw = json.dumps({**r, "response": rng.randint(1, 999)}, sort_keys=True).encode("utf-8")
        elif kind == "missing_field":
            raw = json.dumps(
                {k2: v for k2, v in r.items() if k2 != "response"}, sort_keys=True
            ).encode("utf-8")
        else:  # a line saved as Windows-1252 by some export tool
            r["response"] += " Merci, café compris."
            raw = json.dumps(r, ensure_ascii=False, sort_keys=True).encode(
                "cp1252", errors="replace"
            )
        bad.append((rng.randrange(len(lines) + 1), raw + b"\n", kind))
    for pos, raw, _ in bad:
        lines.insert(pos, raw)
    labels = []
    bad_lines = {raw: kind for _, raw, kind in bad}
    for n, line in enumerate(lines, start=1):
        kind = bad_lines.get(line)
        if kind:
            labels.append({"file": LEGACY_FILE, "line": n, "defect": kind, "expect": QUARANTINE})
    return lines, labels


def _stats(
    records: list[Draft],
    planted: Counter[str],
    malformed: list[dict[str, Any]],
    spans_by_type: Counter[str],
    n_base: int,
    per_file: dict[str, int],
) -> dict[str, Any]:
    n = len(records)
    fam = Counter(d.family for d in records)
    gender = Counter(d.meta["gender"] for d in records)
    band = Counter(d.meta["age_band"] for d in records)
    res = defaultdict(Counter)
    reply_len: dict[str, list[int]] = defaultdict(list)
    for d in records:
        if d.family == "support_reply" and not d.labels:
            res[d.meta["gender"]][d.meta["resolution"]] += 1
            reply_len[d.meta["age_band"]].append(len(d.fields["output"]))
    return {
        "records": n,
        "base_records": n_base,
        "records_per_file": per_file,
        "family_share": {k: round(v / n, 4) for k, v in sorted(fam.items())},
        "gender_share": {k: round(v / n, 4) for k, v in sorted(gender.items())},
        "age_band_share": {k: round(v / n, 4) for k, v in sorted(band.items())},
        "defects": dict(sorted(planted.items())),
        "defect_rate": {k: round(v / n, 4) for k, v in sorted(planted.items())},
        "malformed_lines": len(malformed),
        "pii_spans": sum(spans_by_type.values()),
        "pii_spans_by_type": dict(sorted(spans_by_type.items())),
        "support_refund_rate_by_gender": {
            g: round(c["refund"] / max(1, sum(c.values())), 4) for g, c in sorted(res.items())
        },
        "support_declined_rate_by_gender": {
            g: round(c["declined"] / max(1, sum(c.values())), 4) for g, c in sorted(res.items())
        },
        "support_mean_reply_chars_by_age_band": {
            b: round(sum(v) / len(v), 1) for b, v in sorted(reply_len.items())
        },
    }


def with_total(cfg: SynthConfig, n: int) -> SynthConfig:
    """``cfg`` resized to ``n`` base records in all (``provena synth -n``): half of them clinical
    (rounded down), the rest support replies."""
    return cfg.model_copy(update={"n_clinical": n // 2, "n_support": n - n // 2})


def write_dataset(ds: SynthDataset, out_dir: str | Path, metrics: str | Path | None = None) -> None:
    """Write the files atomically; stale files from an earlier run are removed first."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for rel, content in sorted(ds.files.items()):
        with atomic_open(out_dir / rel, "wb") as fh:
            fh.write(content)
    if metrics is not None:
        write_json(metrics, stage_metrics("synth", **ds.stats))


def write_disabled(out_dir: str | Path, metrics: str | Path | None = None) -> None:
    """``synth.enabled: false``: leave ``out_dir`` empty (anything from an earlier run is
    removed, so ingest cannot read a stale default dataset), write no gold labels, and say so
    in the metrics."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if metrics is not None:
        write_json(
            metrics,
            stage_metrics("synth", enabled=False, records=0, files=0, gold_status=NO_GOLD),
        )
