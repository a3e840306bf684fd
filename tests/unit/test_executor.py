"""executor: the local kind and Ray Data give the same results in the same order, and scrub_pii
and clean write byte-identical outputs on the tiny profile with either kind (a local Ray with
two CPUs, started here)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provena import clean, executor, scrub_pii
from provena.config import ExecutorConfig, load_params
from provena.errors import UserError
from tests.conftest import ROOT, TINY, tiny_ingested


def _token() -> str:
    return uuid.uuid4().hex


def _tag(state: str, batch: list[int]) -> tuple[str, list[int]]:
    return state, [x * 10 for x in batch]


def _double(batch: list[int]) -> list[int]:
    return [x * 2 for x in batch]


BATCHES = [[i, i + 1] for i in range(0, 40, 2)]


def _frozen_count(batch: list[int]) -> int:
    import gc

    return gc.get_freeze_count()


# ------------------------------------------------------------------------------ no Ray needed


def test_local_runs_setup_once_and_keeps_order() -> None:
    out = list(executor.map_batches(BATCHES, _tag, setup=_token))
    assert {s for s, _ in out} == {out[0][0]}  # one state for every batch
    assert [b for _, b in out] == [[10 * i, 10 * i + 10] for i in range(0, 40, 2)]


def test_local_pool_keeps_order() -> None:
    out = list(executor.map_batches(BATCHES, _tag, setup=_token, workers=2))
    assert [b for _, b in out] == [[10 * i, 10 * i + 10] for i in range(0, 40, 2)]
    assert len({s for s, _ in out}) <= 2  # built once per worker process, not per batch


def test_local_pool_reads_the_input_as_the_workers_take_it() -> None:
    read = []

    def batches():
        for i in range(40):
            read.append(i)
            yield [i]

    results = executor.map_batches(batches(), _double, workers=2)
    assert next(results) == [0]
    # a bounded window, not the whole input pickled and queued before the first result
    assert len(read) <= executor.IN_FLIGHT_PER_WORKER * 2 + 1
    assert [r[0] for r in results] == [2 * i for i in range(1, 40)]
    assert len(read) == 40


def test_in_order_waits_for_an_early_row() -> None:
    import pickle

    rows = [{"idx": i, "blob": pickle.dumps(f"b{i}")} for i in (1, 0, 3, 2)]
    assert list(executor._in_order(rows, 4)) == ["b0", "b1", "b2", "b3"]
    with pytest.raises(RuntimeError, match="3 batches went out, 2 came back in order"):
        list(executor._in_order(rows[:2], 3))


def test_ray_missing_is_a_user_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UserError) as err:
        list(executor.map_batches(BATCHES, _double, cfg=ExecutorConfig(kind="ray")))
    assert str(err.value) == (
        "executor.kind is 'ray' but Ray is not installed: pip install 'provena[ray]' "
        "(or set executor.kind: local)"
    )


# ---------------------------------------------------------------------------------- on Ray


def test_ray_started_here_is_shut_down_here() -> None:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'provena[ray]')")
    if ray.is_initialized():
        pytest.skip("a Ray is already running in this process: the executor would reuse it")
    sessions = Path(tempfile.gettempdir(), "ray")
    before = set(sessions.glob("session_2*"))
    cfg = ExecutorConfig(kind="ray", num_cpus=1)
    out = list(executor.map_batches(BATCHES, _double, cfg=cfg, records_per_batch=2))
    assert out == [[2 * i, 2 * i + 2] for i in range(0, 40, 2)]
    assert not ray.is_initialized()  # started by the executor, so shut down by it
    assert set(sessions.glob("session_2*")) - before  # its files went to the system temp folder
    assert not list(ROOT.glob("session_*"))


@pytest.fixture(scope="module")
def ray_local():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'provena[ray]')")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(tempfile.gettempdir(), "ray"),
    )
    yield ray
    ray.shutdown()


RAY = ExecutorConfig(kind="ray", batch_size=4, actors=2)


def test_ray_tasks_keep_order(ray_local) -> None:
    out = list(executor.map_batches(BATCHES, _double, cfg=RAY, records_per_batch=2))
    assert out == [[2 * i, 2 * i + 2] for i in range(0, 40, 2)]
    assert ray_local.is_initialized()  # a Ray this process started before is left running


def test_ray_actors_build_state_once_each(ray_local) -> None:
    cfg = RAY.model_copy(update={"actors": 1})
    out = list(executor.map_batches(BATCHES, _tag, cfg=cfg, setup=_token, records_per_batch=2))
    assert [b for _, b in out] == [[10 * i, 10 * i + 10] for i in range(0, 40, 2)]
    assert len({s for s, _ in out}) == 1  # one actor, one setup, 20 batches


def test_ray_sends_the_input_a_window_at_a_time_in_order(ray_local) -> None:
    taken = []

    def source():
        for b in BATCHES:
            taken.append(b)
            yield b

    cfg = RAY.model_copy(update={"window_records": 6})  # 3 batches of 2 records per Dataset
    results = executor.map_batches(source(), _double, cfg=cfg, records_per_batch=2)
    first = next(results)
    assert first == [0, 2] and len(taken) == 3  # the first window only, not the whole input
    out = [first, *results]
    assert out == [[2 * i, 2 * i + 2] for i in range(0, 40, 2)] and len(taken) == 20


def test_ray_with_no_batches(ray_local) -> None:
    assert list(executor.map_batches([], _double, cfg=RAY)) == []


def _md5s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _scrub(inp: Path, raw: Path, out: Path, ex: ExecutorConfig) -> dict:
    out.mkdir()
    return scrub_pii.run(
        inp,
        load_params(TINY).scrub_pii,
        out=out / "scrub_pii.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        metrics=out / "metrics.json",
        report_json=out / "report.json",
        report_html=out / "report.html",
        gold_paths=[raw / "_gold" / "pii_spans.jsonl"],
        executor=ex,
    )


def _clean(inp: Path, raw: Path, out: Path, ex: ExecutorConfig) -> dict:
    out.mkdir()
    return clean.run(
        inp,
        load_params(TINY).clean,
        out=out / "clean.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        metrics=out / "metrics.json",
        report_json=out / "report.json",
        report_html=out / "report.html",
        labels=[raw / "_gold" / "labels.jsonl"],
        root=ROOT,
        executor=ex,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tiny")
    return tiny_ingested(tmp), tmp / "raw" / "default"


def test_scrub_pii_and_clean_same_outputs_local_and_ray(ray_local, tiny, tmp_path) -> None:
    inp, raw = tiny
    ray_cfg = load_params(TINY).executor.model_copy(update={"kind": "ray", "actors": 2})
    scrub_local = _scrub(inp, raw, tmp_path / "scrub_local", ExecutorConfig())
    scrub_ray = _scrub(inp, raw, tmp_path / "scrub_ray", ray_cfg)
    # not an empty equality: the tiny data has PII, and some of it is found
    assert scrub_local["books"]["records_in"] == pq.ParquetFile(inp).metadata.num_rows == 321
    assert scrub_local["summary"]["pii_entities"] > 0
    assert scrub_ray == scrub_local
    assert _md5s(tmp_path / "scrub_ray") == _md5s(tmp_path / "scrub_local")

    scrubbed = tmp_path / "scrub_local" / "scrub_pii.parquet"
    clean_local = _clean(scrubbed, raw, tmp_path / "clean_local", ExecutorConfig())
    clean_ray = _clean(scrubbed, raw, tmp_path / "clean_ray", ray_cfg)
    assert clean_local["books"]["records_quarantined"] > 0
    assert clean_ray == clean_local
    assert _md5s(tmp_path / "clean_ray") == _md5s(tmp_path / "clean_local")


def test_local_pool_forks_its_workers_with_the_driver_frozen_then_unfreezes() -> None:
    import gc

    out = list(executor.map_batches(BATCHES, _frozen_count, workers=2))
    assert all(n > 1000 for n in out)  # the workers inherited the driver's objects frozen
    assert gc.get_freeze_count() == 0  # and the driver collects its own as before
