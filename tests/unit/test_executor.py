"""executor, the local kind: setup once, results in order, the input read as workers take it,
workers forked with the driver frozen; Ray missing is a clear error. On Ray (a local Ray
started for the tests, and scrub_pii and clean on either kind) in
tests/pipeline/test_executor_ray.py."""

from __future__ import annotations

import sys

import pytest

from provena import executor
from provena.config import ExecutorConfig
from provena.errors import UserError
from tests.helpers.executor import BATCHES
from tests.helpers.executor import double as _double
from tests.helpers.executor import frozen_count as _frozen_count
from tests.helpers.executor import tag as _tag
from tests.helpers.executor import token as _token


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


def test_local_pool_forks_its_workers_with_the_driver_frozen_then_unfreezes() -> None:
    import gc

    out = list(executor.map_batches(BATCHES, _frozen_count, workers=2))
    assert all(n > 1000 for n in out)  # the workers inherited the driver's objects frozen
    assert gc.get_freeze_count() == 0  # and the driver collects its own as before
