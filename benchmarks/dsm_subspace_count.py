"""Cost of DSM-NAS's number of subspaces K (``--set n_subspaces=K``): the subspace graph is dense
K x K and every controller step runs the GNN over all K^2 edges. For each K this prints, from a
fresh process per K (NB201 table, cifar10, default options, one CPU thread): the CPU seconds of
the K initial queries, the CPU seconds per controller step (mean over ``--steps`` steps) and the
process's peak resident memory. K above the bound is built without validation, to show the trend. The numbers behind ``DSMConfig.n_subspaces``'s bound
(:data:`spacenas.strategies.query.dsm.MAX_SUBSPACES`).

    python benchmarks/dsm_subspace_count.py            # K = 4 64 128 256 512
    python benchmarks/dsm_subspace_count.py --quick    # K = 4 16, one step (smoke test)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from spacenas.evaluators import TabularEvaluator
from spacenas.strategies.query.dsm import DSMNAS, DSMConfig
k, steps = int(sys.argv[1]), int(sys.argv[2])
ev = TabularEvaluator("cifar10")
# model_construct: K above the bound too (the point is to show why the bound is where it is)
s = DSMNAS(ev.space, seed=0, config=DSMConfig.model_construct(n_subspaces=k))
t0 = time.process_time()
for _ in range(k):
    a = s.ask(); s.tell(a, ev.evaluate(a))
t1 = time.process_time()
for _ in range(steps):
    a = s.ask(); s.tell(a, ev.evaluate(a))
t2 = time.process_time()
print(json.dumps({"init_s": t1 - t0, "step_s": (t2 - t1) / steps,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(k: int, steps: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", CHILD, str(k), str(steps)], capture_output=True, text=True, env=env,
                       check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ks", default="4,64,128,256,512", help="comma list of K (default: 4,64,128,256,512)")
    ap.add_argument("--steps", type=int, default=3, help="controller steps timed per K (default: 3)")
    ap.add_argument("--quick", action="store_true", help="K = 4, 16 and one step (smoke test)")
    a = ap.parse_args(argv)
    ks, steps = ([4, 16], 1) if a.quick else ([int(k) for k in a.ks.split(",") if k], a.steps)
    print("| K | initial queries (CPU s) | per controller step (CPU s) | peak memory (MB) |")
    print("|---|---|---|---|")
    for k in ks:
        m = measure(k, steps)
        print(f"| {k} | {m['init_s']:.2f} | {m['step_s']:.2f} | {m['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
