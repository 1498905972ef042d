"""DrNAS Table 1 analogue: memory and step time of the NB201 or DARTS supernet vs the
partial-channel fraction 1/k, the active ops, and DrNAS progressive learning.

Every row is a real search run: :class:`spacenas.strategies.oneshot.drnas.DrNAS` driven by the
real bi-level loop (:func:`spacenas.strategies.oneshot.loop.search`: per step an architecture
step on a valid batch, then a weight step; Dirichlet samples, masks and SGD as in a search) on
random CIFAR-sized tensors, one epoch per stage of ``--steps + 1`` steps. A fixed-k row is a
one-stage progressive config ``partial_k=[k], keep_ops=[all]`` (stage 0 only calls
``set_partial_channels(k)``); a progressive row is one stage of a multi-stage config, and the
stage switches are the strategy's own (``Progressive.on_epoch_end``: prune every edge to the
top ``keep_ops`` ops by the Dirichlet mean, then ``supernet.widen``). Which ops survive a
pruning depends on beta; ``--ranking`` fixes the order by setting eta before the search
(eta = 1 - 0.1 * rank; the few Adam steps of the run move eta by ~1e-3, so the order holds):

* ``heavy``: the ops that save the most activations rank first (the worst case for memory);
* ``light``: the reverse (``none`` and ``skip_connect`` first: the best case; on DARTS ``none``
  last, because a DARTS cell pruned to ``none`` cannot be derived);
* ``arch`` (NB201 only): on every edge the op of the best CIFAR-10 arch (which DrNAS reports
  finding, 94.36%) first, then ``heavy`` order -- a realistic outcome of a good search;
* ``learned``: eta as the strategy initialised and trained it on random data (near-random).

Measured per stage (epoch), the first step being a warm-up for the time:

* ``saved MB``: the bytes of the distinct tensor storages autograd saves for backward during
  the supernet forward (``torch.autograd.graph.saved_tensors_hooks``), parameters excluded,
  max over the stage's forwards, for the architecture step (mixing weights need a gradient,
  so every op output is saved for ``w * op(x)``) and for the weight step (mixing weights
  detached). This is the activation memory that partial channels and masks reduce; it is not
  the process peak (no parameters, gradients, momentum or transient buffers).
* ``params MB``: bytes of all supernet parameters (pruned ops keep theirs, unused).
* ``cuda peak MB`` (``--device cuda`` only): ``torch.cuda.max_memory_allocated`` over the stage.
* ``step ms``: median over the stage's timed steps of one architecture step + one weight step.

Run: ``OMP_NUM_THREADS=1 python benchmarks/drnas_memory.py --space nb201`` and
``OMP_NUM_THREADS=1 python benchmarks/drnas_memory.py --space darts``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from spacenas.nn.supernets import DARTSSupernet, NB201Supernet
from spacenas.spaces.nb201 import NB201Space
from spacenas.strategies.oneshot.drnas import DrNAS
from spacenas.strategies.oneshot.loop import LoopConfig, search

BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
HEAVY = {"nb201": ["nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "none"],
         "darts": ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3",
                   "avg_pool_3x3", "skip_connect", "none"]}
#: cheapest first; on DARTS ``none`` stays last, since a DARTS cell pruned to ``none`` only
#: cannot be derived (derivation excludes ``none``)
LIGHT = {"nb201": HEAVY["nb201"][::-1], "darts": HEAVY["darts"][-2::-1] + ["none"]}
#: (fixed k values, progressive schedules as (name, partial_k, keep_ops)) per space
PLAN = {"nb201": ([1, 2, 4, 8], [("paper (code) 4->2, ops 5->3", [4, 2], [5, 3]),
                                 ("full width 8->4->2->1, ops 5->3->2->1", [8, 4, 2, 1], [5, 3, 2, 1])]),
        "darts": ([1, 2, 3, 4, 6], [("paper 6->3, ops 8->4", [6, 3], [8, 4]),
                                    ("full width 6->3->1, ops 8->4->1", [6, 3, 1], [8, 4, 1])])}


class Probe:
    """Forward hooks on the supernet: saved-for-backward bytes per forward and the start time of
    every architecture-step forward (one per search step)."""

    def __init__(self, net: torch.nn.Module, device: torch.device) -> None:
        self.net, self.device = net, device
        self.ctx, self.params, self.seen, self.arch = None, set(), {}, False
        net.register_forward_pre_hook(self._pre)
        net.register_forward_hook(self._post)
        self.start_epoch()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start_epoch(self) -> None:
        self.marks, self.saved = [], {True: 0, False: 0}
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in self.params:
            self.seen[s.data_ptr()] = s.nbytes()
        return t

    def _pre(self, module, args) -> None:
        self.arch = any(w.requires_grad for w in args[1].values())
        if self.arch:
            self.marks.append(self._now())
        self.params = {p.untyped_storage().data_ptr() for p in module.parameters()}
        self.seen = {}
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self.ctx.__enter__()

    def _post(self, module, args, out) -> None:
        self.ctx.__exit__(None, None, None)
        self.saved[self.arch] = max(self.saved[self.arch], sum(self.seen.values()))

    def end_epoch(self, strategy, net) -> dict:
        end = self._now()
        steps = [b - a for a, b in zip(self.marks, self.marks[1:] + [end])][1:]  # first: warm-up
        masks = strategy.op_masks
        kept = sorted({tuple(n for n, a in zip(net.op_names, row) if a) for m in masks.values() for row in m.tolist()})
        return {"k": net.partial_k, "kept": kept, "arch_mb": self.saved[True] / 2**20,
                "weight_mb": self.saved[False] / 2**20,
                "params_mb": sum(p.numel() * p.element_size() for p in net.parameters()) / 2**20,
                "cuda_mb": (torch.cuda.max_memory_allocated(self.device) / 2**20
                            if self.device.type == "cuda" else None),
                "ms": 1000 * statistics.median(steps) if steps else float("nan")}


class MeasuredDrNAS(DrNAS):
    """DrNAS that records each epoch's measurements before its (real) stage switch."""

    probe: Probe

    def on_epoch_start(self, epoch, supernet) -> None:
        super().on_epoch_start(epoch, supernet)
        self.probe.start_epoch()

    def on_epoch_end(self, epoch, supernet) -> bool:
        self.records.append(self.probe.end_epoch(self, supernet))
        return super().on_epoch_end(epoch, supernet)


def rank_eta(space: str, ranking: str | list[str], shapes: dict, op_names: tuple) -> dict[str, torch.Tensor] | None:
    """eta per cell type giving the ``ranking`` order (first = highest beta); a list is an
    explicit op order used on every edge."""
    if ranking == "learned":
        return None
    heavy = HEAVY[space]
    order = ranking if isinstance(ranking, list) else heavy if ranking == "heavy" else LIGHT[space]
    out = {}
    for key, (n_edges, n_ops) in shapes.items():
        eta = torch.zeros(n_edges, n_ops)
        for e in range(n_edges):
            o = order
            if ranking == "arch":
                first = op_names[NB201Space().parse(BEST_NB201).choices[e]]
                o = [first] + [n for n in heavy if n != first]
            for r, name in enumerate(o):
                eta[e, op_names.index(name)] = 1.0 - 0.1 * r
        out[key] = eta
    return out


def run(a, x, y, partial_k: list[int], keep_ops: list[int], ranking: str | list[str]) -> list[dict]:
    dev = torch.device(a.device)
    gen = torch.Generator().manual_seed(a.seed)
    if a.space == "nb201":
        net = NB201Supernet(C=a.C, N=a.N, generator=gen)
    else:
        net = DARTSSupernet(C=a.C, layers=a.layers, generator=gen)
    net.to(dev)
    cfg = {"progressive": {"partial_k": partial_k, "keep_ops": keep_ops}}
    strat = MeasuredDrNAS(net.arch_shapes(), cfg, torch.Generator(device=dev).manual_seed(a.seed), dev)
    eta = rank_eta(a.space, ranking, net.arch_shapes(), net.op_names)
    if eta is not None:
        with torch.no_grad():
            for k, v in eta.items():
                strat.params[k].copy_(v.to(dev))
    strat.records, strat.probe = [], Probe(net, dev)
    n = a.batch * (a.steps + 1)
    loop = LoopConfig(epochs=len(partial_k), batch_size=a.batch, max_steps=a.steps + 1, seed=a.seed)
    search(strat, net, (x[:n], y[:n]), (x[n:], y[n:]), loop, progress=False)
    return strat.records


def fmt_kept(kept: list[tuple], space: str) -> str:
    if len(kept) == 1 and len(kept[0]) == len(HEAVY[space]):
        return f"{len(kept[0])}: all"
    if len(kept) == 1:
        names = [n for n in kept[0] if n != "none"]
        return f"{len(kept[0])}: {', '.join(names) if names else '-'}" + (" (+none)" if "none" in kept[0] else "")
    counts = sorted({len(t) for t in kept})
    return f"{'/'.join(map(str, counts))}: varies by edge"


def row(label: str, r: dict, space: str, cuda: bool) -> str:
    c = f" {r['cuda_mb']:.1f} |" if cuda else ""
    return (f"| {label} | {r['k']} | {fmt_kept(r['kept'], space)} | {r['arch_mb']:.1f} | {r['weight_mb']:.1f} |"
            f" {r['params_mb']:.2f} |{c} {r['ms']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", choices=["nb201", "darts"], default="nb201")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--C", type=int, default=None, help="nb201 default 16, darts default 12")
    ap.add_argument("--N", type=int, default=5, help="nb201 cells per stage")
    ap.add_argument("--layers", type=int, default=5, help="darts cells")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per stage (plus one warm-up)")
    ap.add_argument("--rankings", default=None, help="comma list of heavy,light,arch,learned")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.C = a.C if a.C is not None else (16 if a.space == "nb201" else 12)
    rankings = (a.rankings or ("heavy,arch,light,learned" if a.space == "nb201" else "heavy,light,learned")).split(",")
    cuda = torch.device(a.device).type == "cuda"
    g = torch.Generator().manual_seed(a.seed)
    n = 2 * a.batch * (a.steps + 1)
    x = torch.randn(n, 3, a.size, a.size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    shape = f"C={a.C} N={a.N}" if a.space == "nb201" else f"C={a.C} layers={a.layers}"
    print(f"{a.space} supernet {shape}, batch {a.batch}, {a.size}x{a.size}, device {a.device}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, {a.steps} timed steps/stage")
    head = ("| run | k | ops kept per edge | arch-step saved MB | weight-step saved MB | params MB |"
            + (" cuda peak MB |" if cuda else "") + " step ms |")
    sep = "|" + " --- |" * (head.count("|") - 1)
    ks, schedules = PLAN[a.space]
    all_ops = len(HEAVY[a.space])

    print("\n" + head + "\n" + sep)
    fixed = {}
    for k in ks:
        fixed[k] = run(a, x, y, [k], [all_ops], "learned")[0]
        print(row(f"partial 1/{k}", fixed[k], a.space, cuda), flush=True)
    kmin = max(ks)
    base = fixed[kmin]["arch_mb"]

    print(f"\nSingle op per edge at k=1 (ranking puts it first, keep_ops=1):\n\n{head}\n{sep}")
    for op in LIGHT[a.space]:
        if op == "none" and a.space == "darts":
            continue
        o = [op] + [n for n in HEAVY[a.space] if n != op]
        r = run(a, x, y, [1], [1], o)[0]
        print(row(f"only {op}", r, a.space, cuda), flush=True)

    summary = []
    for name, pk, ko in schedules:
        print(f"\nProgressive {name}:\n\n{head}\n{sep}")
        for ranking in rankings:
            if ranking == "arch" and a.space != "nb201":
                continue
            recs = run(a, x, y, pk, ko, ranking)
            for s, r in enumerate(recs):
                print(row(f"{ranking}, stage {s + 1}", r, a.space, cuda), flush=True)
            peak = max(r["arch_mb"] for r in recs)
            summary.append((name, ranking, peak, recs[-1]["k"]))
    print(f"\nTarget: progressive peak (arch-step saved MB) <= 1.1 x the 1/{kmin} run's {base:.1f} MB "
          f"= {1.1 * base:.1f} MB, ending at k=1.\n")
    print("| schedule | ranking | peak MB | peak / 1/%d run | final k | target met |" % kmin)
    print("| --- | --- | --- | --- | --- | --- |")
    for name, ranking, peak, k_end in summary:
        ok = peak <= 1.1 * base and k_end == 1
        print(f"| {name} | {ranking} | {peak:.1f} | {peak / base:.2f} | {k_end} | {'yes' if ok else 'no'} |")


if __name__ == "__main__":
    main()
