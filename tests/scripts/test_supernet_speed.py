"""benchmarks/supernet_speed.py at tiny sizes: the tables it prints are complete and consistent
(speed-up = reference ms / fused ms, loop/model = the two rates' ratio), the default layout row
names the layouts the library's rule picks on the CPU, bad flags are refused."""
from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT, cli_env

SCRIPT = str(ROOT / "benchmarks" / "supernet_speed.py")



def _rounding(ratio: float, a: float, b: float, unit: float = 0.05) -> float:
    """How far a ratio printed to 2 decimals may lie from a / b when a and b are printed to 0.1
    (each off by up to 0.05): the ratio's own rounding plus the relative error of both."""
    return 0.005 + ratio * (unit / a + unit / b) + 1e-9

def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=cli_env(), cwd=ROOT,
                          timeout=600)


def table_rows(out: str, first: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in out.splitlines() if ln.startswith(f"| {first}")]


def test_tiny_tables():
    r = run("--tiny", "--steps", "1", "--clock", "process", "--cases", "nb201", "--layouts", "default,contiguous")
    assert r.returncode == 0, r.stderr
    rows = table_rows(r.stdout, "NB201 C=4 N=1 b8")
    assert [row[1] for row in rows] == ["default: contiguous / channels_last", "contiguous: contiguous / contiguous"]
    for row in rows:
        ref_ms, fused_ms, ratio = float(row[2]), float(row[3]), float(row[4].rstrip("x"))
        assert ref_ms > 0 and fused_ms > 0 and ratio == pytest.approx(ref_ms / fused_ms, abs=_rounding(ratio, ref_ms, fused_ms))
        assert float(row[5]) > 0 and float(row[6]) > 0 and row[7] == "fused"
    assert rows[0][2] == rows[1][2]  # the default reference is the contiguous one: measured once
    modes = {row[0]: row for row in (table_rows(r.stdout, m)[0] for m in ("fp32", "channels_last", "bf16 autocast"))}
    assert len(modes) == 3 and "DARTS V2 eval net (C=4, 3 cells, b8)" in r.stdout
    for row in modes.values():
        model, loop_cpu, loop_dev, share = (float(v) for v in row[1:5])
        assert min(model, loop_cpu, loop_dev) > 0 and share == pytest.approx(loop_dev / model, abs=_rounding(share, loop_dev, model))


@pytest.mark.parametrize("flag, value, message", [("--layouts", "nhwc", "bad --layouts"),
                                                  ("--cases", "nb101", "unknown --cases")])
def test_bad_flags(flag, value, message):
    r = run("--tiny", flag, value, "--skip-eval-net")
    assert r.returncode == 2 and message in r.stderr
