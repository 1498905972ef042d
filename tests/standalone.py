"""Run a script in a fresh interpreter that cannot import spacenas (export round-trip tests)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

# -I (isolated: no cwd, no PYTHONPATH, no user site) and -S (no site processing, so spacenas's
# editable-install hook is not loaded); only the directory holding torch (and onnx) is on sys.path,
# passed as sys.argv[1]. The child first proves that spacenas is not importable.
_GUARD = """import sys
sys.path.append(sys.argv[1])
try:
    import spacenas
except ImportError:
    pass
else:
    raise SystemExit("spacenas is importable in the child process")
"""


def run_without_spacenas(workdir: Path, body: str, *args: str) -> None:
    """Run ``body`` in ``workdir`` (``sys.argv[2:]`` = ``args``); fail the test if it fails."""
    (workdir / "child.py").write_text(_GUARD + body)
    site = str(Path(torch.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-I", "-S", "child.py", site, *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
