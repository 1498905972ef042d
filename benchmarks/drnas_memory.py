"""DrNAS Table 1 analogue: memory and step time of the NB201 supernet vs the partial-channel
fraction 1/k, the DrNAS progressive stages, and the number of active (unmasked) ops.

What is measured, per configuration, on one training step (forward, cross-entropy backward,
SGD step) of ``NB201Supernet(C, N)`` on random CIFAR-sized input (the weights are uniform
mixing weights, the DARTS/DrNAS forward):

* ``--device cuda``: ``torch.cuda.max_memory_allocated`` over the step (after
  ``reset_peak_memory_stats``): the real peak of everything allocated, as in the paper's table.
* ``--device cpu``: the bytes of the distinct tensor storages autograd saves for backward during
  the forward (captured with ``torch.autograd.graph.saved_tensors_hooks``), not counting the
  parameters themselves; reported as ``saved MB`` next to the parameter + gradient bytes. This
  is the activation memory that partial channels and masks reduce; it is not the process peak.
* step time: median over ``--steps`` timed steps after 2 warm-up steps (``cuda.synchronize``
  on GPU).

Run: ``OMP_NUM_THREADS=1 python benchmarks/drnas_memory.py --batch 16`` (CPU) or
``python benchmarks/drnas_memory.py --device cuda --batch 64``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spacenas.nn.supernets import NB201Supernet
from spacenas.spaces.nb201 import OPS


def measure(net, x, y, w, masks, device: torch.device, steps: int) -> tuple[float, float]:
    """(memory MB, median step ms) of forward + backward + SGD step."""
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, w, masks), y).backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(1000 * (time.perf_counter() - t))
    if device.type == "cuda":
        opt.zero_grad(set_to_none=True)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        mem = torch.cuda.max_memory_allocated(device)
    else:
        params = {p.untyped_storage().data_ptr() for p in net.parameters()}
        seen: dict[int, int] = {}

        def pack(t):
            s = t.untyped_storage()
            if s.data_ptr() not in params:
                seen[s.data_ptr()] = s.nbytes()
            return t

        opt.zero_grad(set_to_none=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = F.cross_entropy(net(x, w, masks), y)
        loss.backward()
        mem = sum(seen.values())
    return mem / 2**20, statistics.median(times)


def param_mb(net) -> float:
    return 2 * sum(p.numel() * p.element_size() for p in net.parameters()) / 2**20  # weights + grads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g).to(dev)
    y = torch.randint(0, 10, (a.batch,), generator=g).to(dev)
    w = {"cell": torch.full((6, 5), 0.2, device=dev, requires_grad=True)}
    mem_col = "peak MB (cuda max allocated)" if dev.type == "cuda" else "saved-for-backward MB"
    print(f"NB201 supernet C={a.C} N={a.N}, batch {a.batch}, {a.size}x{a.size}, device {dev}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    def build(k: int) -> NB201Supernet:
        net = NB201Supernet(C=a.C, N=a.N, generator=torch.Generator().manual_seed(a.seed)).to(dev)
        net.set_partial_channels(k, torch.Generator().manual_seed(a.seed))
        return net.to(dev)

    print(f"\n| config | active ops/edge | {mem_col} | params+grads MB | step ms |")
    print("| --- | --- | --- | --- | --- |")
    for k in (1, 2, 4, 8):
        net = build(k)
        mem, ms = measure(net, x, y, w, None, dev, a.steps)
        print(f"| partial 1/{k} | 5 | {mem:.1f} | {param_mb(net):.2f} | {ms:.1f} |")
    # DrNAS progressive on NB201 (reference code): stage 1 k=4 with 5 ops, stage 2 widened to
    # k=2 with 3 ops kept per edge (here the 3 costliest: nor_conv_1x1, nor_conv_3x3, avg_pool).
    net = build(4)
    mem, ms = measure(net, x, y, w, None, dev, a.steps)
    print(f"| progressive stage 1 (k=4) | 5 | {mem:.1f} | {param_mb(net):.2f} | {ms:.1f} |")
    net.widen(2, torch.Generator().manual_seed(a.seed + 1))
    keep = torch.tensor([o in ("none", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3") for o in OPS], device=dev)
    mask = {"cell": keep.expand(6, 5).clone()}
    mem, ms = measure(net, x, y, w, mask, dev, a.steps)
    print(f"| progressive stage 2 (widened, k=2) | 3 | {mem:.1f} | {param_mb(net):.2f} | {ms:.1f} |")
    net.widen(2, torch.Generator().manual_seed(a.seed + 2))
    keep = torch.tensor([o in ("none", "nor_conv_3x3", "avg_pool_3x3") for o in OPS], device=dev)
    mem, ms = measure(net, x, y, w, {"cell": keep.expand(6, 5).clone()}, dev, a.steps)
    print(f"| progressive 3rd stage (full width, k=1) | 2 | {mem:.1f} | {param_mb(net):.2f} | {ms:.1f} |")

    print(f"\n| mask: active ops/edge (k=1) | ops | {mem_col} | step ms |")
    print("| --- | --- | --- | --- |")
    net = build(1)
    order = ["skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
    for n in range(1, len(order) + 1):
        keep = torch.tensor([o == "none" or o in order[:n] for o in OPS], device=dev)
        mem, ms = measure(net, x, y, w, {"cell": keep.expand(6, 5).clone()}, dev, a.steps)
        print(f"| {n} | {', '.join(order[:n])} | {mem:.1f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
