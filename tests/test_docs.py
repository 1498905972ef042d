"""The docs run as written (issue 11 part 1).

* every ```python block in README.md and docs/*.md runs as a standalone script in a fresh
  interpreter (cwd a temporary directory, PYTHONPATH set to this checkout);
* every ```bash / ```sh block is either run here (marker ``<!-- run -->`` right above it) or
  says why it cannot run here (``<!-- not run: REASON -->`` right above it);
* every output block marked ``<!-- output of: COMMAND -->`` equals what COMMAND prints now
  (regenerate them with ``python scripts/update_docs.py``); blocks marked
  ``<!-- example output of: COMMAND -->`` (timings) are shown, not checked.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import update_docs  # noqa: E402  (the one parser of doc blocks, shared with the script)

# Pages whose blocks are run by their own tests.
SKIP_FILES = {
    "docs/extending.md",  # helper `config`: run by its own test
    "docs/report.md",  # helper `report`: owned elsewhere, its example is run by tests/test_html_report.py
}
# docs/dsm-nas.md python blocks are run by tests/test_dsm_benchmarks.py, with the benchmark data.
SKIP_PYTHON = {"docs/dsm-nas.md"}

BLOCKS = [b for b in update_docs.all_blocks() if b.file not in SKIP_FILES]
PYTHON = [b for b in BLOCKS if b.lang == "python" and b.file not in SKIP_PYTHON]
SHELL = [b for b in BLOCKS if b.lang in ("bash", "sh", "shell", "console")]
OUTPUTS = [b for b in BLOCKS if b.output_of and not b.example]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def test_docs_have_blocks():
    assert len(PYTHON) >= 10 and len(SHELL) >= 5 and len(OUTPUTS) >= 1


@pytest.mark.parametrize("block", SHELL, ids=lambda b: b.id)
def test_shell_block_is_run_or_says_why_not(block):
    assert block.run or block.not_run, (
        f"{block.id}: put <!-- run --> or <!-- not run: REASON --> right above this block")
    if block.not_run:
        assert len(block.not_run.strip()) >= 5, f"{block.id}: say why it cannot run here"


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(block.text)
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"{block.id} failed:\n{p.stderr[-3000:]}"


@pytest.mark.parametrize("block", [b for b in SHELL if b.run], ids=lambda b: b.id)
def test_shell_block_runs(block, tmp_path):
    update_docs.prepare(tmp_path)
    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=tmp_path,
                       env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"{block.id} failed:\n{p.stdout[-1500:]}\n{p.stderr[-3000:]}"


@pytest.mark.parametrize("block", OUTPUTS, ids=lambda b: b.id)
def test_shown_output_is_what_the_command_prints(block, tmp_path):
    now = update_docs.run_command(block.output_of, tmp_path)
    assert block.text.rstrip("\n") == now.rstrip("\n"), (
        f"{block.id}: shown output differs from `{block.output_of}`; "
        "run `python scripts/update_docs.py`")
