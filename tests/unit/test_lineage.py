"""provena trace / trained-on / bundle on a small fake project (trace on a real run is in
tests/pipeline/test_pipeline.py)."""

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from provena.cli import main
from provena.config import ScrubPiiConfig
from provena.io import RecordWriter, file_md5
from provena.ledger_key import key_check, ledger_hash
from provena.lineage import dir_md5, trace, trained_on
from provena.manifest import METADATA_KEY, sha256_file
from tests.factory import record

PARENT = record(
    source="raw/a.jsonl",
    instruction="Summarize the note.",
    input="Patient Alva Brennick reports chest pain.",
    output="Chest pain; refer to cardiology.",
    meta={"gender": "male"},
)
CHILD = record(
    source="raw/a.jsonl",
    instruction="Summarize the note.",
    input="Patient Alva Brennick reports chest pain (she).",
    output="Chest pain; refer to cardiology.",
    parent_id=PARENT["id"],
    op="counterfactual:gender=female",
)
OTHER = record(source="raw/a.jsonl", instruction="Say hi.", input="", output="Hello there, friend.")
ABSENT = record(source="raw/a.jsonl", instruction="Never seen.", input="", output="Nope.")


def _lock_item(root: Path, rel: str) -> dict:
    p = root / rel
    md5 = dir_md5(p) if p.is_dir() else file_md5(p)
    return {"path": rel, "hash": "md5", "md5": md5}


def _write_weights(adapter: Path, manifest: dict) -> None:
    from safetensors.numpy import save_file

    save_file(
        {"lora_B": np.zeros((2, 2), dtype=np.float32)},
        str(adapter / "adapter_model.safetensors"),
        metadata={METADATA_KEY: json.dumps(manifest, sort_keys=True), "format": "pt"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """raw/ -> (ingest) interim/ingest.parquet -> (split) processed/train.parquet -> adapter."""
    root = tmp_path
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "a.jsonl").write_text('{"instruction": "x"}\n')
    (root / "data" / "raw" / "sub").mkdir()
    (root / "data" / "raw" / "sub" / "b.jsonl").write_text('{"instruction": "y"}\n')
    for rel, recs in (
        ("data/interim/ingest.parquet", [PARENT, OTHER]),
        ("data/processed/train.parquet", [PARENT, CHILD, OTHER]),
    ):
        with RecordWriter(root / rel) as w:
            w.write(recs)
    (root / "params.yaml").write_text("split:\n  seed: 1  # why\n")
    (root / "metrics").mkdir()
    (root / "metrics" / "split.json").write_text('{"records": 3}\n')
    (root / "reports").mkdir()
    (root / "reports" / "validation_verdict.json").write_text('{"verdict": "pass"}\n')
    (root / "reports" / "page.html").write_text("<p>report</p>\n")
    (root / "audits" / "signoffs").mkdir(parents=True)
    (root / "audits" / "audit_after.json").write_text('{"verdict": "pass"}\n')
    (root / "audits" / "signoffs" / "audit_after.json.json").write_text("[]\n")
    (root / "stages").mkdir()
    (root / "stages" / "split.py").write_text("print('split')\n")
    lock = {
        "schema": "2.0",
        "stages": {
            "ingest": {
                "cmd": "python stages/ingest.py",
                "deps": [_lock_item(root, "data/raw")],
                "outs": [_lock_item(root, "data/interim/ingest.parquet")],
            },
            "split": {
                "cmd": "python stages/split.py",
                "deps": [
                    _lock_item(root, "stages/split.py"),
                    _lock_item(root, "data/interim/ingest.parquet"),
                ],
                "params": {"params.yaml": {"split": {"seed": 1}}},
                "outs": [
                    _lock_item(root, "data/processed/train.parquet"),
                    _lock_item(root, "metrics/split.json"),
                ],
            },
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    adapter = root / "models" / "adapter"
    adapter.mkdir(parents=True)
    train = root / "data" / "processed" / "train.parquet"
    manifest = {
        "kind": "provena.adapter_manifest",
        "version": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "split": {
            "train": {
                "path": "data/processed/train.parquet",
                "sha256": sha256_file(train),
                "md5": file_md5(train),
                "records": 3,
            }
        },
        "gate": {
            "checks": [
                {
                    "check": "validation",
                    "report": "reports/validation_verdict.json",
                    "sha256": sha256_file(root / "reports" / "validation_verdict.json"),
                    "verdict": "pass",
                }
            ]
        },
        "params_file": {"path": "params.yaml", "sha256": sha256_file(root / "params.yaml")},
        "git": {"commit": None, "dirty": None},
        "base_model": {"path": "models/base", "files": {}},
    }
    (adapter / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _write_weights(adapter, manifest)
    (adapter / "train_config.json").write_text("{}\n")
    (adapter / "adapter_config.json").write_text("{}\n")
    (adapter / "README.md").write_text("# peft's blank template\n")
    (root / "models" / "card").mkdir()
    (root / "models" / "card" / "README.md").write_text("---\nlibrary_name: peft\n---\n# card\n")
    (root / "models" / "card" / "card.json").write_text("{}\n")
    return root


def test_dir_md5_is_dvcs(tmp_path):
    tree_mod = pytest.importorskip("dvc_data.hashfile.tree")
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta

    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a\n")
    (tmp_path / "d" / "e" / "b.txt").write_text("b\n")
    tree = tree_mod.Tree()
    for rel in ("a.txt", "e/b.txt"):
        tree.add(tuple(rel.split("/")), Meta(), HashInfo("md5", file_md5(tmp_path / "d" / rel)))
    tree.digest()
    assert dir_md5(tmp_path / "d") == tree.hash_info.value


def test_trace_all_ok(project, capsys):
    t = trace(project / "models" / "adapter", root=project)
    assert t.ok, [e for e in t.problems]
    assert t.stages == ["split", "ingest"]  # adapter -> raw data
    paths = {e.path for e in t.entries}
    assert {"data/raw", "data/processed/train.parquet", "params.yaml:split"} <= paths
    assert "stages/split.py" not in paths  # code is checked with --code only
    assert main(["trace", str(project / "models" / "adapter"), "--root", str(project)]) == 0
    out = capsys.readouterr().out
    assert "stage ingest" in out and "data/raw" in out
    assert out.rstrip().endswith("entries match the files present")


def test_trace_detects_a_modified_split_file(project, capsys):
    with RecordWriter(project / "data" / "processed" / "train.parquet") as w:
        w.write([OTHER])
    t = trace(project / "models" / "adapter", root=project)
    changed = {(e.section, e.role, e.path) for e in t.problems}
    assert ("adapter", "split:train", "data/processed/train.parquet") in changed
    assert ("split", "out", "data/processed/train.parquet") in changed
    assert all(e.status == "CHANGED" for e in t.problems)
    assert main(["trace", str(project / "models" / "adapter"), "--root", str(project)]) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert "data/processed/train.parquet CHANGED" in last


def test_trace_names_a_missing_raw_file_and_changed_code(project):
    (project / "data" / "raw" / "sub" / "b.jsonl").unlink()
    (project / "stages" / "split.py").write_text("print('other')\n")
    t = trace(project / "models" / "adapter", root=project)
    assert {(e.path, e.status) for e in t.problems} == {("data/raw", "CHANGED")}
    t = trace(project / "models" / "adapter", root=project, code=True)
    assert ("stages/split.py", "CHANGED") in {(e.path, e.status) for e in t.problems}
    _write_weights(project / "models" / "adapter", {"kind": "another manifest"})
    t = trace(project / "models" / "adapter", root=project, code=True)
    (weights,) = [e for e in t.problems if e.role == "weights"]
    assert weights.note == "the manifest embedded in the weights differs from manifest.json"
    (project / "data" / "interim" / "ingest.parquet").unlink()
    t = trace(project / "models" / "adapter", root=project)
    assert ("data/interim/ingest.parquet", "MISSING") in {(e.path, e.status) for e in t.problems}


def test_trace_without_a_manifest_is_a_usage_error(tmp_path, caplog):
    assert main(["trace", str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere' / 'manifest.json'}: no adapter manifest" in caplog.text


def test_trained_on_finds_a_record_by_id_text_and_parent(project):
    adapter = [project / "models" / "adapter"]
    r = trained_on(PARENT["id"], adapter, root=project)
    assert {(h.record_id, h.matched) for h in r.hits} == {
        (PARENT["id"], "id"),
        (CHILD["id"], f"parent_id {PARENT['id']}"),  # the child holds the same person's data
    }
    assert {h.adapter for h in r.hits} == {"models/adapter"}
    r = trained_on("alva BRENNICK", adapter, root=project)
    assert {h.record_id for h in r.hits} == {PARENT["id"], CHILD["id"]}
    assert trained_on(ABSENT["id"], adapter, root=project).hits == []
    assert trained_on("Never seen.", adapter, root=project).hits == []


def test_trained_on_cli_by_id(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    assert main(["trained-on", OTHER["id"]]) == 0  # default: every manifest under models/
    out = capsys.readouterr().out
    assert f"models/adapter  data/processed/train.parquet  {OTHER['id']}  (id)" in out
    assert main(["trained-on", ABSENT["id"]]) == 1
    assert "in no adapter's training data (1 checked)" in capsys.readouterr().out


SALT = "a-test-salt-of-no-value"
#: the raw name scrub_pii replaced in PARENT (its train text holds a surrogate, not this)
RAW_NAME = "Thomas Lopez"


def _ledger_run(root: Path, *, key: bytes, keyed_by: str) -> None:
    """A scrub_pii ledger whose PARENT line holds RAW_NAME's keyed hash (and another value's
    in OTHER's line), and the metrics that say how the run was keyed."""
    lines = [
        {
            "id": PARENT["id"],
            "stage": "scrub_pii",
            "action": "scrubbed",
            "entities": [
                {"entity_type": "PERSON", "field": "input", "operator": "surrogate",
                 "hash": ledger_hash(key, RAW_NAME, "PERSON")},
                {"entity_type": "PHONE_NUMBER", "field": "input", "operator": "surrogate",
                 "hash": ledger_hash(key, "(555) 010-4477", "PHONE_NUMBER")},
            ],
        },
        {
            "id": OTHER["id"],
            "stage": "scrub_pii",
            "action": "scrubbed",
            "entities": [{"entity_type": "PERSON", "field": "output", "operator": "surrogate",
                          "hash": ledger_hash(key, "Ann Lee", "PERSON")}],
        },
    ]  # fmt: skip
    (root / "data" / "ledger").mkdir(parents=True, exist_ok=True)
    (root / "data" / "ledger" / "scrub_pii.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )
    (root / "metrics" / "scrub_pii.json").write_text(
        json.dumps(
            {"stage": "scrub_pii", "ledger_key": keyed_by, "ledger_key_check": key_check(key)}
        )
    )


def _invoke(project: Path, *args: str):
    """The CLI's result, its log (where a UserError's one line goes) added to its output."""
    import logging

    from click.testing import CliRunner

    from provena.cli import cli

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    lines: list[str] = []
    handler = Keep()
    logging.getLogger("provena").addHandler(handler)
    try:
        res = CliRunner().invoke(cli, ["trained-on", *args, "--root", str(project), "--models",
                                    str(project / "models")])  # fmt: skip
    finally:
        logging.getLogger("provena").removeHandler(handler)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return SimpleNamespace(exit_code=res.exit_code, output=res.output + "".join(
        f"error: {ln}\n" for ln in lines))  # fmt: skip


def test_trained_on_a_raw_value_in_another_form_finds_the_record_and_its_adapter(
    project, monkeypatch
):
    monkeypatch.setenv("PROVENA_PII_SALT", SALT)
    _ledger_run(project, key=SALT.encode(), keyed_by="salt")
    assert RAW_NAME.casefold() not in json.dumps([PARENT, CHILD, OTHER]).casefold()  # scrubbed
    for form in ("LOPEZ, THOMAS", "thomas  lopez", "Lopez Thomas.", "Thomas LÓPEZ"):
        res = _invoke(project, form)
        assert res.exit_code == 0, res.output
        assert f"models/adapter  data/processed/train.parquet  {PARENT['id']}  " in res.output
        assert "(ledger: PERSON in input)" in res.output
        assert f"{CHILD['id']}  (parent_id {PARENT['id']})" in res.output  # augmented child
        assert OTHER["id"] not in res.output
        assert "in the training data of 1 of 1 adapters (2 records" in res.output
    # numbers match in any grouping; a value absent from the ledger and the text finds none
    assert PARENT["id"] in _invoke(project, "555 010 4477").output
    for absent in ("Thomas Lopes", "Maria Garcia", "555 010 4478"):
        res = _invoke(project, absent)
        assert res.exit_code == 1
        assert "in no adapter's training data (1 checked)" in res.output
        assert "0 records hold the value's keyed hash" in res.output


def test_trained_on_a_raw_value_of_an_unsalted_run_and_salt_errors(project, monkeypatch):
    from provena.ledger_key import secret_key

    monkeypatch.delenv("PROVENA_PII_SALT", raising=False)
    seed_key = secret_key(ScrubPiiConfig())[0]
    _ledger_run(project, key=seed_key, keyed_by="surrogate_seed")
    res = _invoke(project, "Lopez, Thomas")  # the run had no salt: the seed's key is used
    assert res.exit_code == 0 and PARENT["id"] in res.output
    monkeypatch.setenv("PROVENA_PII_SALT", SALT)  # a salt that is not the run's key
    res = _invoke(project, "Lopez, Thomas")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "PROVENA_PII_SALT is not the key scrub_pii ran with" in res.output
    _ledger_run(project, key=SALT.encode(), keyed_by="salt")
    monkeypatch.delenv("PROVENA_PII_SALT")
    res = _invoke(project, "Lopez, Thomas")
    assert res.exit_code == 2
    assert (
        res.output.strip()
        .splitlines()[-1]
        .startswith("error: PROVENA_PII_SALT is not set: set it to the salt scrub_pii ran with")
        or "PROVENA_PII_SALT is not set: set it to the salt scrub_pii ran with" in res.output
    )


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64  # a damaged middle, footer intact
    path.write_bytes(bytes(data[: len(data) - 9]))  # and a cut-off end


def test_trained_on_a_changed_or_damaged_file_is_a_one_line_error_naming_it(project, monkeypatch):
    monkeypatch.setenv("PROVENA_PII_SALT", SALT)
    _ledger_run(project, key=SALT.encode(), keyed_by="salt")
    train = project / "data" / "processed" / "train.parquet"
    with RecordWriter(train) as w:  # no longer the file the adapter was trained on
        w.write([OTHER])
    for query in (OTHER["id"], "Lopez, Thomas"):
        res = _invoke(project, query)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert "data/processed/train.parquet: changed since models/adapter was trained" in (
            res.output
        )
    _corrupt(train)  # damaged, and the manifest made to agree: reading it fails
    manifest_path = project / "models" / "adapter" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["split"]["train"]["sha256"] = sha256_file(train)
    manifest_path.write_text(json.dumps(manifest))
    res = _invoke(project, "Lopez, Thomas")
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert "data/processed/train.parquet: cannot read it as a record file" in res.output
    train.unlink()
    res = _invoke(project, OTHER["id"])
    assert res.exit_code == 2 and "data/processed/train.parquet: missing" in res.output
    # a damaged ledger line: file and line named
    ledger = project / "data" / "ledger" / "scrub_pii.jsonl"
    ledger.write_text(ledger.read_text() + '{"id": "x", "entities": [{"hash": 1}]}\n')
    res = _invoke(project, "Lopez, Thomas")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "data/ledger/scrub_pii.jsonl, line 3: not a scrub_pii ledger line" in res.output
    ledger.unlink()
    res = _invoke(project, "Lopez, Thomas")
    assert res.exit_code == 2 and "data/ledger/scrub_pii.jsonl: no scrub_pii ledger" in res.output


def test_bundle_is_complete_data_free_and_deterministic(project, capsys):
    adapter = str(project / "models" / "adapter")
    a, b = project / "a.zip", project / "b.zip"
    assert main(["bundle", adapter, str(a), "--root", str(project)]) == 0
    assert main(["bundle", adapter, str(b), "--root", str(project)]) == 0
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        listing = zf.read("MANIFEST.txt").decode()
        lock = zf.read("dvc.lock")
    assert names == [*sorted(names[:-1]), "MANIFEST.txt"]
    assert set(names) == {
        "dvc.lock",
        "params.yaml",
        "metrics/split.json",
        "reports/validation_verdict.json",
        "reports/page.html",
        "audits/audit_after.json",
        "audits/signoffs/audit_after.json.json",
        "models/adapter/manifest.json",
        "models/adapter/train_config.json",
        "models/adapter/adapter_config.json",
        "card/README.md",
        "card/card.json",
        "MANIFEST.txt",
    }
    assert not any(n.startswith("data/") for n in names)
    assert f"{sha256_file(project / 'dvc.lock')}  dvc.lock\n" in listing
    assert len(listing.splitlines()) == len(names) - 1
    assert lock == (project / "dvc.lock").read_bytes()


def test_bundle_from_the_card_stage_leaves_the_card_stage_out_of_dvc_lock(project):
    from provena.lineage import bundle

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    lock["stages"]["card"] = {"cmd": "python stages/card.py", "outs": []}
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    out = project / "c.zip"
    digests = bundle(project / "models" / "adapter", out, root=project, exclude_stages=("card",))
    with zipfile.ZipFile(out) as zf:
        bundled = yaml.safe_load(zf.read("dvc.lock"))
        listing = zf.read("MANIFEST.txt").decode()
    assert "card" not in bundled["stages"]
    assert set(bundled["stages"]) == set(lock["stages"]) - {"card"}
    # the listing's hash is that of the bundled (filtered) lock, not of the file on disk
    assert f"{digests['dvc.lock']}  dvc.lock\n" in listing
    assert digests["dvc.lock"] != sha256_file(project / "dvc.lock")


def test_bundle_without_a_manifest_is_a_usage_error(project, caplog):
    (project / "models" / "adapter" / "manifest.json").unlink()
    assert main(["bundle", str(project / "models" / "adapter"), str(project / "x.zip")]) == 2
    assert "manifest.json: no adapter manifest" in caplog.text
    assert not (project / "x.zip").exists()
