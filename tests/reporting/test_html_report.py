"""The search-plot data in one-shot logs (DrNAS concentrations, DDSAS t_k), the self-contained
HTML report, and its rendering in headless Chromium (skipped when no chromium binary is found;
Debian: ``apt-get install -y chromium``)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from spacenas.errors import SpacenasError
from spacenas.reporting.html import arch_figure_html, detect_kind, html_table, write_html_report
from spacenas.reporting.plots_search import dirichlet_accuracy_range, load_log, write_search_plots
from spacenas.spaces.nb201 import NB201Space

def _cli(*args: str) -> None:
    """``spacenas ARGS`` in this process (the CLI's own entry point, without a new interpreter)."""
    from spacenas.cli.main import main
    assert main(list(args)) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    _cli("search", "--space", "nb201", "--dataset", "cifar10", "--method", "random", "--budget", "20",
         "--run-dir", str(root / "query"), "--no-progress")
    _cli("sweep", "--datasets", "cifar10,cifar100", "--methods", "random,evolution", "--seeds", "2",
         "--budget", "15", "--workers", "1", "--out", str(root / "sweep"), "--no-progress")
    for method in ("drnas", "ddsas"):
        _cli("search", "--space", "nb201", "--method", method, "--data", "digits", "--epochs", "2",
             "--set", "C=4", "--set", "N=1", "--set", "max_steps=3", "--set", "dataset=cifar10",
             "--run-dir", str(root / method), "--no-progress")
    return {k: root / k for k in ("query", "sweep", "drnas", "ddsas")}


@pytest.fixture(scope="module")
def pages(runs, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("html")
    return {k: write_html_report(runs[k], out / f"{k}.html") for k in ("query", "sweep", "drnas")}


# ----- logging for the search plots ------------------------------------------------------------
def test_drnas_log_extra_is_the_concentration_with_pruned_ops_zero():
    from spacenas.strategies.oneshot.drnas import DrNAS
    s = DrNAS({"cell": (2, 3)})
    with torch.no_grad():
        s.params["cell"].copy_(torch.tensor([[0.0, -1.0, 2.0], [0.5, 0.0, 0.0]]))
    s.set_op_masks({"cell": torch.tensor([[True, True, True], [True, False, True]])})
    # beta = ELU(eta) + 1: 0 -> 1, -1 -> e^-1 = 0.36788, 2 -> 3, 0.5 -> 1.5; masked op -> 0
    assert s.log_extra() == {"concentration": {"cell": [[1.0, 0.36788, 3.0], [1.5, 0.0, 1.0]]}}


def test_ddsas_log_extra_counts_sum_to_iterations_times_L():
    from spacenas.strategies.oneshot.ddsas import DDSAS
    s = DDSAS({"cell": (6, 5)}, {"L": 8}, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        s.resample()
    extra = s.log_extra()
    t = np.asarray(extra["sample_counts"]["cell"])
    assert t.shape == (6, 5) and extra["sample_iterations"] == 3
    assert t.sum() == 3 * 8 and t.max() <= 3  # each iteration puts L=8 ops in the subspace
    json.dumps(extra)


def test_accuracy_range_never_samples_pruned_ops():
    # one active op per edge (op 2 = nor_conv_1x1 everywhere): every sample is the same arch
    beta = np.zeros((6, 5))
    beta[:, 2] = 1.0
    seen = []
    lo, mean, hi = dirichlet_accuracy_range(beta, lambda a: seen.append(a) or 7.0, np.random.default_rng(0), n=5)
    assert (lo, mean, hi) == (7.0, 7.0, 7.0) and len(seen) == 5
    assert NB201Space().format(seen[0]).count("nor_conv_1x1") == 6
    # two active ops on edge 0 (none, skip): samples use only those two there
    beta[0] = [2.0, 2.0, 0.0, 0.0, 0.0]
    seen.clear()
    dirichlet_accuracy_range(beta, lambda a: seen.append(NB201Space().format(a)) or 0.0, np.random.default_rng(1), n=40)
    firsts = {s.split("|")[1] for s in seen}
    assert firsts == {"none~0", "skip_connect~0"}


def test_real_runs_log_the_extras_and_draw_both_plots(runs, tmp_path):
    drnas, ddsas = load_log(runs["drnas"]), load_log(runs["ddsas"])
    assert len(drnas) == 2 and all(np.asarray(r["concentration"]["cell"]).shape == (6, 5) for r in drnas)
    assert all(np.asarray(r["sample_counts"]["cell"]).shape == (6, 5) for r in ddsas)
    assert "sample_counts" not in drnas[0] and "concentration" not in ddsas[0]
    names = {p.name for p in write_search_plots(runs["drnas"], tmp_path / "a")}
    assert {"mixing_cell.png", "exploration.png", "accuracy_range.png"} <= names and "sample_counts.png" not in names
    names = {p.name for p in write_search_plots(runs["ddsas"], tmp_path / "b")}
    assert "sample_counts.png" in names and "accuracy_range.png" not in names


# ----- the page itself ---------------------------------------------------------------------
def test_detect_kind_and_bad_dirs(runs, tmp_path):
    assert [detect_kind(runs[k]) for k in ("query", "drnas", "sweep")] == ["query", "oneshot", "sweep"]
    with pytest.raises(SpacenasError, match="neither a run dir"):
        write_html_report(tmp_path, tmp_path / "x.html")
    with pytest.raises(SpacenasError, match="not a directory"):
        write_html_report(tmp_path / "missing", tmp_path / "x.html")


def test_table_escapes_and_aligns():
    t = html_table(["a<b", "n"], [["<script>", 1.5]])
    assert "&lt;script&gt;" in t and "<script>" not in t and '<td class="num">1.50</td>' in t


def test_arch_picture_is_inline_svg_with_op_labels():
    h = arch_figure_html("nb201", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|", "x")
    assert h.startswith('<figure class="arch"') and "<svg" in h
    for op in ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"):
        assert f">{op}<" in h
    assert "no picture" in arch_figure_html("nb201", "not an arch", "x")


def test_pages_are_self_contained(pages, runs):
    for k, p in pages.items():
        text = p.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text), k
        assert "<link" not in text and "<script" not in text and "@import" not in text and "url(" not in text
        assert text.count('src="data:image/png;base64,') >= 1
    res = json.loads((runs["query"] / "result.json").read_text())
    q = pages["query"].read_text()
    assert res["arch"] in q and f"{res['test']:.2f}" in q and f"{res['gap']:.2f}" in q


# ----- headless Chromium ---------------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


needs_chromium = pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH "
                                    "(Debian: apt-get install -y chromium)")
PROBE = ('<script>window.addEventListener("load",()=>{for(const i of document.images)'
         'i.setAttribute("data-natural-width",String(i.naturalWidth))})</script>')


def _browser(*args: str) -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


def _rendered(page: Path, tmp_path: Path) -> str:
    """The DOM after load, with every image's decoded width written into it (test-only script)."""
    probe = tmp_path / f"probe_{page.name}"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    return _browser("--dump-dom", probe.resolve().as_uri())


def _check_images(dom: str, at_least: int) -> None:
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) >= at_least and all(w > 100 for w in widths), widths


@needs_chromium
def test_chromium_renders_query_run(pages, runs, tmp_path):
    dom = _rendered(pages["query"], tmp_path)
    res = json.loads((runs["query"] / "result.json").read_text())
    assert re.search(r'<figure class="arch"[^>]*><svg', dom) and ">nor_conv_3x3<" in dom
    assert '<table class="result">' in dom and res["arch"] in dom and f"{res['test']:.2f}" in dom
    _check_images(dom, 1)


@needs_chromium
def test_chromium_renders_sweep_table(pages, runs, tmp_path):
    dom = _rendered(pages["sweep"], tmp_path)
    table = re.search(r'<table class="summary">.*?</table>', dom, re.S).group(0)
    rows = re.findall(r"<tr><td>(\w+)</td>", table)
    assert rows == ["random", "evolution", "optimum"]
    # the cell of random/cifar10 is mean +- std of the two seeds' test accuracies
    tests = [json.loads((runs["sweep"] / "cifar10" / "random" / f"seed-{s}" / "result.json").read_text())["test"]
             for s in (0, 1)]
    assert f"{np.mean(tests):.2f} ± {np.std(tests):.2f} (2)" in table
    assert dom.count('<figure class="arch"') == 2  # best arch of cifar10 and of cifar100
    _check_images(dom, 2)


@needs_chromium
def test_chromium_renders_oneshot_run_and_screenshot(pages, runs, tmp_path):
    dom = _rendered(pages["drnas"], tmp_path)
    last = load_log(runs["drnas"])[-1]
    assert last["arch"] in dom and re.search(r'<figure class="arch"[^>]*><svg', dom)
    assert len(re.findall(r"<tr><td class=\"num\">\d+</td>", re.search(r'<table class="epochs">.*?</table>',
                                                                       dom, re.S).group(0))) == 2
    assert 'alt="accuracy range"' in dom
    _check_images(dom, 3)  # heatmap, exploration, accuracy range
    shot = tmp_path / "page.png"
    _browser(f"--screenshot={shot}", "--window-size=1000,1400", pages["drnas"].resolve().as_uri())
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1000, 1400) and shot.stat().st_size > 20_000
