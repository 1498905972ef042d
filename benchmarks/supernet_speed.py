"""Supernet search-step speed, reference vs fused path, and eval-net training throughput.

    OMP_NUM_THREADS=1 python benchmarks/supernet_speed.py --device cpu --steps 3
    python benchmarks/supernet_speed.py --device cuda --steps 20      # on a GPU
    python benchmarks/supernet_speed.py --device cpu --tiny           # seconds, for a smoke test

Part 1, one **bi-level step** (a first-order DARTS architecture step on a validation batch,
then a weight step: forward with detached mixing weights, backward, gradient clip 5, SGD) on
random CIFAR-shaped data, median over ``--steps`` timed steps after one warm-up step, for the
reference path (``fused=False``, every edge on its own) and the fused path (the default) of

* NB201 supernet C=16, N=5, batch 64;
* DARTS-space supernet C=16, 8 cells, batch 64; and the same with partial channels k=4.

Memory: on CUDA the peak the step allocates above what was allocated before it
(``torch.cuda.max_memory_allocated`` minus ``memory_allocated``; the model, its optimizer
state and the batches are already there); on the CPU the bytes of the tensors autograd saves
for backward during the weight step (deduplicated by storage), which is what dominates a
training step's memory and what fusion changes.

Part 2, the DARTS V2 **evaluation network** (C=36, 20 cells, batch 96, auxiliary head 0.4,
drop-path 0.2) in images/s for fp32, channels_last and bf16 autocast: the **model step** alone
(a fixed batch already on the device) and the **whole loop** (shuffle-index the training
tensor, crop/flip/cutout, step) with the per-image CPU augmentation
(``device_augment=False``) and with the batch-tensor augmentation on the device
(:mod:`spacenas.train.augment`, the default).

Memory layouts (``--layouts``, rows per case): ``default`` compares the two paths as they
run by default (the reference path in today's contiguous layout, the fused path channels-last
on the CPU: :func:`spacenas.nn.fused.fast_layout`); ``contiguous`` and ``channels_last`` force
one layout on both paths, which separates what fusion gains from what the layout gains.
Reference and fused steps alternate (one step of each configuration per round), so that a
change in the machine's load hits both alike.

``--tiny`` shrinks every network and batch so that the whole script runs in seconds. Nothing
here assumes a CPU: tensors, generators and timings follow ``--device`` (CUDA timings
synchronize the device; ``cudnn.benchmark`` is on).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from spacenas.data.splits import ImageTensorDataset, iterate_batches
from spacenas.nn.darts_net import DARTSNet
from spacenas.nn.fused import fast_layout
from spacenas.nn.supernets import DARTSSupernet, NB201Supernet
from spacenas.spaces.darts import DARTSSpace
from spacenas.strategies.oneshot.darts import DARTS
from spacenas.train.augment import augment_batch
from spacenas.train.cutout import cutout

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


#: the timer: wall clock (default) or this process's CPU time (``--clock process``: on a shared,
#: loaded CPU it counts only this process's work; it sums over threads)
CLOCK = [time.perf_counter]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class SavedBytes:
    """Bytes of the distinct storages autograd saves for backward inside the context."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            s = t.untyped_storage()
            self.seen[s.data_ptr()] = s.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    def __enter__(self):
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)

    @property
    def mib(self) -> float:
        return sum(self.seen.values()) / 2**20


def supernet_cases(tiny: bool) -> list[tuple[str, callable, int, int]]:
    """``(name, builder(fused, channels_last, generator), batch, image size)``."""
    if tiny:
        return [("NB201 C=4 N=1 b8", lambda f, cl, g: NB201Supernet(C=4, N=1, fused=f, channels_last=cl, generator=g),
                 8, 16),
                ("DARTS C=4 3 cells b8",
                 lambda f, cl, g: DARTSSupernet(C=4, layers=3, fused=f, channels_last=cl, generator=g), 8, 16),
                ("DARTS C=8 3 cells b8 k=4",
                 lambda f, cl, g: _pc(DARTSSupernet(C=8, layers=3, fused=f, channels_last=cl, generator=g), g), 8, 16)]
    return [("NB201 C=16 N=5 b64", lambda f, cl, g: NB201Supernet(C=16, N=5, fused=f, channels_last=cl, generator=g),
             64, 32),
            ("DARTS C=16 8 cells b64",
             lambda f, cl, g: DARTSSupernet(C=16, layers=8, fused=f, channels_last=cl, generator=g), 64, 32),
            ("DARTS C=16 8 cells b64 k=4",
             lambda f, cl, g: _pc(DARTSSupernet(C=16, layers=8, fused=f, channels_last=cl, generator=g), g), 64, 32)]


def _pc(net, g):
    net.set_partial_channels(4, g)
    return net


def bilevel_stepper(build, fused: bool, channels_last: bool, batch: int, size: int, device: torch.device):
    """A closure running one bi-level step (``measure=True``: under :class:`SavedBytes`), and the net."""
    net = build(fused, channels_last, torch.Generator().manual_seed(0)).to(device)
    strat = DARTS(net.arch_shapes(), {}, torch.Generator().manual_seed(1), device)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(2)
    xv, xt = (torch.randn(batch, 3, size, size, generator=g).to(device) for _ in range(2))
    yv, yt = (torch.randint(0, 10, (batch,), generator=g).to(device) for _ in range(2))
    net.train()
    saved = SavedBytes()

    def step(measure: bool = False) -> None:
        strat.arch_step(net, (xv, yv))
        opt.zero_grad(set_to_none=True)
        if measure:
            with saved:
                loss = F.cross_entropy(strat.forward(net, xt, arch_grad=False), yt)
        else:
            loss = F.cross_entropy(strat.forward(net, xt, arch_grad=False), yt)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
    return step, net, saved


def bilevel_ms(configs: dict, build, batch: int, size: int, steps: int, device: torch.device) -> dict:
    """``{(fused, channels_last): (median ms, MiB, path)}`` for every configuration, timed in
    alternation: each round runs one step of every configuration (round 0 warms up). MiB: on
    CUDA the peak the step allocates above what was allocated before it; on the CPU the tensors
    saved for the weight step's backward."""
    runs = {c: bilevel_stepper(build, *c, batch, size, device) for c in configs}
    times: dict = {c: [] for c in configs}
    mem: dict = {}
    for i in range(steps + 1):
        for c, (step, _, saved) in runs.items():
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
            t0 = CLOCK[0]()
            step(measure=i == 1)
            sync(device)
            if i:
                times[c].append(CLOCK[0]() - t0)
            if i == 1:
                mem[c] = ((torch.cuda.max_memory_allocated(device) - before) / 2**20 if device.type == "cuda"
                          else saved.mib)
    return {c: (1000 * statistics.median(times[c]), mem[c], runs[c][1].last_path) for c in configs}


LAYOUTS = ("default", "contiguous", "channels_last")


def layout_configs(layout: str, device: torch.device) -> tuple[tuple[bool, bool], tuple[bool, bool]]:
    """``((False, ref channels_last), (True, fused channels_last))`` of a ``--layouts`` row, the
    default resolved by the library's own rule (:func:`spacenas.nn.fused.fast_layout`)."""
    if layout == "default":
        probe = torch.zeros(1, 2, 2, 2, device=device)
        return tuple((f, fast_layout(probe, None, f).stride(1) == 1) for f in (False, True))
    return (False, layout == "channels_last"), (True, layout == "channels_last")


def layout_name(channels_last: bool) -> str:
    return "channels_last" if channels_last else "contiguous"


def eval_sizes(tiny: bool, C: int | None, layers: int | None, batch: int | None) -> tuple[int, int, int, int]:
    """``(C, cells, batch, image size)`` of the eval net: the paper's (36, 20, 96, 32), the tiny
    ones (4, 3, 8, 16), or what the flags give."""
    c0, l0, b0, size = (4, 3, 8, 16) if tiny else (36, 20, 96, 32)
    return C or c0, layers or l0, batch or b0, size


def eval_net_rates(tiny: bool, steps: int, device: torch.device, batch: int | None = None, C: int | None = None,
                   layers: int | None = None) -> list[tuple[str, float, float, float]]:
    """``(mode, model-step img/s, loop img/s CPU augmentation, loop img/s device augmentation)``."""
    C, layers, batch, size = eval_sizes(tiny, C, layers, batch)
    g = torch.Generator().manual_seed(0)
    n = batch * (steps + 1)
    data = ImageTensorDataset(torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8),
                              torch.randint(0, 10, (n,), generator=g), torch.full((3,), 0.5), torch.full((3,), 0.25))
    out = []
    modes = [("fp32", False, False), ("channels_last", True, False), ("bf16 autocast", False, True)]
    for mode, cl, bf16 in modes:
        net = DARTSNet(DARTSSpace().parse(DARTS_V2), C=C, layers=layers, image_size=size,
                       generator=torch.Generator().manual_seed(0)).to(device)
        if cl:
            net = net.to(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(1)
        dev_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(1)
        net.set_drop_path(0.2, dev_gen)
        opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        net.train()

        def step(x, y):
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits, aux = net.forward_with_aux(x)
            loss = F.cross_entropy(logits.float(), y) + 0.4 * F.cross_entropy(aux.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()

        x0, y0 = (t.to(device) for t in data.batch(torch.arange(batch)))
        step(x0, y0)  # warm-up
        sync(device)
        t0 = CLOCK[0]()
        for _ in range(steps):
            step(x0, y0)
        sync(device)
        model_rate = steps * batch / (CLOCK[0]() - t0)
        rates = []
        for on_device in (False, True):
            aug_gen = dev_gen
            sync(device)
            t0 = CLOCK[0]()
            done = 0
            for x, y in iterate_batches(data, batch, gen, shuffle=True, drop_last=True,
                                        augment_pad=0 if on_device else 4, device=device):
                x = augment_batch(x, 4, 16, aug_gen) if on_device else cutout(x, 16, gen)
                step(x, y)
                done += len(y)
                if done >= steps * batch:
                    break
            sync(device)
            rates.append(done / (CLOCK[0]() - t0))
        out.append((mode, model_rate, *rates))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=5, help="timed steps per measurement (median for supernets)")
    p.add_argument("--eval-steps", type=int, default=None, help="timed eval-net steps (default: --steps)")
    p.add_argument("--tiny", action="store_true", help="small sizes: finishes in seconds")
    p.add_argument("--skip-eval-net", action="store_true")
    p.add_argument("--batch", type=int, default=None, help="override the supernet batch size (default: 64)")
    p.add_argument("--eval-batch", type=int, default=None, help="override the eval-net batch size (default: 96)")
    p.add_argument("--eval-C", type=int, default=None, help="override the eval-net width C (default: 36)")
    p.add_argument("--eval-layers", type=int, default=None, help="override the eval-net cell count (default: 20)")
    p.add_argument("--layouts", default="default",
                   help="comma-separated memory layouts, one row each per case (default, contiguous, channels_last)")
    p.add_argument("--cases", default="nb201,darts,darts-k4",
                   help="comma-separated supernet cases to run (nb201, darts, darts-k4; empty: none)")
    p.add_argument("--clock", choices=("wall", "process"), default="wall",
                   help="wall clock, or this process's CPU time (CPU only; robust to other load)")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.clock == "process":
        if device.type != "cpu":
            p.error("--clock process measures CPU time: use it with --device cpu")
        CLOCK[0] = time.process_time
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    overrides = [f"{k} {v}" for k, v in (("--batch", args.batch), ("--eval-C", args.eval_C),
                                         ("--eval-layers", args.eval_layers), ("--eval-batch", args.eval_batch))
                 if v is not None]
    sizes = "tiny sizes" if args.tiny else "paper sizes"
    print(f"device: {name}; torch {torch.__version__}; {sizes}{' except ' + ', '.join(overrides) if overrides else ''}; "
          f"{args.steps} timed steps; {args.clock} clock")
    keys = ("nb201", "darts", "darts-k4")
    wanted = {c for c in args.cases.split(",") if c}
    if wanted - set(keys):
        p.error(f"unknown --cases {sorted(wanted - set(keys))} (allowed: {', '.join(keys)})")
    layouts = [x for x in args.layouts.split(",") if x]
    if not layouts or set(layouts) - set(LAYOUTS):
        p.error(f"bad --layouts {args.layouts!r} (allowed: {', '.join(LAYOUTS)})")
    if wanted:
        mem_name = "step peak MiB" if device.type == "cuda" else "saved MiB"
        print(f"\n| bi-level step (DARTS 1st order) | layout (reference / fused) | reference ms | fused ms | speed-up "
              f"| reference {mem_name} | fused {mem_name} | fused path |")
        print("|---|---|---|---|---|---|---|---|")
    for key, (case, build, batch, size) in zip(keys, supernet_cases(args.tiny)):
        if key not in wanted:
            continue
        if args.batch is not None:
            case, batch = case.replace(f"b{batch}", f"b{args.batch}"), args.batch
        rows = {x: layout_configs(x, device) for x in layouts}
        res = bilevel_ms(dict.fromkeys(c for pair in rows.values() for c in pair), build, batch, size, args.steps,
                         device)
        for x, (ref, fus) in rows.items():
            (r_ms, r_mem, _), (f_ms, f_mem, path) = res[ref], res[fus]
            print(f"| {case} | {x}: {layout_name(ref[1])} / {layout_name(fus[1])} | {r_ms:.1f} | {f_ms:.1f} | "
                  f"{r_ms / f_ms:.2f}x | {r_mem:.1f} | {f_mem:.1f} | {path} |", flush=True)
    if args.skip_eval_net:
        return
    C, layers, b, _ = eval_sizes(args.tiny, args.eval_C, args.eval_layers, args.eval_batch)
    print(f"\n| DARTS V2 eval net (C={C}, {layers} cells, b{b}) | model step img/s | loop img/s, CPU augment "
          "| loop img/s, device augment | loop/model (device augment) |")
    print("|---|---|---|---|---|")
    for mode, model, loop_cpu, loop_dev in eval_net_rates(args.tiny, args.eval_steps or args.steps, device,
                                                               args.eval_batch, args.eval_C, args.eval_layers):
        print(f"| {mode} | {model:.1f} | {loop_cpu:.1f} | {loop_dev:.1f} | {loop_dev / model:.2f} |", flush=True)

if __name__ == "__main__":
    main()
