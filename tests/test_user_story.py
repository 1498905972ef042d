"""Issue 10's user story end to end, on real subprocesses at tiny sizes: a one-shot search, a
training of its arch from the run dir (with exports), reports of both (Markdown and HTML), a
one-shot sweep and its report, and a report of the whole directory of mixed kinds."""
from __future__ import annotations

import json
import subprocess
import sys
from support import cli_env

TINY_SEARCH = ["--epochs", "1", "--set", "max_steps=2", "--set", "C=4", "--set", "layers=3"]
TINY_TRAIN = ["--epochs", "1", "--set", "C=4", "--set", "layers=3", "--set", "batch_size=256"]


def _cli(*args, cwd):
    env = cli_env()
    p = subprocess.run([sys.executable, "-m", "spacenas", *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"spacenas {' '.join(map(str, args))}:\n{p.stderr[-3000:]}"
    return p.stdout


def test_issue10_user_story(tmp_path):
    c = tmp_path
    _cli("search", "--no-progress", "--space", "darts", "--method", "drnas", "--data", "digits",
         "--run-dir", "runs/s", *TINY_SEARCH, cwd=c)
    arch = (c / "runs/s/arch.txt").read_text().strip()
    assert arch.startswith("Genotype(")
    _cli("train", "--no-progress", "--arch", "runs/s", "--data", "digits", "--run-dir", "runs/t",
         "--export", "torchscript,onnx", *TINY_TRAIN, cwd=c)
    t = json.loads((c / "runs/t/result.json").read_text())
    assert t["kind"] == "train" and t["arch"] == arch
    assert (c / "runs/t/model.onnx").is_file() and (c / "runs/t/model.torchscript.pt").is_file()

    out = _cli("report", "runs/s", cwd=c)  # one-shot run: derived arch, cost, mixing plots
    assert "One-shot searches" in out and arch.replace("|", "\\|") in out
    assert (c / "runs/s/mixing_normal.png").is_file() and (c / "runs/s/mixing_reduce.png").is_file()
    out = _cli("report", "runs/t", cwd=c)  # train run: test accuracy, params, MAdds, curve
    assert "Training runs" in out and f"{t['test_acc']:.2f}" in out and f"{t['params']:,}" in out
    assert f"{t['madds']:,}" in out and (c / "runs/t/train_curve.png").is_file()
    _cli("report", "runs/s", "--html", "s.html", cwd=c)
    page = (c / "s.html").read_text()
    assert "data:image/png;base64," in page and "derived architecture" in page
    import html
    assert html.escape(arch, quote=True) in page

    opts = [x for m in ("darts", "drnas", "ddsas")
            for kv in ("epochs=1", "max_steps=2", "C=4", "N=1") for x in ("--set", f"{m}.{kv}")]
    _cli("sweep", "--no-progress", "--space", "nb201", "--methods", "darts,drnas,ddsas", "--data", "digits",
         "--seeds", "2", "--workers", "1", "--out", "runs/os", *opts, cwd=c)
    out = _cli("report", "runs/os", cwd=c)
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith(("| darts ", "| drnas ", "| ddsas "))}
    assert set(rows) == {"darts", "drnas", "ddsas"}, out  # the registry names the runs were made with
    import numpy as np

    from spacenas import registry
    nb201 = registry.space("nb201")
    for m, line in rows.items():  # mean +- std over the 2 seeds of the derived archs' NB201 cifar10 accuracy
        archs = [(d / "arch.txt").read_text().strip() for d in sorted((c / "runs/os/digits").glob(f"{m}/seed-*"))]
        accs = [registry.benchmark_entry("nb201", "cifar10", nb201.parse(a))["test"] for a in archs]
        assert len(accs) == 2 and f"{np.mean(accs):.2f} +- {np.std(accs):.2f} (2)" in line, line

    out = _cli("report", "runs", "--no-plots", cwd=c)  # a directory of mixed kinds: a table per kind
    assert "One-shot searches" in out and "Training runs" in out
    _cli("report", "runs", "--html", "all.html", cwd=c)
    assert "Training runs" in (c / "all.html").read_text()
