"""Convert the shared NAS-Bench-201 CSV into the compact file shipped inside the package.

Usage: python scripts/build_nb201_data.py ../shared/data/nb201/nb201.csv

Writes spacenas/benchmarks/data/nb201.npz with
  ops      uint8  [15625, 6]  op index per edge (order of spacenas.spaces.nb201.OPS)
  index    int32  [15625]     the benchmark's own index
  params   int32  [15625]     parameter count
  metrics  float64[15625, 6]  columns listed in `metric_names`
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spacenas.spaces.nb201 import NB201Space  # noqa: E402

METRICS = ["cifar10_valid", "cifar10_test", "cifar100_valid", "cifar100_test",
           "imagenet16_valid", "imagenet16_test"]


def main(src: str) -> None:
    space = NB201Space()
    rows = list(csv.DictReader(open(src)))
    ops = np.array([space.parse(r["arch"]).choices for r in rows], dtype=np.uint8)
    out = Path(__file__).resolve().parents[1] / "spacenas" / "benchmarks" / "data" / "nb201.npz"
    np.savez_compressed(
        out,
        ops=ops,
        index=np.array([int(r["index"]) for r in rows], dtype=np.int32),
        params=np.array([int(r["params"]) for r in rows], dtype=np.int32),
        metrics=np.array([[float(r[m]) for m in METRICS] for r in rows], dtype=np.float64),
        metric_names=np.array(METRICS),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(rows)} archs)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nb201/nb201.csv")
