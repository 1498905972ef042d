"""Regenerate every output block shown in README.md and docs/*.md from its command.

A shown output is a fenced ```text block with a marker right above it::

    <!-- output of: spacenas search --space nb201 --dataset cifar10 --method dsm --seed 0 -->
    ```text
    ...what the command prints on stdout...
    ```

``python scripts/update_docs.py`` runs each command (bash, in a fresh temporary directory,
with this checkout first on PYTHONPATH) and writes its stdout into the block;
``--check`` only reports blocks that differ (exit 1). tests/docs/test_docs.py runs the same check.
``<!-- slow output of: CMD -->`` marks deterministic output of a command too slow for the test
(minutes): regenerated here (unless ``--skip-slow``), not checked by the test (the page says so).
``<!-- example output of: CMD -->`` marks output that is not deterministic (timings): it is
shown as an example and neither regenerated nor checked.

Other markers read by tests/docs/test_docs.py: ``<!-- run -->`` (the test runs this shell block)
and ``<!-- not run: REASON -->`` (why a shell block cannot run in the test).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    file: str  # path relative to ROOT
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str  # the HTML comment right above the fence ("" if none)
    start: int  # index of the first body line
    end: int  # index of the closing fence

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def run(self) -> bool:
        return self.marker == "run"

    @property
    def not_run(self) -> str:
        return self.marker[len("not run:"):].strip() if self.marker.startswith("not run:") else ""

    @property
    def slow(self) -> bool:
        return self.marker.startswith("slow output of:")

    @property
    def example(self) -> bool:
        return self.marker.startswith("example output of:")

    @property
    def output_of(self) -> str:
        for key in ("output of:", "slow output of:", "example output of:"):
            if self.marker.startswith(key):
                return self.marker[len(key):].strip()
        return ""


def doc_files() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mk = MARKER.match(lines[k]) if k >= 0 else None
        out.append(Block(str(path.relative_to(ROOT)), i + 1, m.group(1), "\n".join(lines[i + 1:j]) + "\n",
                         mk.group(1) if mk else "", i + 1, j))
        i = j + 1
    return out


def all_blocks() -> list[Block]:
    return [b for f in doc_files() for b in blocks(f)]


def prepare(cwd: Path) -> None:
    """Files the documented commands expect in their working directory (none yet)."""
    cwd.mkdir(parents=True, exist_ok=True)


def run_command(cmd: str, cwd: Path, timeout: float = 900) -> str:
    prepare(cwd)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", cmd], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="report differing blocks, write nothing")
    ap.add_argument("--skip-slow", action="store_true", help="leave the 'slow output of' blocks as they are")
    ap.add_argument("files", nargs="*", help="only these files (default: README.md, docs/*.md)")
    args = ap.parse_args(argv)
    files = [Path(f).resolve() for f in args.files] or doc_files()
    stale = 0
    for path in files:
        todo = [b for b in blocks(path) if b.output_of and not b.example and not (args.skip_slow and b.slow)]
        if not todo:
            continue
        lines = path.read_text().split("\n")
        for b in reversed(todo):  # bottom-up keeps earlier line numbers valid
            with tempfile.TemporaryDirectory() as tmp:
                # slow blocks: tens of minutes on a loaded machine, more than the docs test's limit
                now = run_command(b.output_of, Path(tmp), 7200 if b.slow else 900).rstrip("\n")
            if now != b.text.rstrip("\n"):
                stale += 1
                print(f"{b.id}: {'differs' if args.check else 'updated'} ({b.output_of})")
                lines[b.start:b.end] = now.split("\n")
        if not args.check:
            path.write_text("\n".join(lines))
    print(f"{stale} output block(s) {'differ' if args.check else 'updated'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
