"""The DSM-NAS benchmark scripts at tiny size: they run and print their tables (format, not numbers)."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from support import ROOT

BENCH = ROOT / "benchmarks"


def run_script(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_ablations_quick_prints_every_table(tmp_path):
    cache = tmp_path / "cache.jsonl"
    out = run_script("dsm_ablations.py", "--quick", "--datasets", "cifar100", "--cache", str(cache),
                     "--k-values", "1,4", "--m-values", "2,4")
    for head in ("### Fig. 7 analogue", "### Fig. 8a analogue", "### Fig. 9 analogue: K", "### Fig. 9 analogue: M",
                 "| variant | cifar100 |", "| claim (paper, Fig. 7) | cifar100 |", "| K | cifar100 |",
                 "| M | cifar100 |", "| sampled archs | cifar100 |"):
        assert head in out, head
    for row in ("| DSM-NAS without subspace update |", "| random search in mined subspaces |",
                "| absolute |", "| center replacements, improvement |", "| 1 |"):
        assert row in out, row
    assert "p = " in out and "+-" in out
    # a second run reads every run from the cache and prints the same
    assert run_script("dsm_ablations.py", "--quick", "--datasets", "cifar100", "--cache", str(cache),
                      "--k-values", "1,4", "--m-values", "2,4") == out


def test_plus_transfer_quick_prints_the_table():
    out = run_script("dsm_plus_transfer.py", "--quick", "--datasets", "cifar100")
    assert "| method | cifar100 |" in out
    for row in ("| DSM-NAS+, centers from cifar10", "| DSM-NAS, random centers", "| paper: DSM-NAS+",
                "| source answer, no search on the target", "| DSM-NAS+ - DSM-NAS (same budget on the target) |"):
        assert row in out, row


def test_distance_quick_prints_the_table_and_saves_the_plot(tmp_path):
    png = tmp_path / "d.png"
    out = run_script("dsm_distance.py", "--quick", "--archs", "120", "--png", str(png))
    assert "| distance | pairs | cifar10 | cifar100 | imagenet16-120 |" in out
    assert "\n| 1 | " in out and "\n| 6 | " in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_distance_stats_equal_brute_force():
    sys.path.insert(0, str(BENCH))
    try:
        from dsm_distance import distance_stats
    finally:
        sys.path.remove(str(BENCH))
    rng = np.random.default_rng(3)
    ops = rng.integers(0, 5, (50, 6))
    acc = rng.normal(80, 10, 50)
    st = distance_stats(ops, [acc, -acc], block=7)  # small blocks: crosses block borders
    by: dict[int, list[float]] = {}
    for i, j in itertools.combinations(range(50), 2):
        by.setdefault(int((ops[i] != ops[j]).sum()), []).append(abs(acc[i] - acc[j]))
    assert st[0, 0, 0] == 0  # distinct rows only
    for d, v in by.items():
        for k in (0, 1):
            assert st[k, d, 0] == len(v)
            np.testing.assert_allclose(st[k, d, 1], np.sum(v))
            np.testing.assert_allclose(st[k, d, 2], np.sum(np.square(v)))


def python_blocks(md: Path) -> list[str]:
    blocks, cur = [], None
    for line in md.read_text().splitlines():
        if cur is None and line.strip() == "```python":
            cur = []
        elif cur is not None and line.strip() == "```":
            blocks.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(line)
    return blocks


def test_every_python_block_of_the_dsm_doc_runs_standalone(tmp_path):
    blocks = python_blocks(ROOT / "docs" / "dsm-nas.md")
    assert len(blocks) >= 3
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for i, code in enumerate(blocks):
        f = tmp_path / f"block{i}.py"
        f.write_text(code)
        p = subprocess.run([sys.executable, str(f)], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=900)
        assert p.returncode == 0, f"block {i} of docs/dsm-nas.md failed:\n{code}\n{p.stderr[-2000:]}"
        assert p.stdout.strip(), f"block {i} printed nothing"


def test_subspace_count_quick_prints_one_row_per_k():
    out = run_script("dsm_subspace_count.py", "--quick")
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["4", "16"]
    assert all(float(r.split("|")[4]) > 0 for r in rows)  # peak memory measured


def test_benchmark_scripts_use_the_library_paired_test():
    """One Wilcoxon helper: the DSM-NAS scripts' is the sweep report's (scipy.stats.wilcoxon)."""
    sys.path.insert(0, str(BENCH))
    try:
        import dsm_common
    finally:
        sys.path.remove(str(BENCH))
    from spacenas.reporting.report import wilcoxon_p
    assert dsm_common.wilcoxon_p is wilcoxon_p
    assert dsm_common.wilcoxon([2, 4, 6, 8, 10], [1, 2, 3, 4, 5]) == "+3.00, p = 0.062"
    assert dsm_common.wilcoxon([1, 2], [1, 2]).endswith("p = 1")
