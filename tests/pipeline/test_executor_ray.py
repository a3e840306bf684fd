"""executor on Ray: a local Ray with two CPUs, started here, gives the local kind's results in
the same order, and scrub_pii and clean write byte-identical outputs on the tiny profile with
either kind (the local kind alone is tested in tests/unit/test_executor.py)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provena import clean, executor, scrub_pii
from provena.config import ExecutorConfig
from tests.conftest import ROOT, load_tiny, tiny_ingested
from tests.helpers.executor import BATCHES
from tests.helpers.executor import double as _double
from tests.helpers.executor import tag as _tag
from tests.helpers.executor import token as _token


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
        load_tiny().scrub_pii,
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
        load_tiny().clean,
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
    ray_cfg = load_tiny().executor.model_copy(update={"kind": "ray", "actors": 2})
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
