"""DSM-NAS+ on NAS-Bench-201 (paper Sec. IV-A, Table II): subspaces transferred from CIFAR-10.

    python benchmarks/dsm_plus_transfer.py                # 100 seeds, budget 100
    python benchmarks/dsm_plus_transfer.py --quick        # smoke test size

For each seed s: a DSM-NAS run on the source data set (CIFAR-10, seed s, the budget in distinct
queries); its final K centers become ``init_archs`` of a DSM-NAS run on each target data set
(seed s, the same budget; the K transferred centers are the target run's first K queries and
count against its budget; the source run's queries do not). Compared, paired by seed, with
DSM-NAS from random centers on the target (seed s), with DSM-NAS on the target at twice the
budget (the total number of queries DSM-NAS+ made, source included; ``--no-control`` skips it),
and with the source run's answer evaluated on the target without any search there.
"""
from __future__ import annotations

import argparse
import sys

from dsm_common import apply_quick, common_args, ms, run_jobs, wilcoxon

SOURCE = "cifar10"
TARGETS = ["cifar100", "imagenet16-120"]
#: DSM-NAS Table II, test accuracy (%), 500 runs, 25k s budget
PAPER = {"DSM-NAS (random centers)": ("72.76 +- 0.80", "46.13 +- 0.67"),
         "DSM-NAS+ (centers from CIFAR-10)": ("73.12 +- 0.61", "46.66 +- 0.52")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(p)
    p.add_argument("--no-control", action="store_true", help="skip the DSM-NAS runs at twice the budget")
    a = p.parse_args(argv)
    a.datasets = ",".join(TARGETS) if a.datasets == ",".join(["cifar10", "cifar100", "imagenet16-120"]) else a.datasets
    apply_quick(a)
    targets = [d for d in a.datasets if d != SOURCE]
    seeds = list(range(a.seeds))
    from spacenas.benchmarks import load_nb201

    bench = load_nb201()
    print(f"$ python benchmarks/dsm_plus_transfer.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"NB201 shipped table, search on valid, budget {a.budget} distinct queries on the target, test accuracy "
          f"(%) of the answer, mean +- std over {len(seeds)} seeds; source {SOURCE} (budget {a.budget})\n")
    src = run_jobs([("dsm", SOURCE, s, a.budget, {}) for s in seeds], a.workers, "source runs", a.cache)
    jobs, keys = [], []
    for ds in targets:
        for s in seeds:
            for key, budget, opts in (("plain", a.budget, {}), ("plus", a.budget, {"init_archs": src[s]["centers"]}),
                                      ("double", 2 * a.budget, {}))[: 2 if a.no_control else 3]:
                keys.append((key, ds, s))
                jobs.append(("dsm", ds, s, budget, opts))
    res = dict(zip(keys, run_jobs(jobs, a.workers, "target runs", a.cache)))

    def col(key, ds):
        return [res[(key, ds, s)]["test"] for s in seeds]

    no_search = {ds: [bench.accuracy(bench.space.parse(src[s]["arch"]), ds, "test") for s in seeds] for ds in targets}
    rows = [("source answer, no search on the target (0 target queries)", lambda ds: no_search[ds]),
            (f"DSM-NAS, random centers ({a.budget} queries)", lambda ds: col("plain", ds)),
            (f"DSM-NAS+, centers from {SOURCE} ({a.budget} target + {a.budget} source queries)",
             lambda ds: col("plus", ds)),
            (f"DSM-NAS, random centers ({2 * a.budget} queries)", lambda ds: col("double", ds))][: 3 if a.no_control else 4]
    print("| method | " + " | ".join(targets) + " |\n|---|" + "---|" * len(targets))
    for name, f in rows:
        print(f"| {name} | " + " | ".join(ms(f(ds)) for ds in targets) + " |")
    for name, cells in PAPER.items():
        by = dict(zip(TARGETS, cells))
        print(f"| paper: {name} | " + " | ".join(by.get(ds, "-") for ds in targets) + " |")
    print("\nPaired by seed (mean difference of test accuracy, two-sided Wilcoxon signed-rank p):\n")
    print("| comparison | " + " | ".join(targets) + " |\n|---|" + "---|" * len(targets))
    for name, x, y in (("DSM-NAS+ - DSM-NAS (same budget on the target)", "plus", "plain"),
                       (f"DSM-NAS+ - DSM-NAS with {2 * a.budget} queries", "plus", "double"))[: 1 if a.no_control else 2]:
        print(f"| {name} | " + " | ".join(wilcoxon(col(x, ds), col(y, ds)) for ds in targets) + " |")
    print("| DSM-NAS+ - source answer without search | "
          + " | ".join(wilcoxon(col("plus", ds), no_search[ds]) for ds in targets) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
