"""Data-parallel training across processes started by ``torchrun`` or ``accelerate launch``.

Both launchers set ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. With ``WORLD_SIZE`` > 1 the train stage joins a process group (nccl on CUDA,
gloo on a CPU), each rank trains on ``cuda:LOCAL_RANK`` (or the CPU), takes a disjoint share of
every optimizer step's micro-batches (:func:`rank_share`), and its LoRA gradients are averaged
by ``DistributedDataParallel``. Rank 0 alone writes files; the others wait at a barrier. With
``WORLD_SIZE`` unset or 1 nothing here does anything: a single process trains as it always has.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from provena.errors import UserError

log = logging.getLogger(__name__)
T = TypeVar("T")
ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place among the training processes (world size 1: a single process)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """The sums over all ranks (float64, so token counts stay exact)."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            t = t.cuda()
        torch.distributed.all_reduce(t)
        return t.cpu().tolist()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out


SINGLE = DistContext()


def context_from_env(environ: Mapping[str, str]) -> DistContext:
    """The context a launcher's variables describe; a clear error where they contradict."""
    raw = {k: environ.get(k) for k in ENV}
    if raw["WORLD_SIZE"] in (None, "", "1"):
        return SINGLE
    values = {}
    for key, value in raw.items():
        try:
            values[key] = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UserError(
                f"environment: {key}={value!r} is not an integer (WORLD_SIZE="
                f"{raw['WORLD_SIZE']} needs WORLD_SIZE, RANK and LOCAL_RANK: launch with "
                "torchrun or accelerate launch)"
            ) from None
    world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UserError(
            f"environment: RANK={rank}, LOCAL_RANK={local} do not fit WORLD_SIZE={world}"
        )
    return DistContext(world, rank, local)


def rank_share(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Rank ``rank``'s items: every ``world_size``-th from its own index (disjoint, and the
    ranks together hold every item once)."""
    return list(items[rank::world_size])


def device_for(device: str, ctx: DistContext) -> str:
    """The device this rank trains on: its own GPU (``cuda:LOCAL_RANK``) when there are several
    processes, else the precision's device unchanged."""
    return f"cuda:{ctx.local_rank}" if ctx.enabled and device == "cuda" else device


@contextmanager
def process_group(environ: Mapping[str, str] | None = None) -> Iterator[DistContext]:
    """Join the launcher's process group for the length of the block (nothing for a single
    process); the group is destroyed on the way out, on errors too."""
    ctx = context_from_env(os.environ if environ is None else environ)
    if not ctx.enabled:
        yield ctx
        return
    cuda = torch.cuda.is_available()
    if cuda:
        if ctx.local_rank >= torch.cuda.device_count():
            raise UserError(
                f"LOCAL_RANK={ctx.local_rank} but only {torch.cuda.device_count()} CUDA devices "
                "are visible: start at most one process per GPU"
            )
        torch.cuda.set_device(ctx.local_rank)  # before any CUDA work: NCCL binds to it
    backend = "nccl" if cuda else "gloo"
    torch.distributed.init_process_group(backend=backend)
    log.info("data parallel: rank %d of %d (%s)", ctx.rank, ctx.world_size, backend)
    try:
        yield ctx
    finally:
        torch.distributed.destroy_process_group()


def wrap(model: Any, ctx: DistContext, device: str) -> Any:
    """``model`` in ``DistributedDataParallel`` (the model itself for a single process).

    Only trainable (LoRA) parameters are synchronized: every rank loaded the same frozen base
    from the same files, and broadcasting it would send the whole base model (4-bit weights
    included, whose quantization state a broadcast does not carry). Buffers are left out too:
    training changes none (rotary tables are computed the same on every rank)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    frozen += [n for n, _ in model.named_buffers()]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, frozen)
    return DistributedDataParallel(
        model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None
    )


def unwrap(model: Any) -> Any:
    """The model inside a ``DistributedDataParallel`` wrapper (or the model itself)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model
