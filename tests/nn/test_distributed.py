"""Two CPU processes (gloo): DDP weights, all-reduced arch gradients, derive on rank 0."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from spacenas.nn.supernet_base import Supernet
from spacenas.spaces.nb201 import OPS, NB201Space


class TinySupernet(Supernet):
    """NB201-shaped: one linear 'op' per (edge, op) summed into the output; masked ops skipped."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.space = NB201Space()
        self.ops = nn.Parameter(torch.randn(6, 5, 4, 3, generator=g) * 0.5)

    def arch_shapes(self):
        return {"cell": (6, 5)}

    @property
    def op_names(self):
        return OPS

    def forward(self, x, weights, masks=None, act_weights=None):
        w = weights["cell"]
        if masks is not None:
            w = w * masks["cell"]
        return torch.einsum("eo,eoid,ni->nd", w, torch.tanh(self.ops), x)

    def derive(self, scores, masks=None):
        return self.space.make(scores["cell"].argmax(1).tolist())


def _data(seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(64) % 3
    return torch.randn(64, 4, generator=g) + nn.functional.one_hot(y, 4).float(), y


def _worker(rank: int, world: int, init_file: str, out_dir: str, methods: tuple[str, ...]) -> None:
    from spacenas import registry
    from spacenas.strategies.oneshot.distributed import DistributedContext
    from spacenas.strategies.oneshot.loop import search

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        ctx = DistributedContext.from_process_group("cpu")
        for method in methods:
            net = TinySupernet()
            s = registry.oneshot_strategy(method)(net.arch_shapes(), {"arch_lr": 0.05}, torch.Generator().manual_seed(0))
            # the per-rank gradient on this rank's half of one valid batch (differs between ranks)
            xv, yv = _data(2)
            local, _ = s.arch_grads(net, (xv[rank::world][:8], yv[rank::world][:8]))
            res = search(s, net, _data(1), _data(2), {"epochs": 2, "batch_size": 8}, progress=False, distributed=ctx)
            torch.save({"params": s.params["cell"].detach(), "arch": res.arch, "weights": net.ops.detach(),
                        "local_grad": local[0]}, f"{out_dir}/{method}_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, str(d / "init"), str(d), ("darts", "drnas")), nprocs=2, join=True)
    return d


@pytest.mark.parametrize("method", ["darts", "drnas"])
def test_two_ranks_end_with_identical_arch_params_and_arch(method, two_rank_run):
    r0, r1 = (torch.load(two_rank_run / f"{method}_rank{r}.pt", weights_only=False) for r in (0, 1))
    assert not torch.allclose(r0["local_grad"], r1["local_grad"])  # ranks see different data ...
    assert torch.equal(r0["params"], r1["params"])  # ... yet their arch params stay identical
    assert not torch.allclose(r0["params"], torch.zeros(6, 5), atol=1e-2)  # and they did move
    assert r0["arch"] == r1["arch"]
    assert torch.equal(r0["weights"], r1["weights"])  # DDP keeps the weights in sync
