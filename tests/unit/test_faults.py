"""Faults: a writer killed mid-write leaves nothing partial where a reader looks, what it left
is removed by the next write, a terminated stage cleans up after itself, and a half-written
checkpoint is never resumed from.

The pipeline-scale faults (scrub_pii and train killed with SIGKILL inside a `dvc repro`'d repo,
then rerun) are in tests/pipeline/test_pipeline.py, which holds the repo they need.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provena.io import atomic_dir, stale_temp_files, write_json
from provena.train.loop import latest_checkpoint
from tests.conftest import ROOT, write_tiny_params

# a writer that writes part of its output, says so, and waits to be killed
WRITER = textwrap.dedent(
    """
    import sys, time
    from provena.io import atomic_open
    with atomic_open(sys.argv[1]) as fh:
        fh.write('{"partial": ')
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
        fh.write('1}')
    """
)


def _start(code: str, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _kill_when_writing(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> int:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line == "writing\n", line + proc.stderr.read()  # type: ignore[union-attr]
    os.kill(proc.pid, sig)
    return proc.wait(timeout=30)


@pytest.mark.parametrize("before", [None, {"complete": True}])
def test_a_killed_writer_leaves_the_previous_file_or_none_and_its_temp_is_removed_next(
    tmp_path, before
):
    target = tmp_path / "out" / "metrics.json"
    if before is not None:
        write_json(target, before)
    proc = _start(WRITER, str(target))
    assert _kill_when_writing(proc) == -signal.SIGKILL
    # a reader finds the previous complete file, or none: never '{"partial": '
    if before is None:
        assert not target.exists()
    else:
        assert json.loads(target.read_text()) == before
    (left,) = target.parent.glob(".metrics.json.*.tmp")
    assert left.read_text() == '{"partial": '
    assert left.name.startswith(f".metrics.json.{proc.pid}.")  # a dot file: ingest skips it
    assert stale_temp_files(target) == [left]
    write_json(target, {"rerun": 1})
    assert json.loads(target.read_text()) == {"rerun": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_a_live_writers_temp_file_is_not_stale(tmp_path):
    target = tmp_path / "records.jsonl"
    proc = _start(WRITER, str(target))
    try:
        assert proc.stdout.readline() == "writing\n"  # type: ignore[union-attr]
        (live,) = tmp_path.glob(".records.jsonl.*.tmp")
        assert stale_temp_files(target) == []
        # another file's temp file is never taken for this one's, even with a shared prefix
        assert stale_temp_files(tmp_path / "records") == []
        assert live.exists()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert stale_temp_files(target) == [live]


STAGE = textwrap.dedent(
    """
    import sys, time
    from provena.io import atomic_open
    from provena.stage import run_stage, stage_parser

    def body(args, params):
        with atomic_open("out.json") as fh:
            fh.write("half")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)

    run_stage("fault_probe", body, stage_parser("probe"))
    """
)


def test_a_terminated_stage_exits_143_and_leaves_no_temp_file(tmp_path):
    write_tiny_params(tmp_path / "params.yaml")
    proc = _start(STAGE, cwd=tmp_path)
    assert _kill_when_writing(proc, signal.SIGTERM) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "adapter"
    with atomic_dir(target) as d:
        (d / "weights").write_text("v1")
    assert (target / "weights").read_text() == "v1"
    with pytest.raises(RuntimeError, match="killed mid-save"), atomic_dir(target) as d:
        (d / "weights").write_text("v2, half")
        raise RuntimeError("killed mid-save")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
    assert sorted(p.name for p in target.iterdir()) == ["weights"]
    assert (target / "weights").read_text() == "v1"
    # what a SIGKILLed writer (a pid no process has) left is removed by the next write
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    (tmp_path / f".adapter.{dead}.dir").mkdir()
    (tmp_path / f".adapter.{dead}.dir" / "weights").write_text("v3, half")
    with atomic_dir(target) as d:
        (d / "weights").write_text("v3")
        (d / "config.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "weights"]


def test_a_half_written_checkpoint_is_never_resumed_from(tmp_path):
    def ckpt(name: str, step: int) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "trainer_state.json").write_text(
            json.dumps({"step": step, "fingerprint": "f"})
        )

    ckpt("step-0000003", 3)
    ckpt(".tmp-step-0000006", 6)  # killed between writing and renaming it
    assert latest_checkpoint(tmp_path, "f", max_steps=9) == tmp_path / "step-0000003"


def test_resuming_repairs_the_training_logs_a_kill_tore(tmp_path):
    """dvclive appends curve lines and rewrites its summary in place: a kill can leave a torn
    last line and an empty summary, which dvclive's resume would fail to read."""
    from provena.train.loop import live_logger, trim_live_logs

    curve = tmp_path / "plots" / "metrics" / "train" / "loss.tsv"
    curve.parent.mkdir(parents=True)
    curve.write_text("step\tloss\n2\t6.9\n4\t6.8\n6")  # killed while appending step 6
    (tmp_path / "metrics.json").write_text("")  # killed while rewriting the summary
    trim_live_logs(tmp_path, 4)
    assert curve.read_text() == "step\tloss\n2\t6.9\n4\t6.8\n"
    assert not (tmp_path / "metrics.json").exists()
    live = live_logger(tmp_path, resume=True)  # reads the summary back: must not fail
    live.step = 5
    live.log_metric("train/loss", 6.7)
    live.make_summary()  # written whole (temp file, then rename): no temp file is left
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "step": 5,
        "train": {"loss": 6.7},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "plots"]
