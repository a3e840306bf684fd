"""augment: children answer the audit's findings, keep their parent's id, respect the cap and
sex-specific diagnoses; the after-audit passes where the before-audit failed; sign-offs."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest

from provena import audit_data, augment, signoff
from provena.cli import main as cli_main
from provena.config import AuditDataConfig, AugmentConfig
from provena.errors import UserError
from provena.io import RecordWriter, read_jsonl
from tests.factory import record

ACFG = AuditDataConfig.model_validate(
    {
        **AuditDataConfig().model_dump(),
        "bootstrap": 0,
        "min_group_size": 20,
        "intersections": [],
        "reference": {"gender": {"female": 0.495, "male": 0.495, "nonbinary": 0.01}},
        "reference_source": {},  # the defaults' sources name references this one leaves out
    }
)
FIRST = {"female": ["Anna", "Maria", "Linda", "Susan"], "male": ["James", "Robert", "David"]}


def _records(n: int = 1200, seed: int = 5):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gender = "female" if rng.random() < 0.25 else "male"
        band = rng.choice(["18-29", "30-44", "45-64", "65+"])
        refund = rng.random() < (0.25 if gender == "female" else 0.45)
        name = rng.choice(FIRST[gender])
        long = " We have also added a note to your account for you."
        if band == "65+" and rng.random() < 0.6:
            long = ""
        out.append(
            record(
                source="t",
                instruction="Reply to the customer.",
                input=f"Hi, order {i} never came. {'She' if gender == 'female' else 'He'} "
                f"waited a week.\n\nThanks,\n{name} Smith",
                output=f"Dear {name},\n\nSorry about order {i}. "
                + ("We refunded it." if refund else "We will look into it.")
                + long,
                meta={
                    "family": "support_reply",
                    "gender": gender,
                    "age_band": band,
                    "resolution": "refund" if refund else "other",
                },
            )
        )
    return out


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aug")
    inp = tmp / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(_records())
    before = audit_data.run(inp, ACFG, when="before", out_json=tmp / "before.json")
    cfg = AugmentConfig(entity_swap_rate=0.02, noise_rate=0.02, max_new_share=3.0)
    res = augment.run(
        inp, tmp / "before.json", cfg, ACFG, out=tmp / "out.parquet", ledger=tmp / "l.jsonl"
    )
    after = audit_data.run(tmp / "out.parquet", ACFG, when="after", out_json=tmp / "after.json")
    return tmp, before, res, after


def test_the_after_audit_fails_no_check_where_the_before_audit_failed(augmented):
    _, before, res, after = augmented
    assert before["verdict"] == "fail"
    # no check fails after augmentation; one whose interval still crosses its threshold on this
    # small data is inconclusive, never hidden
    assert after["verdict"] in ("pass", "inconclusive"), [f["text"] for f in after["findings"]]
    assert not [f for f in after["findings"] if f["verdict"] == "fail"]
    assert after["verdict_scope"] == "training distribution"
    assert after["original_records"]["verdict"] == "fail"  # the records augment was given
    assert res["added_by_op"]["counterfactual:gender=female"] > 100
    assert res["added_by_op"]["counterfactual:age_band=65+"] > 0


def test_default_shaped_children_resemble_their_parents(augmented):
    _, _, res, _ = augmented
    rep = res["resemblance"]
    assert rep["verdict"] == "pass", rep
    assert set(rep["groups"]) >= {"gender=female", "age_band=65+"}
    for g in rep["groups"].values():
        for fam in g["families"].values():
            if fam["verdict"] == "too_small":
                continue
            for st in fam["lengths"].values():
                assert st["distance_parents"] <= rep["tolerance"]["max_length_distance"]
                assert st["distance_pool"] <= rep["tolerance"]["max_length_distance"]


def test_children_keep_their_parent_id_and_say_what_made_them(augmented):
    tmp, _, res, _ = augmented
    rows = pq.read_table(tmp / "out.parquet").to_pylist()
    ids = {r["id"] for r in rows if r["parent_id"] is None}
    kids = [r for r in rows if r["parent_id"] is not None]
    assert len(kids) == res["records_added"] and len(rows) == res["records_out"]
    assert all(k["parent_id"] in ids and k["op"] for k in kids)
    ledger = list(read_jsonl(tmp / "l.jsonl"))
    assert {(e["id"], e["parent_id"], e["rule"]) for e in ledger} == {
        (k["id"], k["parent_id"], k["op"]) for k in kids
    }
    assert all(e["reason"] for e in ledger)
    parents = {r["id"]: r for r in rows}
    assert any(k["op"] == "counterfactual:gender=female" for k in kids)
    for k in kids:
        if k["op"] == "counterfactual:gender=female":
            p = parents[k["parent_id"]]
            assert json.loads(p["meta"])["gender"] == "male"
            assert json.loads(k["meta"])["gender"] == "female"
            # "He" becomes "She" and the man's name a woman's, the same in the message and the
            # reply; nothing else changes
            name = p["output"].split(",")[0].removeprefix("Dear ")
            first = k["output"].split(",")[0].removeprefix("Dear ")
            assert name in FIRST["male"] and first not in FIRST["male"]
            assert k["input"] == p["input"].replace(" He ", " She ").replace(
                f"\n{name} Smith", f"\n{first} Smith"
            )
            assert k["output"] == p["output"].replace(f"Dear {name},", f"Dear {first},")


def test_the_cap_bounds_new_records(tmp_path):
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(_records(200))
    audit_data.run(inp, ACFG, when="before", out_json=tmp_path / "b.json")
    cfg = AugmentConfig(max_new_share=0.1)
    res = augment.run(
        inp, tmp_path / "b.json", cfg, ACFG, out=tmp_path / "o.parquet", ledger=tmp_path / "l.jsonl"
    )
    assert res["records_added"] <= 20


def test_no_counterfactual_when_the_audit_passed(tmp_path):
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(_records(200))
    lenient = ACFG.model_copy(
        update={
            "min_representation_ratio": 0.1,
            "min_outcome_ratio": 0.1,
            "reference": {"gender": {"female": 0.5, "male": 0.5}},
        }
    )
    audit_data.run(inp, lenient, when="before", out_json=tmp_path / "b.json")
    res = augment.run(
        inp,
        tmp_path / "b.json",
        AugmentConfig(),
        lenient,
        out=tmp_path / "o.parquet",
        ledger=tmp_path / "l.jsonl",
    )
    assert not [op for op in res["added_by_op"] if op.startswith("counterfactual")]


def test_sex_specific_notes_never_change_sex():
    note = record(
        source="t",
        instruction="Code it.",
        input="He has BPH.",
        output='{"age": 70, "sex": "male", "icd10": ["N40.0"]}',
    )
    plain = record(
        source="t",
        instruction="Code it.",
        input="He has a cough.",
        output='{"age": 70, "sex": "male", "icd10": ["J20.9"]}',
    )
    assert not augment._swap_ok(note) and augment._swap_ok(plain)


def test_quotas_match_the_target_distribution():
    q = augment.quotas(
        Counter({"refund": 15, "other": 85}), {"refund": 0.5, "other": 0.5}, 100, 100
    )
    assert q == Counter({"refund": 85, "other": 15})  # 100 + 100 records at 50/50
    assert sum(augment.quotas(Counter(), {"a": 0.3, "b": 0.7}, 0, 7).values()) == 7


def test_augment_is_deterministic(tmp_path):
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(_records(200))
    audit_data.run(inp, ACFG, when="before", out_json=tmp_path / "b.json")
    for out in ("o1", "o2"):
        augment.run(
            inp,
            tmp_path / "b.json",
            AugmentConfig(),
            ACFG,
            out=tmp_path / f"{out}.parquet",
            ledger=tmp_path / f"{out}.jsonl",
        )
    assert (tmp_path / "o1.parquet").read_bytes() == (tmp_path / "o2.parquet").read_bytes()


# ------------------------------------------------------------------------------- sign-off


def test_signoff_is_bound_to_the_report_content(tmp_path):
    report = tmp_path / "audits" / "audit_after.json"
    report.parent.mkdir()
    report.write_text('{"verdict": "pass"}\n')
    assert not signoff.status(report, tmp_path)["valid"]
    entry = signoff.sign(report, "Dana Lee", "Read the after-audit; approved", tmp_path)
    assert entry["report"] == "audits/audit_after.json" and len(entry["sha256"]) == 64
    st = signoff.status(report, tmp_path)
    assert st["valid"] and st["signoffs"][0]["reviewer"] == "Dana Lee"
    report.write_text('{"verdict": "pass", "edited": true}\n')
    st = signoff.status(report, tmp_path)
    assert not st["valid"] and "changed after its last sign-off by Dana Lee" in st["reason"]
    saved = json.loads((tmp_path / "audits/signoffs/audit_after.json.json").read_text())
    assert len(saved["signoffs"]) == 1  # the old sign-off stays on record


def test_signoff_errors_are_clear(tmp_path):
    with pytest.raises(UserError, match="no such report"):
        signoff.sign(tmp_path / "none.json", "A", "B", tmp_path)
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(UserError, match="--reviewer"):
        signoff.sign(tmp_path / "r.json", " ", "B", tmp_path)
    with pytest.raises(UserError, match="--note"):
        signoff.sign(tmp_path / "r.json", "A", "", tmp_path)


def test_signoff_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("{}")
    assert cli_main(["signoff", "r.json", "--check"]) == 1
    assert cli_main(["signoff", "r.json", "--reviewer", "Sam", "--note", "ok"]) == 0
    assert cli_main(["signoff", "r.json", "--check"]) == 0
    assert "signed off by Sam" in capsys.readouterr().out


def test_a_not_judged_audit_is_nothing_to_mitigate(tmp_path):
    """Ten records carry a gender (fewer than min_group_size) and none an age band: the audit
    judges nothing, and augment makes no counterfactual child from those ten."""
    recs = _records(200)
    for i, r in enumerate(recs):
        r["meta"].pop("age_band")
        if i >= 10:
            r["meta"].pop("gender")
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(recs)
    cfg = ACFG.model_copy(update={"infer_missing": []})
    before = audit_data.run(inp, cfg, when="before", out_json=tmp_path / "b.json")
    assert before["verdict"] == "not_judged"
    assert before["attribute_counts"]["gender"]["recorded"] == 10
    res = augment.run(
        inp,
        tmp_path / "b.json",
        AugmentConfig(),
        cfg,
        out=tmp_path / "o.parquet",
        ledger=tmp_path / "l.jsonl",
    )
    assert not [op for op in res["added_by_op"] if op.startswith("counterfactual")]
