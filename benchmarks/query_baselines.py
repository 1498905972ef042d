"""Query-based baselines (random, evolution, REINFORCE, local search) on the shipped NB201 table.

The numbers of docs/query-strategies.md ("Measured on the shipped NAS-Bench-201 table"):

    python benchmarks/query_baselines.py            # 150 distinct queries, seeds 0-49, 3 data sets
    python benchmarks/query_baselines.py --climbs   # local search: moves and queries per climb

Default: per data set and method, the search-metric (valid) and test accuracy of ``best()`` after
``--budget`` distinct queries (mean +- population std over seeds), and the asks per distinct
query (repeats of known architectures are free; the runner's ``max_steps = 50 x budget`` limit).
``--climbs``: local search on CIFAR-10 valid, seeds 0-19, the first 5 climbs of each run (a climb:
from a random start to the local optimum where it restarts): moves and distinct queries per
climb, 10th / 50th / 90th percentiles. Both are deterministic (tabular scores, seeded strategies).
"""
from __future__ import annotations

import argparse

import numpy as np

from spacenas import registry
from spacenas.benchmarks.nb201 import load_nb201
from spacenas.evaluators.tabular import TabularEvaluator

DATASETS = ("cifar10", "cifar100", "imagenet16-120")
METHODS = ("random", "evolution", "reinforce", "local")


def table(bench, budget: int, seeds: range) -> None:
    print(f"NB201 shipped table, search on valid, {budget} distinct queries, seeds {seeds.start}-{seeds.stop - 1}; "
          "accuracy (%) of best(), mean +- std over seeds; asks per distinct query")
    for dataset in DATASETS:
        for name in METHODS:
            valid, test, asks = [], [], []
            for seed in seeds:
                ev = TabularEvaluator(dataset, benchmark=bench)
                s = registry.query_strategy(name)(ev.space, seed)
                steps = 0
                while ev.spent < budget and steps < 50 * budget:
                    a = s.ask(); s.tell(a, ev.evaluate(a)); steps += 1
                r = s.best()[1]
                valid.append(r.score); test.append(r.metrics["test"]); asks.append(steps / ev.spent)
            print(f"{dataset:15s} {name:10s} valid {np.mean(valid):.2f} +- {np.std(valid):.2f}"
                  f"   test {np.mean(test):.2f} +- {np.std(test):.2f}   asks/query {np.mean(asks):.3f}")


def climbs(bench, seeds: range, per_seed: int = 5) -> None:
    moves, queries = [], []
    for seed in seeds:
        ev = TabularEvaluator("cifar10", benchmark=bench)
        s = registry.query_strategy("local")(ev.space, seed)
        spent0, moves0, done = 0, 0, 0
        while done < per_seed:
            restarts = s.n_restarts
            a = s.ask()
            if s.n_restarts > restarts:  # the climb ended at a local optimum; `a` is the next start
                moves.append(s.n_moves - moves0); queries.append(ev.spent - spent0)
                spent0, moves0, done = ev.spent, s.n_moves, done + 1
            s.tell(a, ev.evaluate(a))
    pct = lambda v: " / ".join(f"{x:g}" for x in np.percentile(v, [10, 50, 90]))  # noqa: E731
    print(f"local search, CIFAR-10 valid, seeds {seeds.start}-{seeds.stop - 1}, first {per_seed} climbs each "
          f"({len(moves)} climbs); 10th / 50th / 90th percentile")
    print(f"moves per climb: {pct(moves)}")
    print(f"distinct queries per climb: {pct(queries)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 50; with --climbs 20)")
    p.add_argument("--climbs", action="store_true", help="local-search climb statistics instead of the table")
    a = p.parse_args(argv)
    bench = load_nb201()
    if a.climbs:
        climbs(bench, range(a.seeds or 20))
    else:
        table(bench, a.budget, range(a.seeds or 50))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
