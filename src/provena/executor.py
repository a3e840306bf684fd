"""Where the curation stages' record functions run: this process, a process pool, or Ray Data.

A stage hands :func:`map_batches` its input already cut into batches (its own batch size, so
the output files are the same whatever runs the work) and a pure function per batch; results
come back in input order. The ledger, the report and anything global (deduplication) stay in
the driver.

- ``kind: local``: the function runs here, or in a pool of ``workers`` processes, each with
  its state built once (what the stages did before there was an executor).
- ``kind: ray``: the batches go into a Ray Dataset (``from_items``) and through
  ``map_batches``: with a ``setup`` (models to load: spaCy, Presidio) on an actor pool of
  ``executor.actors`` actors that each build the state once; without one, as plain tasks.
  Order is kept by Ray Data's ``preserve_order`` and checked against each batch's index.
  The input travels through the driver into Ray's object store and the results come back to
  it, so paths in params (a tokenizer, say) must be readable on the workers too. It goes a
  window of ``executor.window_records`` records at a time (one Dataset each), so the driver
  never holds more than a window of input, whatever the size of the data; each window starts
  its own actor pool (a model load per actor and window: keep windows large).

Ray is started here when no Ray is running in this process (``address: null`` starts a local
one with ``num_cpus``; an address connects to a cluster) and shut down at the end only when
it was started here. Usage stats are off, there is no dashboard, and Ray keeps its files
under the system temp folder, never in the project.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import itertools
import logging
import os
import pickle
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from provena.config import ExecutorConfig
from provena.errors import UserError

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)

LOCAL = ExecutorConfig()
IN_FLIGHT_PER_WORKER = 3  # batches queued per worker: enough to keep it busy, no more


def map_batches(
    batches: Iterable[T],
    fn: Callable[..., R],
    *,
    cfg: ExecutorConfig = LOCAL,
    setup: Callable[[], Any] | None = None,
    workers: int = 1,
    records_per_batch: int = 1,
) -> Generator[R, None, None]:
    """``fn(state, batch)`` (with ``setup``) or ``fn(batch)`` (without) for every batch, in
    input order.

    ``setup`` builds per-worker state once (it and ``fn`` must pickle: top-level functions or
    ``functools.partial`` of them). ``workers`` > 1 runs the local kind in a process pool.
    ``records_per_batch`` is the stage's batch size, so that one Ray ``map_batches`` call gets
    about ``cfg.batch_size`` records. Close the generator (``contextlib.closing``) to stop a
    pool or a Ray started here as soon as the caller stops.
    """
    if cfg.kind == "ray":
        return _ray_map(batches, fn, cfg=cfg, setup=setup, records_per_batch=records_per_batch)
    return _local_map(batches, fn, setup=setup, workers=workers)


# ------------------------------------------------------------------------------------- local

_STATE: Any = None
_FN: Callable[..., Any] | None = None


def _init_worker(setup: Callable[[], Any] | None, fn: Callable[..., Any]) -> None:
    global _STATE, _FN
    _STATE, _FN = (setup() if setup is not None else None), fn


def _pool_call(batch: Any) -> Any:
    assert _FN is not None
    return _FN(batch) if _STATE is None else _FN(_STATE, batch)


def _submit_frozen(pool: ProcessPoolExecutor, batch: Any) -> Future[Any]:
    """The first submit, which forks the workers, with this process's objects frozen out of
    the garbage collector (``gc.freeze``): a collection in a forked child writes to every
    tracked object it inherited, so without it each worker would soon hold its own copy of
    every page of the driver's modules and data, instead of sharing them."""
    gc.freeze()
    try:
        return pool.submit(_pool_call, batch)
    finally:
        gc.unfreeze()


def _local_map(
    batches: Iterable[T],
    fn: Callable[..., R],
    *,
    setup: Callable[[], Any] | None,
    workers: int,
) -> Generator[R, None, None]:
    if workers <= 1:
        if setup is None:
            yield from (fn(b) for b in batches)
        else:
            state = setup()
            yield from (fn(state, b) for b in batches)
        return
    pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(setup, fn))
    # a bounded window of batches in flight: Executor.map would submit (read and pickle) the
    # whole input up front, so the driver would hold every record at once
    pending: collections.deque[Future[R]] = collections.deque()
    try:
        for i, b in enumerate(batches):
            # the first submit starts (forks) the workers
            pending.append(_submit_frozen(pool, b) if i == 0 else pool.submit(_pool_call, b))
            if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


# --------------------------------------------------------------------------------------- ray


@contextlib.contextmanager
def ray_runtime(cfg: ExecutorConfig) -> Iterator[None]:
    """Ray for the duration of the block: the one already running in this process, or one
    started (or connected to) here and shut down on exit."""
    # before ray is imported: its usage-stats reporter would otherwise try the network
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as err:
        raise UserError(
            "executor.kind is 'ray' but Ray is not installed: pip install 'provena[ray]' "
            "(or set executor.kind: local)"
        ) from err
    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,  # worker chatter would bury the stage's own log
        "logging_level": logging.WARNING,
    }
    if cfg.address:
        kwargs["address"] = cfg.address
    else:
        # a Ray started here keeps its sessions and spill files in the system temp folder
        kwargs["num_cpus"] = cfg.num_cpus
        kwargs["_temp_dir"] = os.path.join(tempfile.gettempdir(), "ray")
    ray.init(**kwargs)
    try:
        yield
    finally:
        ray.shutdown()


class _RayActor:
    """One Ray Data actor: builds the state once, then runs the batch function on its rows."""

    def __init__(self, setup: Callable[[], Any] | None, fn: Callable[..., Any]):
        self.state = setup() if setup is not None else None
        self.fn = fn

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        return _apply(self.fn, self.state, rows)


def _ray_task(rows: dict[str, Any], fn: Callable[..., Any]) -> dict[str, Any]:
    return _apply(fn, None, rows)


def _apply(fn: Callable[..., Any], state: Any, rows: dict[str, Any]) -> dict[str, Any]:
    # every row is one stage batch, pickled: Arrow never sees (or reshapes) a record's fields
    out = []
    for blob in rows["blob"]:
        batch = pickle.loads(blob)
        out.append(pickle.dumps(fn(batch) if state is None else fn(state, batch)))
    return {"idx": list(rows["idx"]), "blob": out}


def _ray_map(
    batches: Iterable[T],
    fn: Callable[..., R],
    *,
    cfg: ExecutorConfig,
    setup: Callable[[], Any] | None,
    records_per_batch: int,
) -> Generator[R, None, None]:
    with ray_runtime(cfg):
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False  # the stage draws its own
        rows_per_call = max(1, cfg.batch_size // max(1, records_per_batch))
        per_window = max(1, cfg.window_records // max(1, records_per_batch))
        it = iter(batches)
        start = 0
        while True:
            items = [
                {"idx": start + i, "blob": pickle.dumps(b)}
                for i, b in enumerate(itertools.islice(it, per_window))
            ]
            if not items:
                return
            n = len(items)
            ds = ray.data.from_items(items, override_num_blocks=min(n, 200))
            del items  # in Ray's object store now
            if setup is not None:
                ds = ds.map_batches(
                    _RayActor,
                    fn_constructor_args=(setup, fn),
                    compute=ray.data.ActorPoolStrategy(size=cfg.actors),
                    batch_size=rows_per_call,
                    batch_format="numpy",
                )
            else:
                ds = ds.map_batches(
                    functools.partial(_ray_task, fn=fn),
                    batch_size=rows_per_call,
                    batch_format="numpy",
                )
            yield from _in_order(ds.iter_rows(), n, start)
            start += n


def _in_order(rows: Iterable[dict[str, Any]], n: int, start: int = 0) -> Iterator[Any]:
    """Results by batch index (``start`` to ``start + n - 1``): Ray Data keeps order with
    preserve_order, but should a row come early it waits here rather than land in the wrong
    place of the output."""
    pending: dict[int, bytes] = {}
    want = start
    for row in rows:
        pending[int(row["idx"])] = row["blob"]
        while want in pending:
            yield pickle.loads(pending.pop(want))
            want += 1
    if want != start + n:
        raise RuntimeError(f"executor: {n} batches went out, {want - start} came back in order")


__all__ = ["map_batches", "ray_runtime"]
