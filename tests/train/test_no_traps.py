"""Issue 11 part 6 ("no traps"): defaults that fit the data, early time estimates, short
searches that say when their result means little, one-line errors."""
from __future__ import annotations

import math

import pytest
import torch

from spacenas.data import load_dataset
from spacenas.errors import SpacenasError
from spacenas.spaces.darts import DARTSSpace
from spacenas.train import train, train_config
from spacenas.train.config import augmentation, augmentation_note, scale_to

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


# ----- (a) cutout and crop padding scale with the image size ---------------------------------------
def test_recipe_augmentation_scales_with_the_image_size():
    assert scale_to(16, 8, 32) == 4 and scale_to(4, 8, 32) == 1 and scale_to(4, 28, 32) == 4
    assert scale_to(16, 8, None) == 16 and scale_to(0, 8, 32) == 0
    d = train_config("darts")
    assert (d.cutout, d.augment_pad, d.augment_for) == (16, 4, 32)  # the papers' values stay in the recipe
    assert augmentation(d, 32) == (16, 4)  # CIFAR: exactly the paper's
    assert augmentation(d, 8) == (4, 1)  # digits
    assert augmentation(d, 16) == (8, 2)  # ImageNet16-120: NB201's own padding 2
    assert augmentation(train_config("nb201"), 8) == (0, 1)
    assert "scaled" in augmentation_note(d, 8) and "cutout 4" in augmentation_note(d, 8)


def test_own_cutout_is_used_as_given_and_a_blanking_one_is_refused():
    c = train_config("darts", {"cutout": 3})
    assert c.augment_for is None and augmentation(c, 8) == (3, 4)
    with pytest.raises(SpacenasError, match="blank most of every 8x8 image"):
        augmentation(train_config("darts", {"cutout": 16}), 8)
    with pytest.raises(SpacenasError, match="blank"):
        augmentation(train_config("darts", {"augment_for": None}), 8)  # the unscaled recipe on digits


def test_default_darts_recipe_learns_digits():
    """The recipe as shipped (cutout, padding, drop-path, auxiliary head), only the network
    shrunk and the epochs cut: training loss falls and the test loss stays finite and small
    (with the unscaled cutout 16 it reached 1e16 and chance accuracy)."""
    digits = load_dataset("digits")
    cfg = train_config("darts", {"epochs": 3, "C": 8, "layers": 3})
    assert augmentation(cfg, digits.image_size) == (4, 1)
    r = train(DARTS_V2, DARTSSpace(), digits, cfg, progress=False)
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < losses[0] and all(math.isfinite(v) for v in losses)
    assert math.isfinite(r.test_loss) and r.test_loss < 2.3  # below chance's ln 10
    assert r.test_acc > 25.0  # chance is 10 %


# ----- (b) an early estimate of the total time ---------------------------------------------------
def test_step_timer_prints_once_from_the_measured_steps():
    import io

    from spacenas.eta import StepTimer, format_duration
    assert (format_duration(45), format_duration(65), format_duration(7385)) == ("45s", "1m 05s", "2h 03m")
    ticks = iter([10.0, 12.0])  # fake clock: 2 s for the 4 measured steps
    out = io.StringIO()
    t = StepTimer(1000, "search", skip=1, measure=4, stream=out, clock=lambda: next(ticks))
    for _ in range(10):
        t.step()
    assert out.getvalue().count("\n") == 1
    assert "estimated time for this search: 8m 20s (0.5 s/step x 1000 steps, from steps 2-5)" in out.getvalue()
    quiet = io.StringIO()
    short = StepTimer(4, stream=quiet, clock=lambda: 0.0)  # too short to measure: says nothing
    for _ in range(4):
        short.step()
    assert quiet.getvalue() == ""


def _tiny_search(tmp_path, *extra: str) -> list[str]:
    return ["search", "--space", "nb201", "--method", "darts", "--data", "digits", "--epochs", "2",
            "--set", "C=4", "--set", "N=1", "--set", "batch_size=32", "--set", "max_steps=5", *extra]


def test_search_and_train_print_the_estimate_early_and_a_usable_bar(capsys):
    from spacenas.cli.main import main
    assert main(_tiny_search(None)) == 0
    out, err = capsys.readouterr()
    assert "estimated time for this search:" in err and "10 steps" in err
    derived = [ln for ln in out.splitlines() if ln.startswith("derived")][0].split()[1]
    bar_lines = [ln for ln in err.replace("\r", "\n").splitlines() if "search[" in ln]
    assert bar_lines and not any(derived in ln for ln in bar_lines)  # no arch in the progress bar
    assert main(["train", "--space", "nb201", "--arch", derived, "--data", "digits", "--epochs", "1",
                 "--set", "C=4", "--set", "N=1", "--set", "batch_size=128"]) == 0
    err = capsys.readouterr().err
    assert "estimated time for this training:" in err and "12 steps" in err  # ceil(1437 / 128)
    assert "augmentation: cutout 0, crop padding 1 on 8x8 images" in err


# ----- (c) short searches: arch_lr scaled to the steps, a warning on near-uniform weights -----------
def test_arch_lr_rule_hand_worked():
    from spacenas.strategies.oneshot.short_runs import REFERENCE_STEPS, scaled_arch_lr
    assert REFERENCE_STEPS == 19550
    assert scaled_arch_lr(3e-4, 120) == pytest.approx(0.048875)
    assert scaled_arch_lr(3e-4, 19550) == 3e-4 and scaled_arch_lr(3e-4, 50000) == 3e-4
    assert scaled_arch_lr(3e-4, 10) == pytest.approx(0.06)  # capped at 200 x


def test_short_search_gets_the_scaled_rate_unless_given():
    from spacenas.strategies.oneshot.build import build_search
    b = build_search("nb201", "darts", "digits", epochs=10, options={"C": 4, "N": 1})
    assert b.strategy.config.arch_lr == pytest.approx(3e-4 * 19550 / 120)  # 718 images / 64 -> 12 steps x 10
    assert "arch_lr 0.0488" in b.notes[0] and "--set arch_lr=0.0003" in b.notes[0]
    given = build_search("nb201", "darts", "digits", epochs=10, options={"C": 4, "N": 1, "arch_lr": 3e-4})
    assert given.strategy.config.arch_lr == 3e-4 and given.notes == []
    drnas = build_search("nb201", "drnas", "digits", epochs=10, options={"C": 4, "N": 1})
    paper = type(drnas.strategy).Config.model_fields["arch_lr"].default
    assert drnas.strategy.config.arch_lr == pytest.approx(paper * 19550 / 120)


def test_margins_and_the_near_uniform_warning():
    import numpy as np

    from spacenas.strategies.oneshot.short_runs import margin_warning, margins
    hand = {"cell": np.array([[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]])}
    assert margins(hand) == pytest.approx([0.2, 0.25])
    assert margin_warning(hand) is None
    flat = {"cell": torch.tensor([[0.203, 0.199, 0.198, 0.2, 0.2], [0.196, 0.201, 0.203, 0.2, 0.2]])}
    w = margin_warning(flat)
    assert w is not None and "median lead" in w and "0.0025" in w and "\n" not in w


def test_short_search_moves_the_weights_away_from_uniform():
    """With the scaled arch_lr a short digits search ends with clearly non-uniform weights; with
    the paper's 3e-4 the same run stays near uniform and gets the warning."""
    from spacenas.strategies.oneshot.build import build_search
    from spacenas.strategies.oneshot.loop import search
    from spacenas.strategies.oneshot.short_runs import margin_warning, margins
    opts = {"C": 4, "N": 1, "batch_size": 64, "max_steps": 6}
    res = {}
    for name, extra in (("scaled", {}), ("paper", {"arch_lr": 3e-4})):
        b = build_search("nb201", "darts", "digits", epochs=3, options={**opts, **extra})
        res[name] = search(b.strategy, b.supernet, b.train, b.valid, b.loop, progress=False).scores
    assert margin_warning(res["paper"]) is not None
    assert margin_warning(res["scaled"]) is None
    assert float(margins(res["scaled"]).mean()) > 10 * float(margins(res["paper"]).mean())


# ----- (d), (e) hardware-aware runs ------------------------------------------------------------------
def test_dsm_with_an_unsatisfiable_constraint_is_nothing_feasible(tmp_path, capsys):
    from spacenas.cli.main import main
    rc = main(["search", "--method", "dsm", "--constraint", "latency:pixel3<=1", "--budget", "30", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0 and "nothing feasible" in out and "Traceback" not in err


def test_constrained_search_prints_and_stores_the_found_archs_metrics(tmp_path, capsys):
    import json

    from spacenas.cli.main import main
    d = tmp_path / "run"
    assert main(["search", "--method", "random", "--constraint", "latency:pixel3<=10", "--budget", "30",
                 "--no-progress", "--run-dir", str(d)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((d / "result.json").read_text())["metrics"]
    assert metrics["latency:pixel3"] <= 10 and metrics["params"] > 0
    line = [ln for ln in out.splitlines() if "latency:pixel3" in ln and " ms" in ln]
    assert line and f"{metrics['latency:pixel3']:.4g} ms" in line[0]


def test_units():
    from spacenas.evaluators.units import axis_label, format_metric, hardware_line, quality_label, quality_value
    assert axis_label("latency:pixel3") == "latency:pixel3 (ms)" and axis_label("energy:pi5") == "energy:pi5 (mJ)"
    assert axis_label("accuracy", "cifar10") == "accuracy (%)" and axis_label("accuracy", "darcy") == "accuracy (score)"
    assert format_metric("test", 0.97123, "darcy") == "0.9712" and format_metric("params", 400346) == "0.400M"
    assert quality_label("ninapro") == "Test error (%)" and quality_value("ninapro", 91.5) == pytest.approx(8.5)
    assert hardware_line({"params": 1e6, "latency:a": 2.0, "flops": 2e6, "valid": 90.0}, ["params<=2M"]) == \
        "params 1.000M  latency:a 2 ms  flops 2.00M"


def _rr(method, dataset, seed, valid, test, constraints=()):
    from spacenas.runner import RunResult
    return RunResult(method, "nb201", dataset, seed, 10, "valid", "|a|", valid, valid, test, None, None, 1.0,
                     "|b|", 1.0 - test, 10, 10, "budget", constraints=list(constraints),
                     feasible=True if constraints else None)


def test_report_states_constraints_and_reports_darcy_and_ninapro_as_the_paper():
    from spacenas.reporting.report import markdown
    runs = [_rr("random", "darcy", s, 0.9, t) for s, t in enumerate((0.97123, 0.97345))]
    runs += [_rr("random", "ninapro", s, 90.0, t) for s, t in enumerate((91.0, 93.0))]
    md = markdown(runs, tests=[])
    assert "0.9723 +- 0.0011 (2)" in md  # darcy: a score with 4 decimals
    assert "8.00 +- 1.00 (2)" in md  # ninapro: error = 100 - accuracy
    assert "ninapro: test error (%)" in md and "darcy: test score" in md
    con = markdown([_rr("random", "cifar10", 0, 90.0, 93.0, ["latency:pixel3<=10"])], tests=[])
    assert "Constraints: latency:pixel3<=10" in con


# ----- (f) HTML and plots --------------------------------------------------------------------------
def test_html_best_arch_per_dataset_is_chosen_by_validation(tmp_path, monkeypatch):
    from spacenas.reporting import html as html_report
    from spacenas.sweep import sweep
    summ = sweep(tmp_path / "s", ["random"], ["cifar10"], 3, budget=8, workers=1, progress=False)
    runs = summ.results
    best_valid = max(runs, key=lambda r: r.score)
    captions = []
    monkeypatch.setattr(html_report, "arch_figure_html", lambda space, arch, cap: captions.append((arch, cap)) or "")
    html_report.sweep_html(tmp_path / "s")
    assert captions[0][0] == best_valid.arch and "valid" in captions[0][1]


def test_arch_picture_is_titled_with_its_space():
    from spacenas.reporting.html import arch_figure_html
    svg = arch_figure_html("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                           "nor_conv_3x3~1|skip_connect~2|", "found")
    assert "found (nb201)" in svg
    svg = arch_figure_html("darts", DARTS_V2, "derived")
    assert "derived (darts): normal cell" in svg


def test_heatmap_colours_fit_a_short_run():
    import numpy as np

    from spacenas.reporting.plots_search import colour_range
    s = np.array([[[0.196, 0.203, 0.201]], [[0.199, 0.2, 0.201]]])
    assert colour_range(s) == (0.196, 0.203)
    lo, hi = colour_range(np.full((2, 1, 3), 0.2))
    assert hi - lo == pytest.approx(2e-3)


def test_supernet_runs_plot_the_search_score(tmp_path):
    """MobileNet runs log no per-query test accuracy: the best-so-far curve uses the search score."""
    import json

    import numpy as np

    from spacenas.reporting.plots import best_so_far, curve_key, curves
    from spacenas.runner import RunResult
    d = tmp_path / "r"
    d.mkdir()
    events = [{"step": i, "spent": i + 1.0, "best_score": 50.0 + i, "best_test": None} for i in range(4)]
    (d / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    r = RunResult("random", "mobilenet", "digits", 0, 4, "valid", "x", 53.0, 53.0, 80.0, None, None, None, None,
                  None, 4.0, 4, "budget", run_dir=str(d))
    assert curve_key([r], "digits") == "best_score"
    grid, cs = curves([r], "digits")
    assert np.allclose(cs["random"][0], [50, 51, 52, 53])
    assert np.isnan(best_so_far(events, np.array([1.0]))[0])  # the test column alone is empty


def test_interrupt_hint_names_resume_only_with_a_checkpoint(tmp_path):
    from argparse import Namespace

    from spacenas.cli.main import interrupt_hint

    def hint(run_dir, command="search"):
        return interrupt_hint(Namespace(command=command, run_dir=run_dir))

    assert "--resume" not in hint(None)
    (tmp_path / "config.json").write_text("{}")
    assert "cannot continue" in hint(str(tmp_path)) and "delete" in hint(str(tmp_path))
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert hint(str(tmp_path)).startswith("continue with --resume")
    assert interrupt_hint(Namespace(command="report", dir="x")) is None  # nothing to continue
    assert "finished runs are kept in sw" in interrupt_hint(Namespace(command="sweep", out="sw"))


def _children(pid: int) -> list[str]:
    try:
        return (__import__("pathlib").Path(f"/proc/{pid}/task/{pid}/children").read_text()).split()
    except OSError:
        return []


@pytest.mark.parametrize("when", ["after a finished run", "while the workers start"])
def test_ctrl_c_on_a_sweep_keeps_the_finished_runs_and_says_so(tmp_path, when):
    """Found by a new user: Ctrl-C on a sweep said "nothing was saved: no --run-dir" although the
    finished runs are kept, and the terminated workers left "leaked semaphore" warnings; a Ctrl-C
    while a worker still imported torch printed that worker's traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sw"
    p = subprocess.Popen([sys.executable, "-m", "spacenas", "sweep", "--space", "nb201", "--methods", "random,dsm",
                          "--datasets", "cifar10,cifar100,imagenet16-120", "--seeds", "100", "--budget", "100",
                          "--workers", "2", "--out", str(out), "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    if when == "after a finished run":
        while not list(out.glob("**/result.json")) and time.time() < deadline and p.poll() is None:
            time.sleep(0.2)
    else:  # the resource tracker and two workers exist; the workers are still starting
        while len(_children(p.pid)) < 3 and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        time.sleep(0.5)  # the workers are importing torch (about 1-2 s), before their initializer
    while p.poll() is None and time.time() < deadline:  # Ctrl-C, again if the first one was not heard
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert f"finished runs are kept in {out}" in err and "leaked" not in err and "Traceback" not in err, err
    if when == "after a finished run":
        assert list(out.glob("**/result.json"))


# ----- part 7: optional TensorBoard scalars ----------------------------------------------------------
def test_tensorboard_without_the_package_is_one_line(tmp_path, capsys):
    import importlib.util

    from spacenas.cli.main import main
    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    rc = main(_tiny_search(None, "--tensorboard", str(tmp_path / "tb")))
    err = capsys.readouterr().err
    assert rc == 2 and "needs the tensorboard package" in err and len(err.strip().splitlines()) == 1
    rc = main(["search", "--method", "random", "--tensorboard", str(tmp_path)])
    assert rc == 2 and "only for one-shot methods and train" in capsys.readouterr().err


def test_tensorboard_gets_per_epoch_scalars(tmp_path, monkeypatch, capsys):
    import sys
    import types

    from spacenas.cli.main import main
    logged: list[tuple[str, float, int]] = []

    class FakeWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            logged.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    assert main(_tiny_search(None, "--tensorboard", str(tmp_path / "tb"), "--no-progress")) == 0
    tags = {(t, s) for t, _, s in logged}
    assert {("train_loss", 1), ("train_loss", 2), ("valid_acc", 2), ("lr", 1)} <= tags
    logged.clear()
    assert main(["train", "--space", "nb201", "--arch", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|"
                 "skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "--data", "digits", "--epochs", "2", "--set", "C=4",
                 "--set", "N=1", "--no-progress", "--tensorboard", str(tmp_path / "tb2")]) == 0
    tags = {(t, s) for t, _, s in logged}
    assert {("train_loss", 1), ("train_loss", 2), ("train_acc", 2), ("test_acc", 2)} <= tags
    capsys.readouterr()


def test_chance_warning_hand_worked():
    """Near chance: below chance + 10 % of the way to 100 % (10 classes: 10 + 9 = 19 %; 2 classes: 55 %)."""
    from spacenas.train.job import chance_warning

    assert "near chance (10.0% for 10 classes) after 1 epoch:" in chance_warning(11.11, 10, 1)
    assert chance_warning(18.99, 10, 3) is not None and chance_warning(19.0, 10, 3) is None
    assert chance_warning(54.9, 2, 5) is not None and chance_warning(55.0, 2, 5) is None
    assert "after 2 epochs" in chance_warning(50.0, 2, 2)


def test_a_short_retraining_near_chance_says_so(capsys, tmp_path, monkeypatch):
    """Found by a new user: a 1-epoch retraining ended at chance accuracy without a word."""
    from spacenas.cli.main import main

    monkeypatch.chdir(tmp_path)  # the fresh run dir goes here

    rc = main(["train", "--arch", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
               "nor_conv_3x3~2|", "--space", "nb201", "--data", "digits", "--epochs", "1", "--set", "C=4", "--set", "N=1",
               "--set", "lr=0.0001", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0 and "is near chance (10.0% for 10 classes)" in err
    assert "train accuracy" in out


def test_training_a_discarded_arch_says_so(capsys, tmp_path, monkeypatch):
    """Found by a new user: `train --arch RUN` took an arch its method's rule had discarded (A-DARTS's
    skip rule) without a word. It is still used (as asked), with a warning naming the reason."""
    import json

    from spacenas.cli.main import main

    monkeypatch.chdir(tmp_path)
    small = ["--data", "digits", "--epochs", "1", "--set", "C=4", "--set", "N=1", "--no-progress"]
    assert main(["search", "--space", "nb201", "--method", "darts", *small, "--set", "max_steps=1",
                 "--run-dir", "d"]) == 0
    result = json.loads((tmp_path / "d" / "result.json").read_text())
    result["final"]["discarded"] = "no skip_connect in the normal cell (A-DARTS paper Sec. 4.1)"
    (tmp_path / "d" / "result.json").write_text(json.dumps(result))
    capsys.readouterr()
    assert main(["train", "--arch", "d", *small]) == 0
    assert "the method's rule discards the arch of d (no skip_connect in the normal cell" in capsys.readouterr().err
