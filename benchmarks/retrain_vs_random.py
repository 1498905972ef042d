"""Retrain a found architecture vs random architectures of the same space, same recipe.

On the embedded digits data (nothing to download): the given architecture (default for nb201:
the best cell of the shipped NB201 table by CIFAR-10 *validation* accuracy, i.e. what a perfect
NB201 search returns; for darts: the DARTS (2nd order) genotype) and ``--n-random`` uniformly
sampled architectures, each trained from scratch with the same short recipe for ``--seeds``
seeds. Prints test accuracy mean +- std per architecture and the gap
``given - mean(random)``. The recipe is the space's paper recipe shrunk by the flags below
(fewer epochs, a smaller network, no crop/cutout on 8x8 digits).

    OMP_NUM_THREADS=1 python benchmarks/retrain_vs_random.py --space nb201 --epochs 10 --seeds 3
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spacenas import registry
from spacenas.data import load_dataset
from spacenas.train import train, train_config

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def default_arch(space_name: str) -> tuple[str, str]:
    if space_name == "nb201":
        from spacenas.benchmarks.nb201 import load_nb201
        bench = load_nb201()
        arch, acc = bench.optimum("cifar10", "valid")
        return bench.space.format(arch), f"best NB201 cell by cifar10 valid ({acc:.2f}%)"
    return DARTS_V2, "DARTS (2nd order) genotype"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="nb201", choices=["nb201", "darts"])
    p.add_argument("--arch", default=None, help="the found architecture (default: see module docstring)")
    p.add_argument("--n-random", type=int, default=5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--arch-seed", type=int, default=0, help="seed of the random architectures")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--depth", type=int, default=1, help="nb201: N cells per stage; darts: layers")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    space = registry.space(args.space)
    data = load_dataset("digits")
    given, why = (args.arch, "given") if args.arch else default_arch(args.space)
    rng = np.random.default_rng(args.arch_seed)
    archs = [("found", space.parse(given))] + [(f"random{i + 1}", space.sample(rng)) for i in range(args.n_random)]
    depth = {"N": args.depth} if args.space == "nb201" else {"layers": max(args.depth, 3), "auxiliary_weight": 0.4}
    cfg = train_config(args.space, {"epochs": args.epochs, "C": args.C, "batch_size": args.batch_size,
                                    "lr": args.lr, "augment_pad": 0, "cutout": 0, **depth})
    print(f"data: digits (1437 train / 360 test, 8x8); space {args.space}; found arch = {why}")
    print(f"recipe: {cfg.model_dump()}")
    print(f"{'arch':<9} {'test acc % (mean +- std over ' + str(args.seeds) + ' seeds)':<44} params   text")
    t0 = time.perf_counter()
    means = {}
    for label, arch in archs:
        accs, params = [], 0
        for seed in range(args.seeds):
            r = train(arch, space, data, cfg.model_copy(update={"seed": seed}), device=torch.device(args.device),
                      progress=False)
            accs.append(r.test_acc)
            params = r.params
        means[label] = float(np.mean(accs))
        text = space.format(arch)
        print(f"{label:<9} {np.mean(accs):6.2f} +- {np.std(accs):5.2f}  {str([round(a, 1) for a in accs]):<27} "
              f"{params:>7}  {text if len(text) < 90 else text[:87] + '...'}")
    rand = [v for k, v in means.items() if k != "found"]
    print(f"gap: found {means['found']:.2f} - mean of {len(rand)} random {np.mean(rand):.2f} = "
          f"{means['found'] - np.mean(rand):+.2f} points (best random {max(rand):.2f}); "
          f"{time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
