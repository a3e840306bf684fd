"""A two-point sweep on DVC's own experiment machinery, as docs/sweeps.md walks it through.

In a temporary copy of the repo on the tiny profile, network cut: `dvc repro` and a commit
(the baseline), then `dvc exp run --queue -S train.lora.r=2,8 -S train.learning_rate=...`
and `dvc exp run --run-all`; `dvc exp show` holds both experiments with their params and only
the headline metrics, `dvc plots diff` draws both, and `dvc exp apply` brings the winner into
the workspace, ready to commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.offline import run_offline
from tests.pipeline.test_pipeline import _copy_repo, _dvc

pytestmark = pytest.mark.pipeline

RANKS = (2, 8)  # the tiny profile's own rank is 4: both points differ from the baseline
LEARNING_RATE = 0.003
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "provena test",
    "GIT_AUTHOR_EMAIL": "test@provena.invalid",
    "GIT_COMMITTER_NAME": "provena test",
    "GIT_COMMITTER_EMAIL": "test@provena.invalid",
}


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, dict]:
    repo = _copy_repo(tmp_path_factory.mktemp("sweep"))
    _dvc(repo, "repro")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "baseline: the tiny profile")
    ranks = ",".join(str(r) for r in RANKS)
    # the HTML reports git ignores, one -C each (`-C reports` fails: the folder exists in the
    # experiment's checkout, with the committed JSON)
    ignored = _git(repo, "ls-files", "-o", "-i", "--exclude-standard", "--directory", "reports")
    copy = [x for p in ignored.split() for x in ("-C", p.rstrip("/"))]
    assert "reports/pii_report.html" in copy and "reports/data_docs" in copy
    _dvc(
        repo, "exp", "run", "--queue", *copy,
        "-S", f"train.lora.r={ranks}", "-S", f"train.learning_rate={LEARNING_RATE}",
    )  # fmt: skip
    _dvc(repo, "exp", "run", "--run-all")
    shown = json.loads(_dvc(repo, "exp", "show", "--json").stdout)
    return repo, shown


def _experiments(shown: list) -> list[dict]:
    baseline = next(r for r in shown if r["rev"] != "workspace")
    return [rev for exp in baseline["experiments"] or [] for rev in exp["revs"]]


def test_dvc_exp_show_holds_both_points_with_their_params_and_headline_metrics(swept):
    _, shown = swept
    exps = _experiments(shown)
    assert len(exps) == 2, [e["name"] for e in exps]
    ranks = []
    for exp in exps:
        assert exp["error"] is None, exp["error"]
        train = exp["data"]["params"]["params.yaml"]["data"]["train"]
        ranks.append(train["lora"]["r"])
        assert train["learning_rate"] == LEARNING_RATE
        metrics = exp["data"]["metrics"]
        # the DVC metrics are the headline files, nothing of the detail
        assert metrics and all(p.startswith("metrics/headline/") for p in metrics), list(metrics)
        head = _leaves({p: m["data"] for p, m in metrics.items()})
        assert len(head) <= 80  # a screen of columns, where the detail held hundreds
        ev = metrics["metrics/headline/evaluate.json"]["data"]
        assert ev["model_fairness"] in ("pass", "fail", "inconclusive")
        assert ev["privacy_probes"] in ("pass", "fail", "inconclusive")
        for family, score in (("support_reply", "rouge_l"), ("clinical_extraction", "json_valid")):
            assert isinstance(ev["test"][family]["perplexity"], float)
            # a task score is there, or withheld because the answers are not evaluable (the
            # tiny model's few answers may be constant): counted, never a silent gap
            assert isinstance(ev["test"][family].get(score), float) or ev["not_evaluable"] > 0
        assert isinstance(metrics["metrics/headline/train.json"]["data"]["eval_loss"], float)
        assert metrics["metrics/headline/validate.json"]["data"]["verdict"] == "pass"
    assert sorted(ranks) == list(RANKS)
    losses = [e["data"]["metrics"]["metrics/headline/train.json"]["data"] for e in exps]
    assert losses[0]["eval_loss"] != losses[1]["eval_loss"]  # two adapters, two results


def test_queued_points_reran_training_not_curation(swept):
    """With `-C` of the HTML reports git ignores, a queued point restores the curation
    stages from the cache and reruns only what the swept params feed."""
    repo, shown = swept
    for exp in _experiments(shown):
        logs = _dvc(repo, "queue", "logs", exp["name"]).stdout
        assert "Running stage 'train'" in logs and "Running stage 'evaluate'" in logs
        assert "Running stage 'clean'" not in logs and "Running stage 'synth'" not in logs


def test_dvc_plots_diff_draws_both_points(swept):
    repo, shown = swept
    names = [e["name"] for e in _experiments(shown)]
    plots = json.loads(_dvc(repo, "plots", "diff", *names, "--json").stdout)["data"]
    for path in ("plots/task_scores.json", "dvclive/plots/metrics/eval/loss.tsv"):
        assert path in plots, sorted(plots)
    assert set(plots["dvclive/plots/metrics/eval/loss.tsv"][0]["revisions"]) == set(names)
    heads = [
        e["data"]["metrics"]["metrics/headline/evaluate.json"]["data"] for e in _experiments(shown)
    ]
    scored = {
        f"{split}/{family}/{k}"
        for head in heads
        for split in ("test", "gold")
        for family, scores in head.get(split, {}).items()
        if isinstance(scores, dict)
        for k, v in scores.items()
        if k != "perplexity" and isinstance(v, float)
    }
    drawn = plots["plots/task_scores.json"]
    if scored:  # every task score a headline holds is a bar, one colour per experiment
        values = drawn[0]["content"]["data"]["values"]
        assert {v["rev"] for v in values} <= set(names) and scored == {v["score"] for v in values}
    else:  # nothing evaluable: no bars, and the headlines say why
        assert not drawn or not drawn[0]["content"]["data"]["values"]
        assert all(h["not_evaluable"] > 0 for h in heads)


def test_provena_compare_takes_two_experiment_names(swept, tmp_path):
    """`provena compare NAME NAME` after a sweep: each side's adapter and base come out of
    DVC's cache, the workspace is left as it is, and the page names the experiments."""
    repo, shown = swept
    names = [e["name"] for e in _experiments(shown)]
    before = _git(repo, "status", "--porcelain")
    proc = run_offline(
        [sys.executable, "-m", "provena.cli", "compare", *names, "--no-privacy",
         "--params", "params.yaml", "--out", str(tmp_path / "compare.json")],
        cwd=repo,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 2 would be bad input
    result = json.loads((tmp_path / "compare.json").read_text())
    assert [result["a"]["path"], result["b"]["path"]] == names
    assert result["a"]["experiment"] is result["b"]["experiment"] is True
    assert result["a"]["kind"] == result["b"]["kind"] == "adapter"
    assert _git(repo, "status", "--porcelain") == before  # the workspace untouched
    proc = run_offline(
        [sys.executable, "-m", "provena.cli", "compare", names[0], "no-such-exp", "--no-privacy", "--out", str(tmp_path / "x.json")],
        cwd=repo,
    )  # fmt: skip
    assert proc.returncode == 2 and "no-such-exp: no such folder" in proc.stderr


def test_dvc_exp_apply_brings_the_winner_into_the_workspace_to_commit(swept):
    repo, shown = swept
    exps = _experiments(shown)

    def eval_loss(e: dict) -> float:
        return e["data"]["metrics"]["metrics/headline/train.json"]["data"]["eval_loss"]

    winner = min(exps, key=eval_loss)
    _dvc(repo, "exp", "apply", winner["name"])
    params = yaml.safe_load((repo / "params.yaml").read_text())
    won = winner["data"]["params"]["params.yaml"]["data"]["train"]
    assert params["train"]["lora"]["r"] == won["lora"]["r"]
    head = json.loads((repo / "metrics/headline/train.json").read_text())
    assert head["eval_loss"] == eval_loss(winner)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"train: the sweep's winner ({winner['name']})")
    assert _git(repo, "status", "--porcelain").strip() == ""
