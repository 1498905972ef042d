"""Build the hardware / NAS-Bench-360 table shipped inside the package.

Usage: python scripts/build_hw_data.py [RAW_DIR]     (RAW_DIR defaults to ../shared/data/raw)
       python scripts/build_hw_data.py --evidence    (print the Darcy-direction evidence table of
                                                       docs/hardware-aware.md from the shipped file)

Needs ``pyarrow`` (to read HW-NAS-Bench-360's parquet file) -- for THIS SCRIPT ONLY; the package
reads the result with numpy alone. Sources (see RAW_DIR/INDEX.md):

* HELP ``data/nasbench201/latency/<device>.pt`` (27 devices, ms, measured on the CIFAR-10 network)
  and ``str_arch2idx.pt`` (arch string -> NB201 index). The ``.pt`` files are torch zip archives
  holding a plain pickled list/dict, so ``zipfile`` + ``pickle`` reads them without torch.
* HW-NAS-Bench-360 ``results/dataset.parquet``: per NB201 arch (``arch_idx`` = NB201 index) and
  task (cifar100, ninapro, darcy): latency (median, ms) on pi5 (litert, onnx, torchmobile) and a
  Pixel phone (litert), energy (mJ, pi5 only), and the task metric (NinaPro accuracy %, Darcy
  score = 1 - relative L2 error, see docs/hardware-aware.md).

Rows are written in the order of the shipped NB201 table (spacenas/benchmarks/data/nb201.npz);
``ops`` and ``index`` are stored too, so the loader can prove the alignment at load time.

Writes spacenas/benchmarks/data/nb201_hw.npz with
  ops            uint8   [N, 6]   op per edge (copied from nb201.npz, checked against HELP's strings)
  index          int32   [N]      NB201 index
  latency        float32 [N, K]   ms; column k measured for (latency_device[k], latency_dataset[k])
  latency_device, latency_dataset  str [K]
  energy         float32 [N, E]   mJ; columns named by energy_device / energy_dataset
  energy_device, energy_dataset    str [E]
  task           float32 [N, 2]   ninapro accuracy (%), darcy score; names in task_names
"""
from __future__ import annotations

import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from spacenas.benchmarks.hw import HELP_DEVICES, HW360_DEVICES  # noqa: E402
from spacenas.benchmarks.nb201 import N_ARCHS, load_nb201  # noqa: E402

HW360_TASKS = ("cifar100", "ninapro", "darcy")


def read_pt(path: Path):
    """Unpickle the ``data.pkl`` member of a torch zip file holding plain Python objects."""
    with zipfile.ZipFile(path) as z:
        member = [n for n in z.namelist() if n.endswith("data.pkl")]
        if len(member) != 1:
            raise SystemExit(f"{path}: expected one data.pkl member, got {member}")
        return pickle.loads(z.read(member[0]))


def help_columns(raw: Path, strings: list[str], index: np.ndarray) -> dict[str, np.ndarray]:
    base = raw / "HELP" / "data" / "nasbench201"
    idx = read_pt(base / "str_arch2idx.pt")
    rows = np.array([idx[s] for s in strings])
    if not np.array_equal(rows, index):
        raise SystemExit(f"HELP index disagrees with the NB201 table on {(rows != index).sum()} archs")
    out = {}
    for dev in HELP_DEVICES:
        lat = np.asarray(read_pt(base / "latency" / f"{dev}.pt"), dtype=np.float64)
        if lat.shape != (N_ARCHS,) or not np.isfinite(lat).all():
            raise SystemExit(f"HELP {dev}: shape {lat.shape} or non-finite values")
        out[dev] = lat[rows]
    return out


def hw360_columns(raw: Path, index: np.ndarray, c100_test: np.ndarray):
    import pyarrow.parquet as pq

    t = pq.read_table(raw / "HW-NAS-Bench-360" / "results" / "dataset.parquet")
    c = {k: t.column(k).to_numpy(zero_copy_only=False) for k in t.column_names}
    key = np.char.add(np.char.add(c["device"].astype(str), "_"), c["framework"].astype(str))

    def column(dev: str, task: str, name: str) -> np.ndarray:
        m = (key == dev) & (c["task"].astype(str) == task)
        out = np.full(N_ARCHS, np.nan)
        out[c["arch_idx"][m]] = c[name][m]
        if m.sum() != N_ARCHS or np.isnan(out).any():
            raise SystemExit(f"HW-NAS-Bench-360 {dev}/{task}/{name}: {m.sum()} rows, expected {N_ARCHS}")
        return out[index]

    # alignment evidence: its CIFAR-100 accuracy must track the NB201 table's cifar100_test
    acc = column("pixel_litert", "cifar100", "accuracy")
    d = np.abs(acc - c100_test)
    corr = float(np.corrcoef(acc, c100_test)[0, 1])
    print(f"HW-NAS-Bench-360 cifar100 vs NB201 cifar100_test: corr {corr:.5f}, "
          f"{(d < 1e-3).sum()} of {N_ARCHS} equal within 1e-3, median |diff| {np.median(d):.2e}, "
          f"max {d.max():.2f}")
    if corr < 0.99 or np.median(d) > 0.01:
        raise SystemExit("HW-NAS-Bench-360 rows are not aligned with the NB201 table")
    print(f"HW-NAS-Bench-360 timed {len(np.unique(c['rep_arch_idx']))} representatives (rep_arch_idx: "
          "one per isomorphism class)")
    lat = {(dev, task): column(dev, task, "lat_ms_median") for dev in HW360_DEVICES for task in HW360_TASKS}
    energy = {(dev, task): column(dev, task, "energy_mj")
              for dev in HW360_DEVICES if dev.startswith("pi5") for task in HW360_TASKS}
    task = {"ninapro": column("pixel_litert", "ninapro", "accuracy"),
            "darcy": column("pixel_litert", "darcy", "accuracy")}
    for dev in HW360_DEVICES:  # the task metric does not depend on the device it was timed on
        for t_ in ("ninapro", "darcy"):
            if not np.array_equal(column(dev, t_, "accuracy"), task[t_]):
                raise SystemExit(f"HW-NAS-Bench-360 {t_} metric differs between devices")
    return lat, energy, task


def main(raw_dir: str) -> None:
    raw = Path(raw_dir)
    nb = load_nb201()
    strings = [nb.space.format(nb.arch_at(r)) for r in range(N_ARCHS)]
    index = np.asarray(nb.index)
    helpc = help_columns(raw, strings, index)
    lat360, energy, task = hw360_columns(raw, index, nb.column_values("cifar100", "test"))
    lat_cols = [(d, "cifar10") for d in HELP_DEVICES] + list(lat360)
    latency = np.stack([helpc[d] for d in HELP_DEVICES] + list(lat360.values()), axis=1)
    out = ROOT / "spacenas" / "benchmarks" / "data" / "nb201_hw.npz"
    np.savez_compressed(
        out, ops=np.asarray(nb.ops, dtype=np.uint8), index=index.astype(np.int32),
        latency=latency.astype(np.float32),
        latency_device=np.array([d for d, _ in lat_cols]), latency_dataset=np.array([t for _, t in lat_cols]),
        energy=np.stack(list(energy.values()), axis=1).astype(np.float32),
        energy_device=np.array([d for d, _ in energy]), energy_dataset=np.array([t for _, t in energy]),
        task=np.stack([task["ninapro"], task["darcy"]], axis=1).astype(np.float32),
        task_names=np.array(["ninapro", "darcy"]),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes): {N_ARCHS} archs, {latency.shape[1]} latency columns, "
          f"{len(energy)} energy columns, tasks ninapro and darcy")


def evidence(reps: int = 2000) -> None:
    """Random search (best of N, no replacement) on NinaPro error and Darcy ``1 - score``."""
    from spacenas.benchmarks.hw import load_hw_benchmark

    hw = load_hw_benchmark()
    nin, dar = 100 - hw.column_values("ninapro"), hw.column_values("darcy")
    print(f"darcy raw: min {dar.min():.4f} median {np.median(dar):.4f} max {dar.max():.4f}; "
          f"best 1-score {1 - dar.max():.4f}; 1st percentile {np.percentile(dar, 1):.4f}, "
          f"{(dar < 0).sum()} below 0, {(dar < 0.5).sum()} below 0.5")
    rng = np.random.default_rng(0)
    for n in (5, 10, 15, 20, 50, 100):
        bn, bd, braw = [], [], []
        for _ in range(reps):
            i = rng.choice(N_ARCHS, n, replace=False)
            bn.append(nin[i].min())
            bd.append(1 - dar[i].max())
            braw.append(dar[i].min())  # best of N if the raw value were an error
        print(f"RS N={n:3d}: NinaPro error {np.mean(bn):.2f} +- {np.std(bn):.2f} | "
              f"Darcy 1-score {np.mean(bd):.4f} +- {np.std(bd):.4f} | raw-as-error {np.mean(braw):.4f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--evidence"]:
        evidence()
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "data" / "raw"))
