"""Multi-process one-shot search (torchrun / ``torch.distributed``).

* Supernet weights: :class:`~torch.nn.parallel.DistributedDataParallel` (gradient all-reduce
  in the weight step; ``find_unused_parameters=True`` because masked ops are not computed).
* Architecture parameters: every rank computes its gradients on its own valid shard; the
  gradients are **averaged with an all-reduce before the Adam step** (installed as the
  strategy's ``grad_reducer``). All ranks start from the same seed, so their architecture
  parameters and their Dirichlet/Gumbel samples stay identical.
* Derivation happens on rank 0 only and the arch is broadcast, so all ranks report the same
  architecture; only rank 0 writes the log and checkpoints.
* Data: each epoch's permutation comes from the shared seed; rank ``r`` takes every
  ``world``-th index starting at ``r`` (the permutation is cut to a multiple of ``world``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistributedContext:
    """Rank, world size and the collective helpers used by the bi-level loop."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_process_group(cls, device: torch.device | str = "cpu") -> DistributedContext | None:
        """The context of the initialised default process group, or None when there is none."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return None
        return cls(dist.get_rank(), dist.get_world_size(), torch.device(device))

    def wrap(self, module: nn.Module) -> nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def average_(self, tensors: list[torch.Tensor]) -> None:
        """All-reduce-average ``tensors`` in place (one flat collective)."""
        if not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        i = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[i:i + n].view_as(t))
            i += n

    def install(self, strategy) -> None:
        """Make ``strategy`` average its architecture gradients across ranks."""
        strategy.grad_reducer = self.average_

    def broadcast(self, obj: Any) -> Any:
        """``obj`` from rank 0 on every rank."""
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()


def init_from_env(device: str = "cpu") -> tuple[DistributedContext | None, torch.device]:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE`` > 1).

    Returns the context (None for a single process) and this rank's device: ``cuda`` becomes
    ``cuda:LOCAL_RANK`` (backend nccl), anything else uses gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = torch.device(device)
    if world <= 1:
        return None, dev
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistributedContext.from_process_group(dev), dev
