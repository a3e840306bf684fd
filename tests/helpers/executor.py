"""Batch functions the executor tests map, on the local kind (tests/unit/test_executor.py) and
on Ray (tests/pipeline/test_executor_ray.py): importable, so Ray's workers and the local pool's
forked workers find them."""

from __future__ import annotations

import uuid

#: 20 batches of two numbers each: 0..39 in order
BATCHES = [[i, i + 1] for i in range(0, 40, 2)]


def token() -> str:
    """A setup function: a new token each time it is called."""
    return uuid.uuid4().hex


def tag(state: str, batch: list[int]) -> tuple[str, list[int]]:
    """The batch times ten, with the state its worker was set up with."""
    return state, [x * 10 for x in batch]


def double(batch: list[int]) -> list[int]:
    return [x * 2 for x in batch]


def frozen_count(batch: list[int]) -> int:
    """How many objects the worker's garbage collector holds frozen."""
    import gc

    return gc.get_freeze_count()
