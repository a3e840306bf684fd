"""`dvc repro` end to end on the tiny profile, in a temporary copy of the repo, network cut.

Also, on that same copy: stages killed with SIGKILL mid-run (nothing partial is left, the
rerun is byte-identical, training resumes from its checkpoint); and on a second copy: two
clean runs give the same hashes, then script payloads planted in its raw data run in no HTML
report (in chromium) and the PII salt set for the run is written nowhere (issue 9)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, write_tiny_params
from tests.helpers.offline import NAMESPACE, SOCKET_GUARD, offline_env, offline_mode, run_offline

pytestmark = pytest.mark.pipeline


def _copy_repo(dest: Path) -> Path:
    """Copy what git would ship (tracked and untracked-but-not-ignored files), plus .dvc/."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    write_tiny_params(dest / "params.yaml")
    (dest / "dvc.lock").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


#: how each `dvc` run of this module had its network cut (tests/helpers/offline.py)
OFFLINE_MODES: list[str] = []


def _dvc(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = run_offline([sys.executable, "-m", "dvc", *args], cwd=repo, env=env)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    OFFLINE_MODES.append(proc.offline_mode)
    return proc


#: outputs that carry the run's time by design: the train stage's throughput figures and
#: manifest (its adapter weights are compared apart). Great Expectations' Data Docs are not
#: among them: their run is named by the data's hash at a fixed time (provena.validate.docs)
TIMED_OUTPUTS = (
    "models/adapter",
    "models/checkpoints",
    "metrics/train.json",
    "metrics/evaluate.json",  # its seconds; the predictions in data/eval/ are compared
    "dvclive",
    "models/card",  # names the adapter file's sha256, and the adapter embeds its seconds
)


def _out_hashes(repo: Path) -> dict[str, str]:
    """Hashes of every output in dvc.lock but those of :data:`TIMED_OUTPUTS`."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        o["path"]: o["md5"]
        for st in lock["stages"].values()
        for o in st.get("outs", [])
        if not any(t in o["path"] for t in TIMED_OUTPUTS)
    }


def _adapter_weights(repo: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(repo / "models" / "adapter" / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = _copy_repo(tmp_path_factory.mktemp("repo"))
    _dvc(repo, "repro")
    return repo


def test_the_pipeline_ran_with_the_network_cut_and_says_how(repo):
    # a namespace with no interfaces wherever `unshare -rn` works (it does on CI's runners)
    assert OFFLINE_MODES and set(OFFLINE_MODES) == {offline_mode()}
    assert offline_mode() in (NAMESPACE, SOCKET_GUARD)
    print(f"network cut by: {offline_mode()}")


def test_repro_runs_every_stage_and_keeps_the_books(repo):
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    stages = set()
    for name, st in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].items():
        stages |= {f"{name}@{k}" for k in st["foreach"]} if "foreach" in st else {name}
    assert set(lock["stages"]) == stages
    ingest = json.loads((repo / "metrics" / "ingest.json").read_text())
    synth = json.loads((repo / "metrics" / "synth.json").read_text())
    assert ingest["records_in"] == ingest["records_kept"] + ingest["records_quarantined"]
    assert ingest["records_kept"] == synth["records"]
    assert ingest["records_quarantined"] == synth["malformed_lines"] == 6
    for path in (
        "data/interim/ingest.parquet",
        "data/ledger/ingest.jsonl",
        "data/quarantine/ingest.jsonl",
        "data/raw/default/_gold/pii_spans.jsonl",
        "data/raw/default/_gold/labels.jsonl",
    ):
        assert (repo / path).is_file(), path
    quarantine = [
        json.loads(x) for x in (repo / "data/quarantine/ingest.jsonl").read_text().splitlines()
    ]
    assert all(
        q["source"] == "data/raw/default/support_legacy.jsonl" and q["line"] > 0 and q["reason"]
        for q in quarantine
    )


def test_dvc_metrics_show_lists_each_stages_headline(repo):
    shown = json.loads(_dvc(repo, "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    assert {"metrics/headline/synth.json", "metrics/headline/ingest.json"} <= set(files)
    assert all(f.startswith("metrics/headline/") for f in files), sorted(files)  # no detail
    assert files["metrics/headline/ingest.json"]["data"]["records_in"] > 300


def test_second_repro_has_nothing_to_do(repo):
    out = _dvc(repo, "repro").stdout
    assert "Running stage" not in out


def test_forced_rerun_gives_identical_output_hashes(repo):
    import torch

    before, weights = _out_hashes(repo), _adapter_weights(repo)
    _dvc(repo, "repro", "--force")
    assert _out_hashes(repo) == before
    after = _adapter_weights(repo)
    assert after.keys() == weights.keys()
    assert all(torch.equal(after[k], weights[k]) for k in weights)  # retrained, same weights


def test_each_stage_reads_what_the_previous_kept(repo):
    def metrics(stage):
        return json.loads((repo / "metrics" / f"{stage}.json").read_text())

    for prev, stage in itertools.pairwise(["ingest", "scrub_pii", "clean"]):
        assert metrics(stage)["records_in"] == metrics(prev)["records_kept"], stage
    m = metrics("clean")
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    assert m["gold_recall"] >= 0.95 and m["gold_precision"] >= 0.95
    assert (repo / "reports/clean_report.html").is_file()


def test_validate_passes_on_the_tiny_data_and_writes_its_verdict(repo):
    verdict = json.loads((repo / "reports/validation_verdict.json").read_text())
    clean = json.loads((repo / "metrics/clean.json").read_text())
    assert verdict["verdict"] == "pass", verdict
    assert verdict["dataset"]["records"] == clean["records_kept"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    clean_out = next(
        o for o in lock["stages"]["clean"]["outs"] if o["path"] == "data/interim/clean.parquet"
    )
    assert verdict["dataset"]["md5"] == clean_out["md5"]  # the fingerprint is DVC's hash
    html = (repo / "reports/data_quality.html").read_text()
    assert clean_out["md5"] in html and (repo / "reports/data_docs/index.html").is_file()


def test_the_funnel_follows_the_records_from_synth_to_split(repo):
    html = (repo / "reports/funnel.html").read_text()
    assert '<span class="badge pass" id="books">pass</span>' in html
    for stage in ("synth", "ingest", "scrub_pii", "clean", "validate", "augment", "split"):
        assert f'<tr id="stage-{stage}"><td>{stage}</td>' in html, stage
    canaries = json.loads((repo / "metrics/split.json").read_text())["canaries"]
    assert canaries["planted_records"] > 0 and f"canaries ({canaries['count']} x" in html


def test_audits_run_before_and_after_augment(repo):
    before = json.loads((repo / "audits/audit_before.json").read_text())
    after = json.loads((repo / "audits/audit_after.json").read_text())
    augment = json.loads((repo / "metrics/augment.json").read_text())
    assert before["verdict"] == "fail"  # the planted imbalance
    assert after["dataset"]["records"] == augment["records_out"] > augment["records_in"]
    html = (repo / "reports/audit_after.html").read_text()
    assert 'id="verdict-before"' in html and 'id="verdict-after"' in html


def test_train_runs_behind_the_gate_and_dvc_plots_draw_its_curves(repo):
    manifest = json.loads((repo / "models/adapter/manifest.json").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    split_md5 = {o["path"]: o["md5"] for o in lock["stages"]["split"]["outs"]}
    assert manifest["split"]["train"]["md5"] == split_md5["data/processed/train.parquet"]
    checks = {c["check"]: c for c in manifest["gate"]["checks"]}
    assert set(checks) == {"validation", "audit", "pii_residual"}
    # passed (an inconclusive audit passes as train.allow_inconclusive_audit lets it) or waived
    assert all(c["passed"] or c["waived"] for c in checks.values())
    assert all(c["verdict"] in ("pass", "inconclusive") or c["waived"] for c in checks.values())
    # the tiny data is too small for the audit: the profile's waiver is recorded where used
    assert checks["audit"]["waived"] == (not checks["audit"]["passed"])
    assert [w["check"] for w in manifest["waivers"]] == (
        ["audit"] if checks["audit"]["waived"] else []
    )
    assert manifest["training"]["note"].startswith("LoRA without quantization")
    plots = json.loads(_dvc(repo, "plots", "show", "--json").stdout)
    assert "dvclive/plots/metrics/train/loss.tsv" in plots["data"]


def test_the_adapter_traces_back_to_synth_with_every_file_as_locked(repo):
    """`provena trace` on the adapter the run trained: its manifest, then every stage upstream
    in dvc.lock down to synth, each file as locked."""
    from provena.lineage import trace

    t = trace(repo / "models" / "adapter")
    assert t.stages[0] == "train" and t.stages[-1] == "synth"
    assert [f"{e.path} {e.status}" for e in t.problems] == []


def test_evaluate_numbers_are_the_same_on_a_forced_rerun(repo):
    def numbers(obj):
        if isinstance(obj, dict):
            return {k: numbers(v) for k, v in obj.items() if "seconds" not in k}
        return obj

    before = numbers(json.loads((repo / "metrics/evaluate.json").read_text()))
    _dvc(repo, "repro", "--force", "--single-item", "evaluate")
    assert numbers(json.loads((repo / "metrics/evaluate.json").read_text())) == before


# ------------------------------------------------------ faults (issue 9, point 2): SIGKILL


def _lock_outs(repo: Path, stage: str) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for o in lock["stages"][stage]["outs"]}


def _start_stage(repo: Path, stage: str, log: Path) -> subprocess.Popen:
    """The stage's command as dvc.lock has it, network cut, in a process group of its own
    (so that SIGKILL reaches it, and only it)."""
    cmd = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["cmd"]
    prefix, env = offline_env()
    with open(log, "w") as fh:
        return subprocess.Popen(
            [*prefix, *shlex.split(cmd)],
            cwd=repo,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert proc.poll() is None, f"the stage ended before the kill:\n{log.read_text()}"
        assert time.monotonic() < deadline, "timed out waiting to kill the stage"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _temp_files(repo: Path, paths) -> list[Path]:
    """Temp files of atomic writes beside the given outputs."""
    return sorted(t for p in paths for t in (repo / p).parent.glob(f".{Path(p).name}.*.tmp"))


def _largest(files: list[Path]) -> int:
    sizes = [0]
    for f in files:
        with contextlib.suppress(FileNotFoundError):  # moved into place since the listing
            sizes.append(f.stat().st_size)
    return max(sizes)


def test_a_stage_killed_mid_write_leaves_nothing_partial_and_its_rerun_is_identical(repo, tmp_path):
    from provena.io import file_md5

    outs = _lock_outs(repo, "scrub_pii")
    for p in outs:
        (repo / p).unlink()  # as dvc does before it runs a stage
    target = repo / "data/interim/scrub_pii.parquet"
    log = tmp_path / "scrub_pii.log"
    proc = _start_stage(repo, "scrub_pii", log)
    # killed once it has written its first batches (the temp file has grown past its header)
    parquet = [p for p in outs if p.endswith(".parquet")]
    _kill_when(proc, lambda: _largest(_temp_files(repo, parquet)) > 2000, log)
    # nothing at an output path that a later stage could read: each is absent (or complete)
    for p, md5 in outs.items():
        assert not (repo / p).exists() or file_md5(repo / p) == md5, p
    assert not target.exists()
    left = _temp_files(repo, outs)
    assert left and all(t.name.startswith(".") for t in left)  # dot files: ingest skips them
    # the rerun (dvc reruns scrub_pii only: its outputs are missing) removes them and writes
    # the same bytes as the uninterrupted run, so nothing downstream reruns
    out = _dvc(repo, "repro", "--no-run-cache").stdout
    assert "Running stage 'scrub_pii'" in out and "Running stage 'clean'" not in out, out
    assert {p: file_md5(repo / p) for p in outs} == outs
    assert _temp_files(repo, outs) == []


def test_training_killed_after_a_checkpoint_resumes_and_ends_with_the_same_adapter(repo, tmp_path):
    import torch

    uninterrupted = _adapter_weights(repo)
    checkpoints = repo / "models" / "checkpoints"
    log = tmp_path / "train.log"
    for _attempt in range(3):  # a loaded machine may reach step 6 before the kill lands
        shutil.rmtree(checkpoints)  # the finished run's checkpoints: it starts afresh
        proc = _start_stage(repo, "train", log)
        # the checkpoint is moved into place before the stage logs it: wait for both, or the
        # kill may land between the two (a step 3 checkpoint whose log line never came)
        _kill_when(
            proc,
            lambda: (
                (checkpoints / "step-0000003").is_dir() and "checkpoint: step 3" in log.read_text()
            ),
            log,
        )
        if not (checkpoints / "step-0000006").exists():
            break
    assert "checkpoint: step 3" in log.read_text()
    assert not (checkpoints / "step-0000006").exists(), "training finished before the kill"
    # the adapter folder is replaced whole at the end: the killed run left the previous one
    after_kill = _adapter_weights(repo)
    assert all(torch.equal(after_kill[k], uninterrupted[k]) for k in uninterrupted)
    out = _dvc(repo, "repro", "--force", "--single-item", "train")
    assert "resuming from models/checkpoints/step-0000003 (step 3 of 6)" in out.stderr + out.stdout
    metrics = json.loads((repo / "metrics/train.json").read_text())
    assert (metrics["resumed_from"], metrics["steps"], metrics["interrupted"]) == (3, 6, False)
    resumed = _adapter_weights(repo)
    assert resumed.keys() == uninterrupted.keys()
    # the same batches (a function of seed and step), RNG and optimizer state: the same bits
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    tsv = (repo / "dvclive/plots/metrics/train/loss.tsv").read_text().splitlines()
    col = tsv[0].split("\t").index("step")
    assert [int(x.split("\t")[col]) for x in tsv[1:]] == [2, 4, 6]  # no step logged twice


# ------------------------------------------ determinism (issue 9, point 3): two clean copies


@pytest.fixture(scope="module")
def second_repo(tmp_path_factory) -> Path:
    """Another copy run from scratch in another folder (about as long as `repo`: ~70 s on 2
    cores). The determinism check compares it with `repo`; `planted` then reuses it."""
    second = _copy_repo(tmp_path_factory.mktemp("second"))
    _dvc(second, "repro")
    return second


def test_two_clean_runs_in_two_folders_give_identical_output_hashes(repo, second_repo):
    """Every output in dvc.lock but those of TIMED_OUTPUTS: no folder name, time or random
    state leaks into the data, audits, reports or metrics."""
    a, b = _out_hashes(repo), _out_hashes(second_repo)
    assert len(a) > 30 and a.keys() == b.keys()
    assert sorted(k for k in a if a[k] != b[k]) == []


# ------------------------------------- security (issue 9, point 4): scripts and the salt

#: each sets window.__pwned (or opens an alert) if it ever runs
PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2;alert(2)">',
    '<a href="javascript:window.__pwned=3">click</a> javascript:alert(3)',
    '"><svg onload="window.__pwned=4;alert(4)">',
)
SALT = "Pr0vena-pipeline-s4lt-5e2b8a"
#: what a page shows where a payload is text (a text node's `<` serializes as `&lt;`)
ESCAPED = (
    "&lt;script&gt;",
    '&lt;img src=x onerror="window.__pwned=2',
    '&lt;a href="javascript:window.__pwned=3"&gt;',
)
#: JavaScript probes after load: a payload that ran, or an element a payload made
PROBES = {
    "pwned": "typeof window.__pwned",
    "handlers": "document.querySelectorAll('[onerror],[onload]').length",
    "js_links": "document.querySelectorAll('a[href^=\"javascript:\" i]').length",
    "scripts": "[...document.scripts].filter(s => s.text.includes('__pwned')).length",
}


def _payload_records() -> list[dict]:
    """Support e-mails with the payloads: in the message (with PII, so the PII report shows
    it), in the reply as markup (quarantined by clean, whose reasons quote it) and inside a
    code block (kept: it flows on to augment, split and training)."""
    meta = {"family": "support_reply", "gender": "female", "age_band": "30-44"}
    return [
        {
            "instruction": f"Reply to this customer message. {p}",
            "input": f"Hi, I am Maria Lopez (maria.lopez{i}@example.com). The page shows {p} "
            "every time I open my order ORD-11111-A. Please help me sort this out soon.",
            "output": f"Dear Maria, thank you for writing. {p} should not appear on the page; "
            "we removed it and refreshed your order page.",
            "meta": {**meta, "resolution": "refund"},
        }
        for i, p in enumerate(PAYLOADS)
    ] + [
        {
            "instruction": "Explain to the customer what to remove from their shop page.",
            "input": "Our shop page runs something odd; what should I delete from it?",
            "output": "Delete this block from the page template:\n```html\n"
            + "\n".join(PAYLOADS)
            + "\n```\nThen save the template and reload the page to check it is gone.",
            "meta": {**meta, "resolution": "refund"},
        }
    ]


@pytest.fixture(scope="module")
def planted(second_repo) -> tuple[Path, str]:
    """`second_repo` (after the determinism check) with the payload records added to its raw
    data (data/raw/0_xss/, read first), run again with the PII salt set: (repo, its log)."""
    raw = second_repo / "data" / "raw" / "0_xss" / "payloads.jsonl"
    raw.parent.mkdir(parents=True)
    raw.write_text("".join(json.dumps(r) + "\n" for r in _payload_records()))
    # the PII report samples its records by source in turn: room for every payload record
    params = yaml.safe_load((second_repo / "params.yaml").read_text())
    params["scrub_pii"]["report_examples"] = 40
    (second_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = _dvc(second_repo, "repro", env={**os.environ, "PROVENA_PII_SALT": SALT})
    return second_repo, proc.stdout + proc.stderr


@pytest.mark.browser  # and in chromium: skipped without it
def test_script_payloads_in_the_data_run_in_no_html_report(planted, tmp_path):
    from tests.helpers.browser import chromium_path, load

    if chromium_path() is None:
        pytest.skip(
            "no chromium: run `make setup-browser` (tests/browser/test_browser.py says how)"
        )
    repo, _ = planted
    ingest = json.loads((repo / "metrics/ingest.json").read_text())
    synth = json.loads((repo / "metrics/synth.json").read_text())
    assert ingest["records_kept"] == synth["records"] + len(_payload_records())
    pages = sorted(
        p for p in repo.rglob("*.html") if not {".dvc", ".git"} & set(p.relative_to(repo).parts)
    )
    assert repo / "reports/clean_report.html" in pages and len(pages) >= 5
    shown, doms = {}, {}
    for page in pages:
        name = page.relative_to(repo).as_posix()
        r = load(page, tmp_path / f"{page.stem}.png", evaluate=PROBES)
        assert r.values == dict.fromkeys(PROBES, 0) | {"pwned": "undefined"}, name
        assert r.dialogs == [], name
        shown[name] = [m for m in ESCAPED if m in r.dom]
        doms[name] = r.dom
    # the reports that show examples show the payloads as text: clean quotes the markup that
    # quarantined a record (the svg one is no markup to it, and flows on), and the PII report's
    # examples (most words around the PII masked) show at least one
    assert shown["reports/clean_report.html"] == list(ESCAPED), shown
    assert "page shows &lt;img src=x " in doms["reports/pii_report.html"]


def test_the_salt_is_written_to_no_file_of_a_whole_run_nor_its_log(planted):
    from tests.helpers.salt import salt_hits

    repo, log = planted
    assert "Running stage 'scrub_pii'" in log and "PROVENA_PII_SALT is not set" not in log

    # every file the run wrote or changed: those still as copied (this file among them,
    # which holds the salt) are skipped
    def as_copied(hit: str) -> bool:
        source = ROOT / Path(hit).relative_to(repo)
        return source.is_file() and source.read_bytes() == Path(hit).read_bytes()

    assert [h for h in salt_hits(repo, SALT) if not as_copied(h)] == []
    assert salt_hits(repo / "metrics", SALT, {"dvc repro log": log}) == []
