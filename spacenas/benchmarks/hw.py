"""Hardware costs and NAS-Bench-360 tasks for every NB201 architecture, shipped in the package.

Built by ``scripts/build_hw_data.py`` from ``shared/data/raw`` (see ``docs/hardware-aware.md``):

* **latency** (ms): 39 columns over 31 devices. The 27 HELP devices (:data:`HELP_DEVICES`; MIT license)
  were measured on the CIFAR-10 network, so they exist for dataset ``cifar10`` only. The four
  HW-NAS-Bench-360 devices (:data:`HW360_DEVICES`: Raspberry Pi 5 with LiteRT / ONNX Runtime /
  PyTorch Mobile and a Pixel phone with LiteRT) were measured per task, on ``cifar100``,
  ``ninapro`` and ``darcy``. A (device, dataset) pair that was not measured is an error: no
  column silently stands in for another input shape.
* **energy** (mJ) for the three Pi 5 columns, same datasets as their latency.
* **ninapro**: NinaPro DB5 accuracy (%, higher is better) and **darcy**: Darcy Flow score
  ``1 - relative L2 error`` (higher is better; Table III of DSM-NAS reports ``1 - score``).

Rows are in the order of :func:`spacenas.benchmarks.load_nb201`; the file stores the op tuples
and NB201 indices too, and :func:`load_hw_benchmark` refuses to load if they disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

import numpy as np

from spacenas.benchmarks.nb201 import DATASETS, N_ARCHS, NB201Benchmark, load_nb201
from spacenas.errors import SpacenasError, unknown
from spacenas.spaces.base import Arch

HELP_DEVICES: tuple[str, ...] = (
    "1080ti_1", "1080ti_32", "1080ti_256", "2080ti_1", "2080ti_32", "2080ti_256",
    "titan_rtx_1", "titan_rtx_32", "titan_rtx_256", "titanx_1", "titanx_32", "titanx_256",
    "titanxp_1", "titanxp_32", "titanxp_256", "gold_6226", "gold_6240", "silver_4114",
    "silver_4210r", "pixel2", "pixel3", "essential_ph_1", "samsung_a50", "samsung_s7",
    "raspi4", "eyeriss", "fpga")
HW360_DEVICES: tuple[str, ...] = ("pi5_litert", "pi5_onnx", "pi5_torchmobile", "pixel_litert")
DEVICES: tuple[str, ...] = HELP_DEVICES + HW360_DEVICES
#: NAS-Bench-360 tasks with one precomputed metric per arch (no separate valid/test split)
TASK_DATASETS: tuple[str, ...] = ("ninapro", "darcy")
ALL_DATASETS: tuple[str, ...] = DATASETS + TASK_DATASETS


@dataclass(frozen=True)
class HWBenchmark:
    """Latency/energy/task tables aligned row by row with an :class:`NB201Benchmark`.

    ``feasible`` (optional bool [N]) restricts :meth:`optimum` to the archs that satisfy a set of
    constraints; :meth:`restricted` returns such a view (the data is shared, not copied).
    """

    nb201: NB201Benchmark
    latency: np.ndarray  # float32 [N, K] ms
    latency_columns: tuple[tuple[str, str], ...]  # (device, dataset) of each column
    energy: np.ndarray  # float32 [N, E] mJ
    energy_columns: tuple[tuple[str, str], ...]
    task: np.ndarray  # float32 [N, 2]: ninapro accuracy %, darcy score
    feasible: np.ndarray | None = None

    def __post_init__(self) -> None:
        k, e = len(self.latency_columns), len(self.energy_columns)
        if self.latency.shape != (N_ARCHS, k) or self.energy.shape != (N_ARCHS, e) \
                or self.task.shape != (N_ARCHS, len(TASK_DATASETS)):
            raise SpacenasError("hardware table is corrupt: unexpected array shapes "
                                f"{self.latency.shape}, {self.energy.shape}, {self.task.shape}")
        if {d for d, _ in self.latency_columns} != set(DEVICES):
            raise SpacenasError("hardware table is corrupt: its devices differ from spacenas.benchmarks.hw.DEVICES")

    # ----- arch <-> row (delegated to the accuracy table) ----------------------------------
    @property
    def space(self):
        return self.nb201.space

    def row(self, arch: Arch) -> int:
        return self.nb201.row(arch)

    def arch_at(self, row: int) -> Arch:
        return self.nb201.arch_at(row)

    # ----- hardware columns -----------------------------------------------------------------
    def devices(self, dataset: str | None = None) -> tuple[str, ...]:
        """Devices with a latency column (for ``dataset`` when given)."""
        if dataset is not None:
            check_dataset(dataset)
        return tuple(d for d, t in self.latency_columns if dataset is None or t == dataset)

    def latency_values(self, device: str, dataset: str) -> np.ndarray:
        """Latency (ms) of every arch on ``device`` for ``dataset``'s network, float32 [N]."""
        return self.latency[:, _column(self.latency_columns, device, dataset, "latency")]

    def energy_values(self, device: str, dataset: str) -> np.ndarray:
        """Energy (mJ) per inference of every arch on ``device`` for ``dataset``, float32 [N]."""
        return self.energy[:, _column(self.energy_columns, device, dataset, "energy")]

    # ----- accuracy / task metric -------------------------------------------------------------
    def column_values(self, dataset: str, split: str = "test") -> np.ndarray:
        """Search/report metric of every arch; higher is better for every dataset.

        ``ninapro`` and ``darcy`` have one value per arch, returned for both splits.
        """
        check_dataset(dataset)
        if dataset in TASK_DATASETS:
            if split not in ("valid", "test"):
                raise unknown("split", split, ("valid", "test"))
            return self.task[:, TASK_DATASETS.index(dataset)].astype(np.float64)
        return self.nb201.column_values(dataset, split)

    def value(self, arch: Arch, dataset: str, split: str = "test") -> float:
        return float(self.column_values(dataset, split)[self.row(arch)])

    def accuracy(self, arch: Arch, dataset: str, split: str = "test") -> float:
        """Same as :meth:`value` (the name :class:`NB201Benchmark` uses)."""
        return self.value(arch, dataset, split)

    def optimum(self, dataset: str, split: str = "test") -> tuple[Arch, float]:
        """Best arch by ``split`` on ``dataset`` among the feasible archs (all, if unrestricted)."""
        col = self.column_values(dataset, split)
        if self.feasible is not None:
            if not self.feasible.any():
                raise SpacenasError("no architecture satisfies the constraints")
            col = np.where(self.feasible, col, -np.inf)
        r = int(np.argmax(col))
        return self.arch_at(r), float(col[r])

    def restricted(self, feasible: np.ndarray | None) -> HWBenchmark:
        """A view whose :meth:`optimum` only considers rows where ``feasible`` is true."""
        if feasible is not None:
            feasible = np.asarray(feasible, dtype=bool)
            if feasible.shape != (N_ARCHS,):
                raise SpacenasError(f"feasible mask must have shape ({N_ARCHS},), got {feasible.shape}")
        return replace(self, feasible=feasible)


def check_dataset(dataset: str) -> None:
    if dataset not in ALL_DATASETS:
        raise unknown("dataset", dataset, ALL_DATASETS)


def _column(columns: tuple[tuple[str, str], ...], device: str, dataset: str, what: str) -> int:
    check_dataset(dataset)
    if device not in DEVICES:
        raise unknown("device", device, DEVICES)
    for k, col in enumerate(columns):
        if col == (device, dataset):
            return k
    have = sorted({t for d, t in columns if d == device})
    if not have:
        with_what = sorted({d for d, _ in columns})
        raise SpacenasError(f"no {what} data for device {device!r} (devices with {what}: {', '.join(with_what)})")
    alt = sorted({d for d, t in columns if t == dataset})
    raise SpacenasError(f"device {device!r} has {what} for dataset(s) {', '.join(have)} only, not {dataset!r} "
                        f"(devices with {what} for {dataset}: {', '.join(alt) or 'none'})")


@lru_cache(maxsize=1)
def load_hw_benchmark() -> HWBenchmark:
    """Load the shipped hardware/task table (cached, read-only), checked against the NB201 table."""
    nb = load_nb201()
    path = resources.files("spacenas.benchmarks") / "data" / "nb201_hw.npz"
    try:
        with resources.as_file(path) as p, np.load(p) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, KeyError, ValueError) as e:
        raise SpacenasError(f"cannot read the shipped hardware table {path}: {e}") from e
    check_alignment(arrays["ops"], arrays["index"], nb)
    if tuple(str(s) for s in arrays["task_names"]) != TASK_DATASETS:
        raise SpacenasError(f"hardware table is corrupt: task columns {arrays['task_names']}, expected {TASK_DATASETS}")
    lat_cols = tuple(zip((str(s) for s in arrays["latency_device"]), (str(s) for s in arrays["latency_dataset"])))
    en_cols = tuple(zip((str(s) for s in arrays["energy_device"]), (str(s) for s in arrays["energy_dataset"])))
    for k in ("latency", "energy", "task"):
        arrays[k].setflags(write=False)
    return HWBenchmark(nb, arrays["latency"], lat_cols, arrays["energy"], en_cols, arrays["task"])


def check_alignment(ops: np.ndarray, index: np.ndarray, nb: NB201Benchmark) -> None:
    """Fail loudly unless ``ops``/``index`` list the same archs in the same order as ``nb``."""
    if ops.shape != (N_ARCHS, 6) or index.shape != (N_ARCHS,):
        raise SpacenasError(f"hardware table is corrupt: {ops.shape[0]} archs, expected {N_ARCHS}")
    bad_ops = np.flatnonzero((ops != nb.ops).any(axis=1))
    bad_idx = np.flatnonzero(index != nb.index)
    if len(bad_ops) or len(bad_idx):
        r = int(bad_ops[0] if len(bad_ops) else bad_idx[0])
        raise SpacenasError(
            f"hardware table is not aligned with the NB201 table: {len(bad_ops)} rows differ in architecture and "
            f"{len(bad_idx)} in NB201 index (first: row {r}); rebuild it with scripts/build_hw_data.py")
