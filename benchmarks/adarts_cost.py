"""A-DARTS search cost: time per search step with and without the activation factor.

Same supernet, same data, same step as the one-shot loop (architecture step on a valid batch,
then a weight step on a train batch): DARTS (each parameterized op keeps its ReLU; one Adam
step on alpha) against A-DARTS (the 9-activation mixture of Eq. 3 feeds the parameterized ops;
Algorithm 1: alpha step, then beta step with a second forward pass; and ``update: joint``, one
pass for both). The paper reports about
+20% search time per epoch; the ratio here is per step, i.e. per epoch for equal epoch sizes.

    OMP_NUM_THREADS=1 python benchmarks/adarts_cost.py                    # NB201 + DARTS, small
    python benchmarks/adarts_cost.py --device cuda --C 16 --image 32 --steps 20
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from spacenas.nn.supernets import DARTSSupernet, NB201Supernet
from spacenas.strategies.oneshot.adarts import ADARTS
from spacenas.strategies.oneshot.darts import DARTS


class Runner:
    """One configuration: the loop's step (arch step + weight step) on a fixed batch."""

    def __init__(self, strategy, net, batch, device: torch.device) -> None:
        self.st, self.net, self.batch, self.device = strategy, net, batch, device
        self.opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.times: list[float] = []
        self.cpu: list[float] = []  # process CPU time: on a shared CPU less disturbed than wall time

    def step(self, record: bool = True) -> None:
        x, y = self.batch
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0, c0 = time.perf_counter(), time.process_time()
        self.st.arch_step(self.net, self.batch)
        self.opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.st.forward(self.net, x, arch_grad=False), y).backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if record:
            self.times.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)


def build(space: str, C: int, layers: int, act: bool, device):
    g = torch.Generator().manual_seed(1)
    if space == "nb201":
        return NB201Supernet(C=C, N=layers, act_mixture=act, generator=g).to(device)
    return DARTSSupernet(C=C, layers=layers, act_mixture=act, generator=g).to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--spaces", nargs="*", default=["nb201", "darts"])
    ap.add_argument("--C", type=int, default=4)
    ap.add_argument("--layers", type=int, default=None, help="NB201: cells per stage N (default 1); DARTS: cells (default 5)")
    ap.add_argument("--image", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    device = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, 3, a.image, a.image, generator=g).to(device)
    y = torch.randint(0, 10, (a.batch,), generator=g).to(device)
    print(f"C={a.C} image={a.image} batch={a.batch} device={device} threads={torch.get_num_threads()} "
          f"(best of {a.steps} steps after {a.warmup} warm-up, configurations run round robin)")
    print("| space | clock | DARTS ms / step | A-DARTS ms / step | A-DARTS / DARTS | A-DARTS joint ms / step | joint / DARTS |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for space in a.spaces:
        layers = a.layers if a.layers is not None else (1 if space == "nb201" else 5)
        runners = {}
        for name, cls, act, cfg in (("darts", DARTS, False, {}), ("adarts", ADARTS, True, {}),
                                    ("joint", ADARTS, True, {"update": "joint"})):
            net = build(space, a.C, layers, act, device)
            gen = torch.Generator(device=device).manual_seed(0)
            runners[name] = Runner(cls(net.arch_shapes(), cfg, generator=gen, device=device), net, (x, y), device)
        for r in range(a.warmup + a.steps):  # round robin: other load hits all three alike
            for run in runners.values():
                run.step(record=r >= a.warmup)
        for clock in ("wall", "cpu"):
            ms = {k: 1000 * min(run.times if clock == "wall" else run.cpu) for k, run in runners.items()}
            print(f"| {space} | {clock} | {ms['darts']:.1f} | {ms['adarts']:.1f} | {ms['adarts'] / ms['darts']:.2f} "
                  f"| {ms['joint']:.1f} | {ms['joint'] / ms['darts']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
