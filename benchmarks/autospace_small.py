"""AutoSpace at small scale on the embedded digits data (prints Markdown tables).

1. Learn a layer-wise space with the DEA (with the reference DAG), per seed.
2. Search three spaces with the same budget -- the learned space, the manual IRB space
   (kernels 3/5/7 x expansions 3/6 + zero) and the full open space -- with random search
   (``rs_archs`` archs x ``rs_epochs`` epochs each, best by validation accuracy) and with
   ProxylessNAS-style search (``rs_archs * rs_epochs`` supernet epochs, Eq. 6 loss; not run
   on the full open space, whose layers have 93,750 cells each). The chosen network is
   retrained on the full training set for ``final_epochs`` and scored on the test set.
3. Fig. 3 analogue: mean DEA training loss per round with and without the reference DAG.
4. Table 6 analogue: learned fitness of three networks of increasing depth (0, 1, 3 ResNet
   basic blocks) from random 1e-3 initial scores; first epoch from which the ranking stays
   correct, and the standalone accuracies that define the true ranking.

    OMP_NUM_THREADS=1 python benchmarks/autospace_small.py --seeds 3

stdout is deterministic for a given machine and torch build (docs/autospace.md shows it, regenerated
by scripts/update_docs.py); the timings go to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spacenas.data import load_dataset  # noqa: E402
from spacenas.nn.madds import network_cost  # noqa: E402
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan  # noqa: E402
from spacenas.spaces.open_cell import LayerwiseSpace, OpenCellSpace, irb_space  # noqa: E402
from spacenas.strategies.autospace import AutoSpace, AutoSpaceConfig, ProxylessConfig, proxyless_search  # noqa: E402
from spacenas.strategies.autospace.proxyless import GatedSupernet, accuracy, learn_fitness, train_network  # noqa: E402


def madds(plan: NetPlan, blocks: list[str]) -> float:
    return network_cost(blocks, plan.in_channels, plan.image_size, plan.stem_channels, plan.channels,
                        plan.strides, plan.num_classes).madds / 1e6


def random_search(sample, plan, train, valid, n, epochs, g):
    best, best_acc = None, -1.0
    for _ in range(n):
        blocks = sample()
        net = LayerwiseNet.from_blocks(plan, blocks, g)
        train_network(net, train, epochs, g)
        acc = accuracy(net, valid)
        if acc > best_acc:
            best, best_acc = blocks, acc
    return best


def final_score(plan, blocks, data, epochs, g):
    net = LayerwiseNet.from_blocks(plan, blocks, g)
    train_network(net, data.train, epochs, g)
    return accuracy(net, data.test), madds(plan, blocks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps-per-round", type=int, default=25)
    ap.add_argument("--rs-archs", type=int, default=4)
    ap.add_argument("--rs-epochs", type=int, default=3)
    ap.add_argument("--final-epochs", type=int, default=8)
    ap.add_argument("--lam", type=float, default=0.05, help="Eq. 6 lambda per million MAdds")
    ap.add_argument("--dea-lam", type=float, default=0.0, help="Eq. 6 lambda during the DEA (0: accuracy only)")
    ap.add_argument("--table6-only", action="store_true", help="only the Table 6 analogue (5 seeds; minutes, not tens)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    if args.table6_only:
        table6(data, 5)
        return
    plan = NetPlan(stem_channels=16, channels=[16, 24, 24], strides=[1, 2, 1])
    open_space = OpenCellSpace()
    manual = irb_space(plan.n_layers, skippable=plan.skippable())  # no 'zero' where shapes change
    rows: dict[str, list[tuple[float, float]]] = {}
    curves: dict[str, list[list[float]]] = {"with reference": [], "without reference": []}
    t0 = time.time()
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(seed)
        train, valid = data.search_split(g)
        results = {}
        for label, ref in (("with reference", "default"), ("without reference", None)):
            cfg = AutoSpaceConfig(rounds=args.rounds, steps_per_round=args.steps_per_round, population=8, k=3,
                                  lam=args.dea_lam, **({} if ref == "default" else {"reference": None}))
            res = AutoSpace(cfg, plan).run(train, valid, np.random.default_rng(seed), torch.Generator().manual_seed(seed))
            curves[label].append([r["loss"] for r in res.rounds])
            results[label] = res
        learned: LayerwiseSpace = results["with reference"].space
        if seed == 0:
            print("learned space (seed 0):\n" + learned.describe() + "\n")
        rng = np.random.default_rng(seed)
        spaces = {"learned": learned, "manual": manual}
        samplers = {name: (lambda s=s: s.blocks(s.sample(rng))) for name, s in spaces.items()}
        samplers["full open"] = lambda: [open_space.format(open_space.sample(rng)) for _ in range(plan.n_layers)]
        for name, sample in samplers.items():
            blocks = random_search(sample, plan, train, valid, args.rs_archs, args.rs_epochs, g)
            rows.setdefault(f"{name} / RS", []).append(final_score(plan, blocks, data, args.final_epochs, g))
        pcfg = ProxylessConfig(epochs=args.rs_archs * args.rs_epochs, warmup_epochs=1, lam=args.lam)
        for name, s in spaces.items():
            res = proxyless_search(s, plan, train, valid, pcfg, g)
            rows.setdefault(f"{name} / Proxyless", []).append(
                final_score(plan, s.blocks(res.arch), data, args.final_epochs, g))
        print(f"seed {seed} done ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)  # timings: stderr

    print(f"\n## Search in three spaces (digits, {args.seeds} seeds, mean +- std; budget "
          f"{args.rs_archs}x{args.rs_epochs} epochs, final retrain {args.final_epochs} epochs, lambda {args.lam}, "
          f"DEA lambda {args.dea_lam})\n")
    print("| space / search | test acc (%) | MAdds (M) |\n| --- | --- | --- |")
    for k, v in rows.items():
        a = np.array(v)
        print(f"| {k} | {100 * a[:, 0].mean():.1f} +- {100 * a[:, 0].std():.1f} | "
              f"{a[:, 1].mean():.3f} +- {a[:, 1].std():.3f} |")
    print("\n## DEA training loss per round (Fig. 3 analogue, mean over seeds)\n")
    print("| round | " + " | ".join(curves) + " |\n| --- | --- | --- |")
    for r in range(args.rounds):
        print(f"| {r} | " + " | ".join(f"{np.mean([c[r] for c in cs]):.3f}" for cs in curves.values()) + " |")
    table6(data, max(args.seeds, 5))
    print(f"total {time.time() - t0:.0f}s", file=sys.stderr)


def table6(data, n_seeds: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "strategies" / "autospace"))
    from test_autospace import _net  # the ResNet basic-block stacks of the test
    plan = NetPlan(stem_channels=8, channels=[8], strides=[1])
    print("\n## Table 6 analogue: fitness of Net1 < Net2 < Net3 (0, 1, 3 basic blocks)\n")
    print("| seed | initial alpha (1e-3) | final alpha | ranking correct from epoch | standalone val acc |")
    print("| --- | --- | --- | --- | --- |")
    for seed in range(n_seeds):
        g = torch.Generator().manual_seed(seed)
        train, valid = data.search_split(g)
        accs = []
        for d in (0, 1, 3):
            net = LayerwiseNet(plan, [_net(8, d, g)], g)
            train_network(net, train, 5, g)
            accs.append(accuracy(net, valid))
        net = GatedSupernet(LayerwiseNet(plan, generator=g), [[_net(8, d, g) for d in (0, 1, 3)]], [[0.0] * 3])
        alphas = [1e-3 * torch.randn(3, generator=g)]
        init = alphas[0].tolist()
        _, snaps = learn_fitness(net, alphas, train, valid, ProxylessConfig(epochs=6, warmup_epochs=1), g)
        ok = [s[0][0] < s[0][1] < s[0][2] for s in snaps]
        first = next((e + 1 for e in range(len(ok)) if all(ok[e:])), None)
        print(f"| {seed} | {', '.join(f'{1e3 * v:.3f}' for v in init)} | "
              f"{', '.join(f'{v:.2f}' for v in snaps[-1][0])} | {first} | {', '.join(f'{a:.3f}' for a in accs)} |")


if __name__ == "__main__":
    main()
