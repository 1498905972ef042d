"""DDSAS Fig. 6b analogue: step time and memory as functions of the subspace size L.

On the DARTS supernet (14 edges x 8 ops per cell type), one search step = one DDSAS
architecture step on a valid batch + one weight step (SGD) on a train batch, exactly as the
one-shot loop does it. For every L the subspace Z is sampled once (M is larger than the number
of steps) and stays fixed while timing; plain DARTS (all ops, softmax) is the reference.

Memory: ``saved MB`` is the size of the tensors autograd keeps for the backward pass of the
weight step (distinct storages) -- the activation memory that the subspace controls, measured
the same way on every device; on CUDA, ``peak MB`` is ``torch.cuda.max_memory_allocated`` of the
whole step. Note that ``none`` is never computed, so ops computed per cell are L minus the
``none`` ops in Z.

    OMP_NUM_THREADS=1 python benchmarks/ddsas_subspace_cost.py            # small CPU setting
    python benchmarks/ddsas_subspace_cost.py --device cuda --C 16 --layers 8 --image 32
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from spacenas.nn.supernets import DARTSSupernet
from spacenas.strategies.oneshot.darts import DARTS
from spacenas.strategies.oneshot.ddsas import DDSAS

LS = (15, 28, 42, 56, 70, 84, 96, 112)


def saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves while ``fn()`` builds its graph."""
    seen: dict[int, int] = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


class Runner:
    """One configuration: a supernet, a strategy and the loop's step (arch step + weight step)."""

    def __init__(self, strategy, net, batch, device: torch.device) -> None:
        self.st, self.net, self.batch, self.device = strategy, net, batch, device
        self.opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.times: list[float] = []
        self.cpu: list[float] = []  # process CPU time: on a shared CPU less disturbed than wall time
        strategy.setup(net, 1)

    def weight_loss(self):
        x, y = self.batch
        return F.cross_entropy(self.st.forward(self.net, x, arch_grad=False), y)

    def step(self, record: bool = True) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        self.st.arch_step(self.net, self.batch)
        self.opt.zero_grad(set_to_none=True)
        self.weight_loss().backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if record:
            self.times.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)

    def peak_mb(self) -> float:
        """Peak CUDA memory of one step (NaN on other devices)."""
        if self.device.type != "cuda":
            return float("nan")
        torch.cuda.reset_peak_memory_stats(self.device)
        self.step(record=False)
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def saved_mb(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        return saved_bytes(self.weight_loss) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--C", type=int, default=4)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--image", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--Ls", type=int, nargs="*", default=list(LS))
    a = ap.parse_args()
    device = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, 3, a.image, a.image, generator=g).to(device)
    y = torch.randint(0, 10, (a.batch,), generator=g).to(device)
    print(f"DARTS supernet C={a.C} layers={a.layers} image={a.image} batch={a.batch} device={device} "
          f"threads={torch.get_num_threads()} (best of {a.steps} steps after {a.warmup} warm-up, configurations run round robin)")
    print("| method | L | ops computed / cell | ms / step (wall) | CPU ms / step | saved MB | peak MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = [("DDSAS", L) for L in a.Ls] + [("DARTS", 112)]
    runners = []
    for name, L in rows:
        net = DARTSSupernet(C=a.C, layers=a.layers, generator=torch.Generator().manual_seed(1)).to(device)
        gen = torch.Generator(device=device).manual_seed(0)
        if name == "DDSAS":
            st = DDSAS(net.arch_shapes(), {"L": L, "M": 10_000}, generator=gen, device=device)
        else:
            st = DARTS(net.arch_shapes(), {}, generator=gen, device=device)
        runners.append(Runner(st, net, (x, y), device))
    # round robin over the configurations, so that a burst of other load hits all of them
    for r in range(a.warmup + a.steps):
        for run in runners:
            run.step(record=r >= a.warmup)
    for (name, L), run in zip(rows, runners):
        if name == "DDSAS":
            z = run.st.sampler.z
            ops = sum(int(z[k][:, 1:].sum()) for k in z) / len(z)  # column 0 is `none`
        else:
            ops = 14 * 7
        print(f"| {name} | {L} | {ops:.0f} | {1000 * min(run.times):.1f} | {1000 * min(run.cpu):.1f} | {run.saved_mb():.1f} "
              f"| {run.peak_mb():.1f} |", flush=True)


if __name__ == "__main__":
    main()
