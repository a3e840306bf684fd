"""Deduplication and the clean stage: crafted clusters, datasketch equivalence, the books."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash

from provena import clean, dedup
from provena.cli import main as cli_main
from provena.config import DedupConfig
from provena.dedup import Deduplicator, MinHasher, shingles
from provena.io import read_jsonl
from provena.normalize import normalize_for_match, words_for_match
from tests.conftest import tiny_ingested, write_jsonl

A = (
    "The patient is a 54 year old woman who presents with three days of productive cough, "
    "low grade fever and fatigue. She denies chest pain. Lungs show scattered crackles at the "
    "right base. Chest film confirms a right lower lobe infiltrate. Plan is oral antibiotics "
    "and follow up in one week."
)
A_ONE_WORD = A.replace("scattered", "coarse")
_S = A.removesuffix(".").split(". ")
A_REORDERED = ". ".join(_S[3:] + _S[:3]) + "."  # the same sentences, in another order
A_CASE = "  " + A.upper().replace(" ", "   ")
B = (
    "Thanks for reaching out about your subscription. I have cancelled the renewal that was "
    "due next month and refunded the last charge to your original card. You will see the "
    "credit within five business days, and your account stays active until the end of the "
    "current billing period."
)
B_ONE_WORD = B.replace("cancelled", "stopped")
C = "An unrelated short note about the weather being pleasant on the coast this weekend, sunny."


def run(texts, **cfg):
    dd = Deduplicator(DedupConfig(**cfg))
    dd.add(list(range(len(texts))), texts)
    return dd.clusters()


def survivors(texts, **cfg):
    gone = {r for c in run(texts, **cfg) for r in c.members if r != c.kept}
    return [i for i in range(len(texts)) if i not in gone]


def test_crafted_clusters_keep_one_record_each():
    texts = [A, B, A, A_ONE_WORD, C, A_REORDERED, B_ONE_WORD, A_CASE]
    clusters = {c.kept: c for c in run(texts)}
    assert survivors(texts) == [0, 1, 4]
    a, b = clusters[0], clusters[1]
    assert a.members == [0, 2, 3, 5, 7] and b.members == [1, 6]
    assert a.exact == {2, 7}  # identical, and identical after case/whitespace normalization
    assert a.similarity[2] == a.similarity[7] == 1.0
    for row in (3, 5):
        assert 0.7 <= a.similarity[row] < 1.0
    assert 4 not in clusters and all(4 not in c.members for c in clusters.values())


def test_unrelated_records_all_survive():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(300)]
    assert survivors(texts) == list(range(300))


def test_keep_rule_first_or_longest():
    texts = [A, A + " Return sooner if symptoms worsen.", A_ONE_WORD]
    assert survivors(texts, keep="first") == [0]
    assert survivors(texts, keep="longest") == [1]


def test_exact_only_and_near_only():
    texts = [A, A, A_ONE_WORD]
    assert survivors(texts, near=False) == [0, 2]
    only_near = run(texts, exact=False)
    assert survivors(texts, exact=False) == [0] and only_near[0].exact == set()


def test_a_stricter_threshold_keeps_the_one_word_edit():
    texts = [A, A_ONE_WORD]
    assert survivors(texts, threshold=0.7) == [0]
    assert survivors(texts, threshold=0.95) == [0, 1]


def test_rows_in_several_batches_cluster_across_batches():
    dd = Deduplicator(DedupConfig())
    dd.add([0, 1], [A, B])
    dd.add([2, 3], [C, A_ONE_WORD])
    assert [(c.kept, c.members) for c in dd.clusters()] == [(0, [0, 3])]


def test_signatures_are_datasketch_minhash_bit_for_bit():
    rng = random.Random(1)
    docs = [shingles(" ".join(rng.choice("abcdefghij") for _ in range(n)), 3) for n in range(40)]
    docs.append([])
    for num_perm, seed in ((128, 1), (64, 7)):
        ours = MinHasher(num_perm, seed).signatures(docs)
        for doc, sig in zip(docs, ours, strict=True):
            m = MinHash(num_perm=num_perm, seed=seed)
            m.update_batch(doc)
            np.testing.assert_array_equal(sig, m.hashvalues)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_word_signatures_equal_shingle_signatures_and_datasketch(n, monkeypatch):
    """The word-id path (Deduplicator's) gives datasketch's values: repeated and shared
    shingles, documents shorter than n, an empty one, documents spread over several blocks."""
    monkeypatch.setattr(dedup, "_BLOCK_SHINGLES", 16)  # many blocks, and documents larger
    rng = random.Random(n)
    vocab = ["a", "b", "c", "ä", "d€", "e"]
    texts = [" ".join(rng.choice(vocab) for _ in range(k)) for k in (0, 1, 2, 4, 7, 30, 3, 0, 50)]
    texts += [A, A_ONE_WORD, "a b", "a b", "b a"]
    # a short document's words, then the next one's, make a window of a later document
    texts += ["a b", "c d e f g", "a b c d e f g"]
    hasher = MinHasher(64, 3)
    docs = [shingles(t, n, normalized=True) for t in texts]
    ours = hasher.word_signatures([t.split() for t in texts], n)
    np.testing.assert_array_equal(ours, hasher.signatures(docs))
    for doc, sig in zip(docs, ours, strict=True):
        m = MinHash(num_perm=64, seed=3)
        m.update_batch(doc)
        np.testing.assert_array_equal(sig, m.hashvalues)


def test_word_signatures_rank_keys_when_words_do_not_fit_one_int64():
    """Long shingles: a key holds as many word ids as fit in an int64, then is ranked. 255
    words make the radix 256, so keys that were not ranked would wrap and lose the first
    word: two 12-grams differing only in it would share a hash."""
    words = [f"w{i}" for i in range(255)]
    tail = " ".join(words[1:12])
    texts = [" ".join(words), f"w0 {tail}", f"w200 {tail}", f"w7 {tail} w9"]
    hasher = MinHasher(32, 1)
    docs = [shingles(t, 12, normalized=True) for t in texts]
    ours = hasher.word_signatures([t.split() for t in texts], 12)
    np.testing.assert_array_equal(ours, hasher.signatures(docs))
    assert not np.array_equal(ours[1], ours[2])


def test_words_for_match_are_the_words_of_normalize_for_match():
    """Deduplicator splits a text once: its words, joined by spaces, are the exact-match form."""
    for text in ["", "  \n\t ", A_CASE, "Ｆｕｌｌ\u00a0WIDTH\u2003 ﬁne\n\nStraße  x", A]:
        words = words_for_match(text)
        assert " ".join(words) == normalize_for_match(text)
        assert words == normalize_for_match(text).split()
    assert words_for_match("Ｆｕｌｌ\u00a0WIDTH\u2003 ﬁne Straße") == [
        "full",
        "width",
        "fine",
        "strasse",
    ]


def _mutated_corpus(n: int, seed: int) -> list[str]:
    """Variants of a few base texts, each with some words replaced: pairs at every similarity."""
    rng = random.Random(seed)
    bases = [A, B, C * 3]
    out = []
    for _ in range(n):
        words = rng.choice(bases).split()
        for _ in range(rng.randrange(0, 12)):
            words[rng.randrange(len(words))] = rng.choice(["alpha", "beta", "gamma", "delta"])
        out.append(" ".join(words))
    return out


@pytest.mark.parametrize("listed", [True, False], ids=["pairs-as-arrays", "doc-by-doc"])
@pytest.mark.parametrize(("num_perm", "bands", "rows"), [(128, 14, 9), (64, 16, 4), (32, 4, 8)])
def test_lsh_candidates_are_datasketch_minhashlsh_candidates(
    num_perm, bands, rows, listed, monkeypatch
):
    from datasketch import MinHashLSH

    if not listed:  # too many pairs to list at once: found document by document
        monkeypatch.setattr(dedup, "_MAX_PAIRS", 0)

    texts = _mutated_corpus(300, seed=bands)
    cfg = DedupConfig(num_perm=num_perm, bands=bands, rows=rows, exact=False)
    dd = Deduplicator(cfg)
    for start in range(0, len(texts), 70):  # several blocks, as the stages add them
        dd.add(range(start, min(start + 70, len(texts))), texts[start : start + 70])
    ours = {(i, int(j)) for i, js in dd.candidate_pairs() for j in js}
    lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))
    sigs = dd._sigs
    for k, sig in enumerate(sigs):
        lsh.insert(k, dd.hasher.lean(sig))
    theirs = {(k, j) for k, sig in enumerate(sigs) for j in lsh.query(dd.hasher.lean(sig)) if j > k}
    assert ours == theirs and len(ours) > 100
    # and the pairs kept are those whose estimated Jaccard reaches the threshold
    pairs = {(a, b): s for a, b, s in dd.near_pairs()}
    for a, b in theirs:
        sim = dd.hasher.lean(sigs[a]).jaccard(dd.hasher.lean(sigs[b]))
        assert ((a, b) in pairs) == (sim >= cfg.threshold)
        if (a, b) in pairs:
            assert pairs[(a, b)] == sim


def test_bands_and_rows_from_params_or_from_the_threshold():
    assert Deduplicator(DedupConfig(bands=16, rows=8)).bands == 16
    auto = Deduplicator(DedupConfig(threshold=0.7))
    assert auto.bands * auto.rows <= 128 and auto.bands > 1
    with pytest.raises(ValueError, match="exceeds num_perm"):
        DedupConfig(bands=20, rows=8)
    with pytest.raises(ValueError, match="both bands and rows"):
        DedupConfig(bands=20)


# ------------------------------------------------------------------------------ the stage


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory, tiny_params):
    tmp = tmp_path_factory.mktemp("clean")
    inp = tiny_ingested(tmp)
    paths = {k: tmp / f"clean.{k}" for k in ("parquet", "ledger", "quarantine", "metrics")}
    report = clean.run(
        inp,
        tiny_params.clean,
        out=paths["parquet"],
        ledger=paths["ledger"],
        quarantine=paths["quarantine"],
        metrics=paths["metrics"],
        report_json=tmp / "report.json",
        report_html=tmp / "report.html",
        labels=[tmp / "raw/default/_gold/labels.jsonl"],
    )
    return tmp, inp, paths, report


def test_stage_conserves_records(cleaned):
    _, inp, paths, _ = cleaned
    n_in = pq.ParquetFile(inp).metadata.num_rows
    kept = pq.read_table(paths["parquet"]).num_rows
    quarantined = list(read_jsonl(paths["quarantine"]))
    ledger = list(read_jsonl(paths["ledger"]))
    metrics = json.loads(paths["metrics"].read_text())
    assert n_in == kept + len(quarantined) == metrics["records_in"]
    assert metrics["records_kept"] == kept and len(ledger) == len(quarantined)
    assert sum(metrics["quarantined_by_rule"].values()) == len(quarantined)
    assert all(q["rule"] and q["reason"] and q["record"]["id"] == q["id"] for q in quarantined)


def test_ledger_names_each_duplicates_cluster_and_the_record_kept(cleaned):
    _, inp, paths, _ = cleaned
    rows = pq.read_table(inp).to_pylist()
    kept_ids = set(pq.read_table(paths["parquet"]).column("id").to_pylist())
    dups = [e for e in read_jsonl(paths["ledger"]) if e["rule"].endswith("_duplicate")]
    assert dups, "the tiny dataset has planted duplicates"
    for e in dups:
        assert e["kept_id"] in kept_ids and e["cluster"] == e["kept_id"]
        assert rows[e["kept_row"]]["id"] == e["kept_id"] and e["kept_row"] != e["row"]
        if e["rule"] == "exact_duplicate":
            assert e["similarity"] == 1.0
        assert e["cluster_size"] >= 2


def test_stage_finds_the_planted_defects(cleaned):
    tmp, _, paths, report = cleaned
    gold = report["gold_evaluation"]
    assert gold["labelled_records"] > 20
    assert gold["recall"] >= 0.95 and gold["precision"] >= 0.95
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["gold_recall"] == gold["recall"]
    html = (tmp / "report.html").read_text()
    assert "Duplicate clusters" in html and str(report["books"]["records_kept"]) in html
    assert report["largest_clusters"] and report["largest_clusters"][0]["size"] >= 2


def test_scoring_credits_either_member_of_a_planted_pair(tmp_path):
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"synth_id": "x1", "defect": "exact_duplicate", "expect": "drop:clean", "of": "c1"},
            {"synth_id": "e1", "defect": "empty_output", "expect": "drop:clean"},
            {"synth_id": "m1", "defect": "mojibake", "expect": "repair:ingest"},
        ],
    )
    gold_of = {0: "c1", 1: "x1", 2: "e1", 3: "c2", 4: "m1"}
    drop = clean.Drop("exact_duplicate", "same")
    p = clean.Plan(5, {0: drop}, [], ["a"] * 5, {}, [])  # the original dropped, copy kept
    g = clean.score_against_labels(p, gold_of, [labels])
    assert (g["dropped_correctly"], g["labelled_records"], g["false_positives"]) == (1, 2, 0)
    p.drops.update({2: clean.Drop("empty_output", "empty"), 3: clean.Drop("markup", "x")})
    g = clean.score_against_labels(p, gold_of, [labels])
    assert g["recall"] == 1.0 and g["false_positives"] == 1 and g["precision"] == 0.6667


def test_dedup_command_on_a_jsonl_file(tmp_path, capsys):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"text": t, "n": i} for i, t in enumerate([A, B, A_ONE_WORD, A, C])],
    )
    assert cli_main(["dedup", str(src), str(tmp_path / "out.jsonl"), "--fields", "text"]) == 0
    out = [r["n"] for r in read_jsonl(tmp_path / "out.jsonl")]
    dropped = list(read_jsonl(tmp_path / "out.dropped.jsonl"))
    assert out == [0, 1, 4]
    assert [(d["line"], d["kept_line"], d["rule"]) for d in dropped] == [
        (3, 1, "near_duplicate"),
        (4, 1, "exact_duplicate"),
    ]
    assert "2 rows dropped" in capsys.readouterr().out


def test_dedup_command_names_a_missing_column(tmp_path, caplog):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": A}])
    assert cli_main(["dedup", str(src), str(tmp_path / "o.jsonl"), "--fields", "body"]) == 2
    assert "no column 'body'" in caplog.text and "columns present: text" in caplog.text
