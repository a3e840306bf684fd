"""train, data parallel: two CPU processes under ``torchrun`` (gloo) train one adapter.

Rank 0 alone writes the adapter, manifest, metrics, dvclive logs and checkpoints; both ranks end
with the same LoRA weights; each epoch's examples are split between the ranks, every example
seen once; and two ranks with ``grad_accum`` 1 train the same weights as one process with
``grad_accum`` 2 (the same micro-batches per step, the loss averaged over the same tokens). The
code path is the one ``torchrun`` takes on GPUs with nccl; only the backend differs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch

import provena
from provena import manifest
from provena.errors import UserError
from provena.train import distributed
from provena.train import run as train_run
from tests.helpers.train import N_RECORDS, STEPS, params_for, paths_for

ROOT = Path(__file__).resolve().parents[2]

# Each rank trains through provena.train.run, with train_loop wrapped to record which examples
# it trains on (by index in the train split) and a hash of its LoRA weights at the end.
SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    from pathlib import Path

    import provena.train.loop as loop
    from peft import get_peft_model_state_dict
    from provena.train import run
    from tests.helpers.train import paths_for, params_for

    tmp, grad_accum, stop_after = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rank = int(os.environ["RANK"])
    seen, inner = [], loop.train_loop

    def traced(model, *args, **kwargs):
        record = lambda step, epoch, rows: seen.append([step, epoch, [i for r in rows for i in r.sources]])
        out = inner(model, *args, on_batch=record, **kwargs)
        weights = get_peft_model_state_dict(model)
        digest = hashlib.sha256()
        for k in sorted(weights):
            digest.update(k.encode() + weights[k].detach().cpu().numpy().tobytes())
        trace = {"batches": seen, "lora_sha256": digest.hexdigest()}
        (tmp / f"trace-rank{rank}.json").write_text(json.dumps(trace))
        return out

    loop.train_loop = traced
    params = params_for(grad_accum)
    metrics = run(params.train, paths_for(tmp), audit_data=params.audit_data, root=tmp,
                  stop_after=None if stop_after == "-" else int(stop_after)).metrics
    (tmp / f"metrics-rank{rank}.json").write_text(json.dumps(metrics, default=str))
    """
)


def _torchrun(tmp: Path, grad_accum: int = 1, stop_after: int | None = None):
    # torchrun of this interpreter (a `torchrun` on PATH may belong to another Python)
    if importlib.util.find_spec("torch.distributed.run") is None:
        pytest.skip("torchrun (torch.distributed.run) is not available in this torch build")
    paths_for(tmp)  # the inputs exist before two processes look for them
    script = tmp / "train_ddp.py"
    script.write_text(SCRIPT)
    src = Path(provena.__file__).resolve().parents[1]  # the provena this test imported
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)]),
        "OMP_NUM_THREADS": "1",  # two processes share the cores
    }
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        str(tmp),
    ]
    cmd += [str(grad_accum), "-" if stop_after is None else str(stop_after)]
    done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    traces = [json.loads((tmp / f"trace-rank{r}.json").read_text()) for r in (0, 1)]
    metrics = [json.loads((tmp / f"metrics-rank{r}.json").read_text()) for r in (0, 1)]
    return traces, metrics, done


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    traces, metrics, done = _torchrun(tmp)
    return tmp, traces, metrics, done


def test_two_ranks_write_one_adapter_and_manifest_from_rank_0(ddp_run):
    tmp, _, metrics, _ = ddp_run
    adapters = sorted(p.parent.name for p in tmp.rglob("manifest.json"))
    assert adapters == ["adapter"] and not list(tmp.rglob(".tmp*"))  # one, whole
    m = json.loads((tmp / "models" / "adapter" / "manifest.json").read_text())
    assert m["training"]["world_size"] == 2
    assert m["training"]["effective_batch_size"] == 2 * 1 * 2  # micro-batch x accum x ranks
    assert manifest.read_embedded(tmp / "models" / "adapter" / "adapter_model.safetensors") == m
    assert json.loads((tmp / "metrics" / "train.json").read_text())["world_size"] == 2
    # dvclive written once: one point per log step, not one per rank
    loss = (tmp / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").read_text().split()
    assert loss[2::2] == ["2", "4", "6", "8", "10", "12"]
    assert sorted(p.name for p in (tmp / "models" / "checkpoints").iterdir()) == [
        "step-0000008",
        "step-0000012",
    ]
    # both ranks saw the same all-reduced loss, and it went down
    assert metrics[0]["first_loss"] == metrics[1]["first_loss"]
    assert metrics[0]["final_loss"] == metrics[1]["final_loss"]
    assert metrics[0]["final_loss"] < metrics[0]["first_loss"] - 0.15
    assert metrics[0]["eval_loss"] == metrics[1]["eval_loss"]


def test_both_ranks_end_with_the_same_lora_weights(ddp_run):
    _, traces, _, _ = ddp_run
    assert traces[0]["lora_sha256"] == traces[1]["lora_sha256"]


def test_each_epoch_shows_every_example_once_across_the_ranks(ddp_run):
    _, traces, metrics, _ = ddp_run
    assert metrics[0]["train_examples"] == N_RECORDS  # none dropped: index = record
    per_rank = [Counter() for _ in traces]
    for r, trace in enumerate(traces):
        steps = Counter(step for step, _, _ in trace["batches"])
        assert steps == dict.fromkeys(range(STEPS), 1)  # grad_accum micro-batches every step
        for _, epoch, ids in trace["batches"]:
            per_rank[r].update((epoch, i) for i in ids)
    last = max(e for e, _ in per_rank[0] | per_rank[1])
    assert last >= 2  # the run spans whole epochs, so the check below has something to check
    for epoch in range(last):  # every complete epoch
        ids = [[i for (e, i), n in c.items() if e == epoch for _ in range(n)] for c in per_rank]
        assert ids[0] and ids[1] and not set(ids[0]) & set(ids[1])  # disjoint shares
        assert sorted(ids[0] + ids[1]) == list(range(N_RECORDS))  # each example once
    tail = [n for c in per_rank for (e, _), n in c.items() if e == last]
    assert tail and max(tail) == 1


def test_two_ranks_train_what_one_process_trains_with_twice_the_accumulation(ddp_run, tmp_path):
    from safetensors.torch import load_file

    tmp, _, metrics, _ = ddp_run
    params = params_for(grad_accum=2)
    paths = paths_for(tmp_path)
    single = train_run(params.train, paths, audit_data=params.audit_data, root=tmp_path).metrics
    assert single["world_size"] == 1 and single["effective_batch_size"] == 4
    assert single["first_loss"] == pytest.approx(metrics[0]["first_loss"], rel=1e-6)
    a = load_file(tmp / "models" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "models" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_a_resumed_two_rank_run_matches_an_uninterrupted_one(ddp_run, tmp_path):
    from safetensors.torch import load_file

    tmp, _, _, _ = ddp_run
    _, m1, _ = _torchrun(tmp_path, stop_after=6)  # killed after step 6
    assert m1[0]["interrupted"] and not (tmp_path / "models" / "adapter").exists()
    second, m2, _ = _torchrun(tmp_path)
    assert m2[0]["resumed_from"] == m2[1]["resumed_from"] == 4  # the same checkpoint on both
    assert second[0]["lora_sha256"] == second[1]["lora_sha256"]
    a = load_file(tmp / "models" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "models" / "adapter" / "adapter_model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_launcher_variables_are_read_and_checked():
    assert distributed.context_from_env({}) == distributed.SINGLE
    assert distributed.context_from_env({"WORLD_SIZE": "1"}) == distributed.SINGLE
    ctx = distributed.context_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (ctx.world_size, ctx.rank, ctx.local_rank, ctx.is_main) == (4, 3, 1, False)
    assert distributed.device_for("cuda", ctx) == "cuda:1"
    assert distributed.device_for("cpu", ctx) == "cpu"
    assert distributed.device_for("cuda", distributed.SINGLE) == "cuda"
    with pytest.raises(UserError, match=r"RANK=None is not an integer"):
        distributed.context_from_env({"WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(UserError, match=r"RANK=2, LOCAL_RANK=0 do not fit"):
        distributed.context_from_env({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})


def test_rank_shares_are_disjoint_strides_covering_every_item():
    items = list(range(10))
    shares = [distributed.rank_share(items, r, 3) for r in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert distributed.rank_share(items, 0, 1) == items
