"""docs/extending.md runs as written.

Blocks are taken in page order, all in one fresh directory: a block whose first line is
``# file: NAME`` is written to NAME (a Python one is also run); other ``python`` blocks are written
to a file and run in a fresh interpreter; ``bash`` blocks run in bash there, with ``spacenas`` on
PATH meaning this tree's ``python -m spacenas``; a ``text`` block must equal the stdout of the
block just before it (``SPACENAS_UPDATE_DOCS=1 python -m pytest tests/docs/test_docs_extending.py`` rewrites
the ``text`` blocks with what the blocks print: regenerate, never hand-edit). The ``toml`` block (an entry point declaration) is checked to name the
plugin's registration function.
"""
import os
import re
import subprocess
import sys
import tomllib
from support import ROOT

PAGE = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]


def rewrite_outputs(outputs: dict[int, str]) -> None:
    """Replace the bodies of the ``text`` blocks numbered in ``outputs`` (SPACENAS_UPDATE_DOCS)."""
    text = PAGE.read_text(encoding="utf-8")
    matches = list(BLOCK.finditer(text))
    for i in sorted(outputs, reverse=True):
        m = matches[i]
        text = text[:m.start(2)] + outputs[i] + text[m.end(2):]
    PAGE.write_text(text, encoding="utf-8")


def file_name(body: str) -> str | None:
    first = body.splitlines()[0] if body else ""
    m = re.fullmatch(r"# file: (\S+)", first.strip())
    return m.group(1) if m else None


def test_the_page_has_the_blocks_the_test_expects():
    langs = [lang for lang, _ in blocks()]
    assert {"python", "bash", "text", "yaml", "toml"} <= set(langs)
    assert set(langs) <= {"python", "bash", "text", "yaml", "toml"}, "a block of a kind this test does not run"


def test_every_block_runs_as_written(tmp_path):
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "spacenas"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m spacenas "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    last_out: str | None = None
    ran = 0
    update = os.environ.get("SPACENAS_UPDATE_DOCS") == "1"
    new_outputs: dict[int, str] = {}
    for i, (lang, body) in enumerate(blocks()):
        name = file_name(body)
        if lang == "text":
            assert last_out is not None, f"block {i}: output shown before anything ran"
            if update:
                new_outputs[i] = last_out
            assert update or last_out == body, f"block {i}: shown output differs from what the block before prints"
            last_out = None
            continue
        if name is not None:
            (work / name).write_text(body)
        if lang == "toml":
            eps = tomllib.loads(body)["project"]["entry-points"]["spacenas.plugins"]
            module, attr = eps["toynas"].split(":")
            assert (work / f"{module}.py").is_file() and f"def {attr}(" in (work / f"{module}.py").read_text()
            continue
        if lang == "yaml":
            assert name is not None, f"block {i}: a yaml block needs a '# file: NAME' line"
            continue
        if lang == "python":
            script = work / (name or f"block_{i}.py")
            if name is None:
                script.write_text(body)
            cmd = [sys.executable, str(script)]
        else:
            cmd = ["bash", "-e", "-o", "pipefail", "-c", body]
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"block {i} ({lang}) failed:\n{body}\n--- stderr:\n{p.stderr}"
        assert "Traceback" not in p.stderr, p.stderr
        last_out = p.stdout
        ran += 1
    assert ran >= 5
    if update:
        rewrite_outputs(new_outputs)


def test_readme_and_cli_docs_link_the_page():
    assert "docs/extending.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "extending.md" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


def test_the_typed_config_says_where_strictmodel_comes_from_and_works_as_shown(tmp_path):
    """The page said "give it a typed `Config`" without naming StrictModel's module; the import
    stands where `Config` is first mentioned, and the shown class takes the shown --set."""
    text = PAGE.read_text(encoding="utf-8")
    first = text.index("`Config`")
    sentence = text[first:text.index("\n\n", first)]
    assert "from spacenas.config import StrictModel" in sentence
    assert "class Config(StrictModel): restarts: int = 0" in sentence and "--set restarts=2" in sentence
    (tmp_path / "cfgplug.py").write_text(
        "from spacenas.config import StrictModel\n"
        "from spacenas.strategies.base import QueryStrategy\n"
        "class Restarting(QueryStrategy):\n"
        "    class Config(StrictModel):\n"
        "        restarts: int = 0\n"
        "    def ask(self):\n"
        "        print('restarts', self.config.restarts, flush=True)\n"
        "        raise SystemExit(0)\n"
        "def register(api):\n"
        "    api.register_method('restarting', Restarting)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "spacenas", "search", "--plugin", "cfgplug:register", "--method",
                        "restarting", "--set", "restarts=2", "--budget", "1", "--no-progress", "--run-dir", "r"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "restarts 2" in p.stdout, p.stderr
